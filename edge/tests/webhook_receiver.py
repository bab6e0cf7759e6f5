"""A partner's webhook receiver for the tests: verifies every delivery with the stock
`standardwebhooks` library and prints one JSON line per verified message on stdout.

Usage: webhook_receiver.py PORT SECRET_FILE
Listens on 127.0.0.1:PORT (0: any; the port is printed first as `listening PORT`). The secret
(`whsec_…`) is read from SECRET_FILE at each request, so the test can register the endpoint
after the receiver is up. A delivery that does not verify gets 400 and a `bad` line.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

SECRET_FILE = sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            with open(SECRET_FILE) as f:
                secret = f.read().strip()
            payload = Webhook(secret).verify(body, headers)
        except Exception as e:  # noqa: BLE001 - any failure to verify is a refusal
            print(json.dumps({"bad": str(e)}), flush=True)
            self.send_response(400)
            self.end_headers()
            return
        print(
            json.dumps(
                {
                    "id": headers["webhook-id"],
                    "type": payload["type"],
                    "room": payload["room"],
                    "seq": payload["seq"],
                    "data": payload["data"],
                    "signatures": len(headers["webhook-signature"].split(" ")),
                }
            ),
            flush=True,
        )
        self.send_response(204)
        self.end_headers()


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
