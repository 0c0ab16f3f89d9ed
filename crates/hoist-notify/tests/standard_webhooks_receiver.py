"""A webhook receiver that checks each request with the Standard Webhooks reference library
(PyPI `standardwebhooks`), for hoist-notify's interoperability tests.

    python standard_webhooks_receiver.py SECRET FIRST_PORT LAST_PORT [FAIL_FIRST]

Listens on 127.0.0.1 on the first free port of FIRST_PORT..=LAST_PORT and prints
`{"listening": PORT}`. Then, for each POST, it calls `Webhook(SECRET).verify(body,
headers)` and prints one JSON line: the headers it saw, the body (base64), and whether the
library accepted the request (and why not). It answers 401 to a request the library
refuses, 503 to the first FAIL_FIRST requests it accepts (to make hoist retry), and 204
to the others. It stops when its standard input closes, so it cannot outlive the test.
"""

import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

SECRET, FIRST_PORT, LAST_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
FAIL_FIRST = int(sys.argv[4]) if len(sys.argv) > 4 else 0
webhook = Webhook(SECRET)
lock = threading.Lock()
accepted = 0


def emit(record):
    with lock:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global accepted
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        record = {
            "path": self.path,
            "headers": headers,
            "body": base64.b64encode(body).decode(),
        }
        try:
            payload = webhook.verify(body, headers)
            record["verified"] = True
            record["kind"] = payload.get("kind")
        except Exception as error:  # the library's WebhookVerificationError, or worse
            record["verified"] = False
            record["error"] = f"{type(error).__name__}: {error}"
        if record["verified"]:
            with lock:
                accepted += 1
                retry = accepted <= FAIL_FIRST
            status = 503 if retry else 204
        else:
            status = 401
        record["status"] = status
        emit(record)
        answer = b"" if status == 204 else (record.get("error") or "try again").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    server = None
    for port in range(FIRST_PORT, LAST_PORT + 1):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
        except OSError:
            continue
    if server is None:
        print(json.dumps({"error": f"no free port in {FIRST_PORT}..={LAST_PORT}"}), flush=True)
        sys.exit(1)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    emit({"listening": server.server_address[1]})
    sys.stdin.read()
    server.shutdown()


main()
