"""A real webhook receiver for the tests of shopguard-notify.

Usage: webhook_receiver.py PORT SECRET LOG_FILE [tls]

With "tls" it speaks HTTPS, presenting tls/server.pem (localhost and 127.0.0.1, from the test
CA tls/ca.pem).

Checks every POST with the Standard Webhooks reference implementation (the `standardwebhooks`
package from PyPI, in the repository's .venv): 204 when Webhook(SECRET).verify(body, headers)
passes, 400 with the reason when it does not. Paths change the behaviour:

  /flaky  answers 503 to the first delivery of each webhook-id, then verifies as above;
  /slow   waits 3 seconds before answering (for timeouts).

Each request is appended to LOG_FILE as one JSON line (path, headers, body, status) before the
answer is sent. Prints "ready" once listening; runs until killed.
"""

import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

SECRET = sys.argv[2]
LOG = sys.argv[3]
LOCK = threading.Lock()
SEEN = set()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        headers = {key.lower(): value for key, value in self.headers.items()}
        webhook_id = headers.get("webhook-id")
        if self.path == "/slow":
            time.sleep(3)
        with LOCK:
            first = webhook_id not in SEEN
            SEEN.add(webhook_id)
        if self.path == "/flaky" and first:
            status, answer = 503, "busy, try again"
        else:
            try:
                Webhook(SECRET).verify(body, headers)
                status, answer = 204, ""
            except Exception as error:  # the reference's refusal, whatever its type
                status, answer = 400, f"signature refused: {error}"
        with LOCK, open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps({
                "path": self.path,
                "webhook_id": webhook_id,
                "webhook_timestamp": headers.get("webhook-timestamp"),
                "webhook_signature": headers.get("webhook-signature"),
                "content_type": headers.get("content-type"),
                "body": body.decode("utf-8"),
                "status": status,
            }, ensure_ascii=False) + "\n")
        self.send_response(status)
        data = answer.encode("utf-8")
        if data:
            self.send_header("content-type", "text/plain; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    if len(sys.argv) > 4 and sys.argv[4] == "tls":
        here = os.path.dirname(os.path.abspath(__file__))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(os.path.join(here, "tls", "server.pem"), os.path.join(here, "tls", "server.key"))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
