"""A loopback stand-in for OpenClaw's /hooks/agent inside the appliance container: checks the
hooks token, answers like OpenClaw 2026.9.6 with waitForCompletion (one run per new key),
and appends every request to /srv/results/gateway.log."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = open("/srv/results/hooks-token").read().strip()
RUNS = {}


class Gateway(BaseHTTPRequestHandler):
    def _reply(self, status, body, content_type="application/json; charset=utf-8"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path in ("/readyz", "/ready"):
            self._reply(200, {"ready": True, "failing": []})
        else:
            self._reply(404, "Not Found", "text/plain; charset=utf-8")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        key = self.headers.get("Idempotency-Key", "")
        with open("/srv/results/gateway.log", "a") as log:
            log.write(json.dumps({"path": self.path, "key": key, "body": body.decode()}) + "\n")
        if self.path != "/hooks/agent":
            return self._reply(404, "Not Found", "text/plain; charset=utf-8")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._reply(401, "Unauthorized", "text/plain; charset=utf-8")
        run_id = RUNS.setdefault(key, f"run-{len(RUNS) + 1}")
        self._reply(200, {"ok": True, "runId": run_id,
                          "completion": {"status": "ok", "replyDisposition": "visible"}})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Gateway).serve_forever()
