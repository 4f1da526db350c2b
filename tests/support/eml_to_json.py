"""Reads .eml files with Python's standard email parser and prints what the mail tests check, as JSON.

Usage: python3 eml_to_json.py FILE...

An independent reader: if it decodes the subject, recipients and both bodies as the server meant
them, any mail client will. Prints a JSON list, one object per file, in the order given.
"""

import email
import email.policy
import json
import sys


def describe(path):
    with open(path, "rb") as source:
        message = email.message_from_binary_file(source, policy=email.policy.default)
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        "path": path,
        "envelope_to": message.get("X-Sink-Rcpt-To"),
        "from": str(message.get("From")),
        "to": str(message.get("To")),
        "subject": str(message.get("Subject")),
        "message_id": str(message.get("Message-ID")),
        "content_type": message.get_content_type(),
        "text": plain.get_content() if plain is not None else None,
        "html": html.get_content() if html is not None else None,
        "defects": [str(defect) for defect in message.defects],
    }


if __name__ == "__main__":
    print(json.dumps([describe(path) for path in sys.argv[1:]]))
