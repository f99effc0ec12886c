"""The vendor's HTTP server: http.server's threaded server with HTTP/1.1 keep-alive, bounded
bodies, a real endpoint's listen backlog and a stop that cuts every connection, so that once
``FakeVendor.stop`` returns nothing answers for the vendor any more."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

from fake_vendor.wire import MAX_BODY_BYTES, Reply, Request, error, new_id

logger = logging.getLogger(__name__)


class VendorHTTPServer(ThreadingHTTPServer):
    # Handler threads are daemons so a forgotten stop() never blocks interpreter exit, and they are
    # tracked here so stop() can still join them: once it returns, nothing touches the vendor.
    daemon_threads = True
    # http.server listens with a backlog of 5: a burst of callers overflowed it and their
    # connections came a second later (TCP's SYN retry), which a client with a sub-second connect
    # timeout takes for an outage. A SaaS endpoint's backlog is the system's maximum.
    request_queue_size = socket.SOMAXCONN

    def __init__(
        self,
        address: tuple[str, int],
        handle: Callable[[Request], Reply],
        stopping: threading.Event,
    ) -> None:
        self.answer = handle
        self.stopping = stopping
        # Socket and thread bookkeeping for shutdown only; the vendor's state has its own lock.
        self._bookkeeping_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._closing = False
        super().__init__(address, _VendorRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fake-vendor-handler-{client_address[1]}",
            daemon=True,
        )
        with self._bookkeeping_lock:
            self._handler_threads.add(thread)
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._bookkeeping_lock:
                self._handler_threads.discard(threading.current_thread())

    def track(self, connection: socket.socket) -> bool:
        """Register a live connection; False if the server is already closing it down."""
        with self._bookkeeping_lock:
            if self._closing:
                return False
            self._connections.add(connection)
            return True

    def untrack(self, connection: socket.socket) -> None:
        with self._bookkeeping_lock:
            self._connections.discard(connection)

    def close_connections(self, timeout: float) -> None:
        """Cut every live connection, then wait (bounded) for the handler threads to finish."""
        with self._bookkeeping_lock:
            self._closing = True
            connections = list(self._connections)
        for connection in connections:
            # OSError: the peer already closed it.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        with self._bookkeeping_lock:
            threads = list(self._handler_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [thread.name for thread in threads if thread.is_alive()]
        if stuck:
            logger.warning("fake vendor handler threads still running after stop: %s", stuck)

    def handleerror(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr by default; route them through logging instead.
        logger.debug("fake vendor connection error from %s", client_address, exc_info=True)


class _VendorRequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive, like the real SaaS behind a load balancer: the mediator's pooled
    # connections get exercised the same way as in AWS.
    protocol_version = "HTTP/1.1"
    server_version = "fake-loyalty-vendor/1.0"
    # Socket timeout for reads: an idle keep-alive connection or a client that never finishes its
    # body cannot pin a handler thread forever.
    timeout = 10.0
    # Buffer the status line, headers and body and flush them as one write, and disable Nagle:
    # separate small writes meet the client's delayed ACK and add ~40 ms to every answer.
    wbufsize = -1
    disable_nagle_algorithm = True

    @property
    def _vendor_server(self) -> VendorHTTPServer:
        return cast(VendorHTTPServer, self.server)

    def setup(self) -> None:
        super().setup()
        self._tracked = self._vendor_server.track(self.connection)
        if not self._tracked:
            self.close_connection = True

    def handle(self) -> None:
        if self._tracked:
            super().handle()

    def finish(self) -> None:
        self._vendor_server.untrack(self.connection)
        # OSError: the peer went away, so there is nothing left to flush.
        with contextlib.suppress(OSError):
            super().finish()

    def version_string(self) -> str:
        # The default appends the Python version, which the real vendor would not disclose.
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # BaseHTTPRequestHandler writes every request to stderr; keep it at DEBUG in our logger.
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body, framing_error = self._read_body()
        request = Request(
            method=self.command,
            path=urlsplit(self.path).path,
            api_key=self.headers.get("x-api-key"),
            idempotency_key=self.headers.get("Idempotency-Key"),
            body=body,
            framing_error=framing_error,
        )
        server = self._vendor_server
        reply = server.answer(request)
        if reply.delay_seconds > 0 and server.stopping.wait(reply.delay_seconds):
            # Stopped while sleeping: the connection is being torn down, do not answer.
            self.close_connection = True
            return
        self._write(reply)

    def _read_body(self) -> tuple[bytes, Reply | None]:
        if self.headers.get("Transfer-Encoding"):
            # http.server does not decode chunked bodies; reading on would desync the connection.
            self.close_connection = True
            return b"", error(411, "length_required", "send the body with a Content-Length")
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b"", None
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return b"", error(400, "invalid_request", "Content-Length must be an integer >= 0")
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return b"", error(
                413, "request_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes"
            )
        return self.rfile.read(length), None

    def _write(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status, HTTPStatus(reply.status).phrase)
            self.send_header("X-Request-Id", new_id("req"))
            for name, value in reply.headers:
                self.send_header(name, value)
            if reply.status != 204:
                if reply.content_type is not None:
                    self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if reply.body and reply.status != 204:
                self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:
            # Typically a client that gave up (read timeout) before a hung response was sent.
            logger.debug("client went away before the answer was written", exc_info=True)
            self.close_connection = True
