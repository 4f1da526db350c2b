"""A real SMTP server on loopback for the mail tests: every message it accepts becomes one file.

Usage: python3 smtp_sink.py OUTPUT_DIR [PORT] [--data-delay SECONDS] [--hold-data] [--refuse-rcpt TEXT]

Listens on 127.0.0.1:PORT (0, the default, picks a free port), prints the port on stdout once it
accepts connections, and writes each message to OUTPUT_DIR/<n>.eml with the envelope recipients in a
first `X-Sink-Rcpt-To:` line, just before answering `250` to the end of DATA. Runs until killed or until
its standard input closes.

A slow or stuck server, for the delivery tests:
- `--data-delay SECONDS` waits that long before answering the end of DATA;
- `--hold-data` prints `held <n>` on stdout when the end of DATA of the n-th message arrived, then waits for
  a line `release` on stdin before accepting it;
- `--refuse-rcpt TEXT` refuses for good (`550`) every recipient containing TEXT.

Needs aiosmtpd (`pip install aiosmtpd`, or Debian's python3-aiosmtpd).
"""

import argparse
import asyncio
import os
import sys
import threading

from aiosmtpd.smtp import SMTP


class WriteToDirectory:
    def __init__(self, directory, data_delay, releases, refuse_rcpt):
        self.directory = directory
        self.refuse_rcpt = refuse_rcpt
        self.data_delay = data_delay
        # None unless --hold-data: one item per `release` line.
        self.releases = releases
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt and self.refuse_rcpt in address:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        number = self.count
        if self.releases is not None:
            print(f"held {number}", flush=True)
            await self.releases.get()
        if self.data_delay > 0:
            await asyncio.sleep(self.data_delay)
        name = os.path.join(self.directory, f"{os.getpid()}-{number}")
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        header = ("X-Sink-Rcpt-To: " + ", ".join(envelope.rcpt_tos) + "\r\n").encode("utf-8")
        # Written under a temporary name and renamed, so a reader never sees half a message.
        with open(name + ".tmp", "wb") as output:
            output.write(header + content)
        os.rename(name + ".tmp", name + ".eml")
        return "250 Message accepted for delivery"


def read_stdin(loop, releases, stopped):
    """Feeds `release` lines to the held messages; the end of stdin stops the sink."""
    for line in sys.stdin:
        if line.strip() == "release" and releases is not None:
            loop.call_soon_threadsafe(releases.put_nowait, True)
    loop.call_soon_threadsafe(stopped.set)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("port", nargs="?", type=int, default=0)
    parser.add_argument("--data-delay", type=float, default=0.0)
    parser.add_argument("--hold-data", action="store_true")
    parser.add_argument("--refuse-rcpt", default=None)
    args = parser.parse_args()
    os.makedirs(args.directory, exist_ok=True)
    loop = asyncio.get_running_loop()
    releases = asyncio.Queue() if args.hold_data else None
    handler = WriteToDirectory(args.directory, args.data_delay, releases, args.refuse_rcpt)
    server = await loop.create_server(
        lambda: SMTP(handler, decode_data=False, enable_SMTPUTF8=True, hostname="sink.localhost"),
        "127.0.0.1",
        args.port,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    # The test that started us holds our stdin: when it goes away (even killed), so do we.
    stopped = asyncio.Event()
    threading.Thread(target=read_stdin, args=(loop, releases, stopped), daemon=True).start()
    await stopped.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
