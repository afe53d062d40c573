"""The fakes' shared server (tests/fakes/server.py): local only, no Nagle delay, a stop that does
not wait for a busy handler, and silence when a client hangs up mid-request."""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler

from tests.fakes.server import LocalServer


class _Echo(LocalServer):
    def __init__(self):
        self.release = threading.Event()
        self.nodelay: list[int] = []

    def handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.nodelay.append(self.request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                if self.path == "/slow":
                    fake.release.wait(10)
                if self.path == "/reset":
                    raise ConnectionResetError("the client went away")
                if self.path == "/boom":
                    raise ValueError("a defect of the fake")
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        return Handler


def test_it_serves_on_localhost_without_nagle_and_stops():
    with _Echo() as fake:
        assert fake.url.startswith("http://127.0.0.1:")
        assert urllib.request.urlopen(fake.url + "/", timeout=5).read() == b"ok"
        assert fake.nodelay == [1]
    assert fake._server is None


def test_stop_does_not_wait_for_a_busy_handler():
    fake = _Echo().start()
    s = socket.create_connection(("127.0.0.1", int(fake.url.rsplit(":", 1)[1])))
    s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    t0 = time.monotonic()
    fake.stop()
    assert time.monotonic() - t0 < 2
    fake.release.set()
    s.close()


def _hit(fake, path: str) -> None:
    s = socket.create_connection(("127.0.0.1", int(fake.url.rsplit(":", 1)[1])))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
    s.close()


def test_a_client_reset_is_not_reported_but_a_defect_is(capfd):
    with _Echo() as fake:
        _hit(fake, "/reset")
        assert "ConnectionResetError" not in capfd.readouterr().err
        _hit(fake, "/boom")
        assert "ValueError: a defect of the fake" in capfd.readouterr().err
