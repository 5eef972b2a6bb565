"""A real SMTP server for the tests of shopguard-notify (aiosmtpd, from the repository's .venv).

Usage: smtp_server.py PORT OUT_DIR

Listens on 127.0.0.1:PORT without TLS and accepts every message, except for recipients whose
address starts with "unknown", which it refuses with 550. Each accepted message is parsed
with Python's email package and written to OUT_DIR/N.json (envelope, decoded headers, text and
HTML parts, the raw message), then N.done is created, so a reader never sees half a file.
Prints "ready" once listening; runs until killed.
"""

import email
import email.policy
import json
import os
import sys
import time

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("unknown"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "from": str(message["from"]),
            "to": str(message["to"]),
            "cc": str(message["cc"]) if message["cc"] else None,
            "message_id": str(message["message-id"]),
            "date": str(message["date"]),
            "content_type": message.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "raw": envelope.original_content.decode("ascii", "replace"),
        }
        path = os.path.join(self.out_dir, f"{self.count}.json")
        with open(path, "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
        open(os.path.join(self.out_dir, f"{self.count}.done"), "w").close()
        return f"250 2.0.0 Ok: queued as test-{self.count}"


def main():
    port = int(sys.argv[1])
    out_dir = sys.argv[2]
    controller = Controller(Recorder(out_dir), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
