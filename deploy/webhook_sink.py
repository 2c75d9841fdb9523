#!/usr/bin/env python3
"""The local stack's webhook sink: answers 200 to every POST and appends its body, one JSON line
per notification, to the file named by WEBHOOK_SINK_FILE (default: standard output only).

    WEBHOOK_SINK_LISTEN=127.0.0.1:9094 WEBHOOK_SINK_FILE=received.jsonl python3 webhook_sink.py
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            line = json.dumps(json.loads(body), sort_keys=True)
        except ValueError:
            line = json.dumps({"unparsable": body.decode("utf-8", "replace")})
        print(line, flush=True)
        path = os.environ.get("WEBHOOK_SINK_FILE")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the body line above is the log


def main() -> int:
    host, _, port = os.environ.get("WEBHOOK_SINK_LISTEN", "0.0.0.0:9094").rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Sink)
    print(f"webhook sink listening on {host}:{port}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
