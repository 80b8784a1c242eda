"""Local receivers for notification tests: a real SMTP server (aiosmtpd) and an HTTP receiver (http.server)."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Collect(Message):
        def __init__(self):
            super().__init__()
            self.messages = []

        def handle_message(self, message):
            self.messages.append(message)

    import socket

    with socket.socket() as probe:  # a free port (aiosmtpd's start-up check cannot connect to port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Collect()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        handler.port = port
        yield handler
    finally:
        ctl.stop()


@contextmanager
def http_receiver(fail_first: int = 0, status: int = 500):
    """Collects POSTs as (path, headers, json body); answers `status` to the first `fail_first` requests."""
    got: list[tuple[str, dict, dict]] = []
    state = {"left": fail_first}

    class H(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if state["left"] > 0:
                state["left"] -= 1
                self.send_response(status)
                self.end_headers()
                return
            got.append((self.path, dict(self.headers), json.loads(body), body))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}')

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        srv.got = got
        srv.url = f"http://127.0.0.1:{srv.server_port}"
        srv.state = state
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
