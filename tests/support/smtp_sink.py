"""A real SMTP server on loopback for the mail tests: every message it accepts becomes one file.

Usage: python3 smtp_sink.py OUTPUT_DIR [PORT]

Listens on 127.0.0.1:PORT (0, the default, picks a free port), prints the port on stdout once it
accepts connections, and writes each message to OUTPUT_DIR/<n>.eml with the envelope recipients in a
first `X-Sink-Rcpt-To:` line. Runs until killed or until its standard input closes.
Needs aiosmtpd (`pip install aiosmtpd`, or Debian's python3-aiosmtpd).
"""

import asyncio
import os
import sys

from aiosmtpd.smtp import SMTP


class WriteToDirectory:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = os.path.join(self.directory, f"{os.getpid()}-{self.count}")
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        header = ("X-Sink-Rcpt-To: " + ", ".join(envelope.rcpt_tos) + "\r\n").encode("utf-8")
        # Written under a temporary name and renamed, so a reader never sees half a message.
        with open(name + ".tmp", "wb") as output:
            output.write(header + content)
        os.rename(name + ".tmp", name + ".eml")
        return "250 Message accepted for delivery"


async def main():
    directory = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    os.makedirs(directory, exist_ok=True)
    handler = WriteToDirectory(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, decode_data=False, enable_SMTPUTF8=True, hostname="sink.localhost"),
        "127.0.0.1",
        port,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    # The test that started us holds our stdin: when it goes away (even killed), so do we.
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
