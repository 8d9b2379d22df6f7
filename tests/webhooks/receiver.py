#!/usr/bin/env python3
"""A webhook receiver for edld's notification tests.

Verifies every delivery with Standard Webhooks' reference library (PyPI
`standardwebhooks`), independently of edld's own signing code, and appends one JSON line
per request to the log: the webhook id, the event, whether the signature verified, what
was answered, and when. It misbehaves on request: `--fail-every N` answers 500 to every
Nth request, `--stall-every M --stall SECONDS` waits past the sender's timeout before
answering every Mth. HTTPS with `--cert`/`--key`, plain HTTP otherwise. Prints its port
on the first line of standard output once it listens.
"""

import argparse
import http.server
import json
import ssl
import sys
import threading
import time

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--stall-every", type=int, default=0)
    parser.add_argument("--stall", type=float, default=0.0)
    args = parser.parse_args()

    with open(args.secret_file, encoding="ascii") as f:
        webhook = Webhook(f.read().strip())
    lock = threading.Lock()
    count = [0]
    log = open(args.log, "a", encoding="utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (the http.server convention)
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            with lock:
                count[0] += 1
                n = count[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = webhook.verify(body, headers)
                verified = True
            except WebhookVerificationError as e:
                payload = {"error": str(e)}
                verified = False
            status = 204
            if not verified:
                status = 401
            elif args.fail_every and n % args.fail_every == 0:
                status = 500
            stalled = bool(args.stall_every and n % args.stall_every == 0)
            if stalled:
                time.sleep(args.stall)
            record = {
                "n": n,
                "id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
                "verified": verified,
                "status": status,
                "stalled": stalled,
                "received": time.time(),
                "event": payload,
            }
            with lock:
                log.write(json.dumps(record, ensure_ascii=False) + "\n")
                log.flush()
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up waiting (a stall): it retries

        def log_message(self, *_: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a sender that gave up on a stalled answer closed the connection

    server = Server(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
