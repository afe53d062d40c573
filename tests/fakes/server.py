"""What every wire-level fake shares: a threaded HTTP server on 127.0.0.1 (a random port) that
never blocks its stop on a handler still talking, answers without Nagle's delay, and says
nothing when a client hangs up mid-request.

    class FakeVenue(LocalServer):
        def handler(self):                  # the request handler class, bound to this fake
            ...

    with FakeVenue() as venue:
        client = Client(base_url=venue.url)
"""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a handler (a long poll, an injected delay)

    def get_request(self):
        conn, addr = super().get_request()
        # Headers and body go out in two writes; without this, Nagle and delayed ACKs add 40 ms.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def handle_error(self, request, client_address) -> None:
        # A client killed or timed out mid-request (the soak's SIGKILLs, a client timeout)
        # resets its connection: not an error of the fake.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LocalServer:
    """Start/stop (or ``with``) a ``QuietServer`` serving ``self.handler()``; ``url`` is its
    address while it runs."""

    _server: QuietServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> Self:
        self._server = QuietServer(("127.0.0.1", 0), self.handler())
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name=f"{type(self).__name__}-server", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"
