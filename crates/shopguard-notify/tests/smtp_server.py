"""A real SMTP server for the tests of shopguard-notify (aiosmtpd, from the repository's .venv).

Usage: smtp_server.py PORT OUT_DIR [plain|starttls|tls]

Listens on 127.0.0.1:PORT: in plain text (the default); or requiring STARTTLS before anything
else ("starttls"); or TLS from the first byte ("tls"). With TLS it presents tls/server.pem (a
certificate for localhost and 127.0.0.1 from the test CA tls/ca.pem) and requires a login,
accepted only as user "mailer" with password "s3cret-for-tests". It accepts
every message, except for recipients whose address starts with "unknown", refused with 550. Each accepted message is parsed
with Python's email package and written to OUT_DIR/N.json (envelope, decoded headers, text and
HTML parts, the raw message), then N.done is created, so a reader never sees half a file.
Prints "ready" once listening; runs until killed.
"""

import email
import email.policy
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HERE = os.path.dirname(os.path.abspath(__file__))
USER = b"mailer"
PASSWORD = b"s3cret-for-tests"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER and auth_data.password == PASSWORD
    # handled=False: let aiosmtpd answer the failure itself (535).
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


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
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
        }
        path = os.path.join(self.out_dir, f"{self.count}.json")
        with open(path, "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
        open(os.path.join(self.out_dir, f"{self.count}.done"), "w").close()
        return f"250 2.0.0 Ok: queued as test-{self.count}"


def main():
    port = int(sys.argv[1])
    out_dir = sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "plain"
    options = {}
    if mode in ("starttls", "tls"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(os.path.join(HERE, "tls", "server.pem"), os.path.join(HERE, "tls", "server.key"))
        options = {"authenticator": authenticate, "auth_required": True}
        if mode == "starttls":
            options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
        else:
            # aiosmtpd counts only STARTTLS as TLS when it decides whether to offer AUTH; this
            # connection is TLS from the first byte, so AUTH is offered without that check.
            options.update(ssl_context=context, auth_require_tls=False)
    controller = Controller(Recorder(out_dir), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
