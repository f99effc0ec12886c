"""The vendor's HTTP server: a WSGI app (werkzeug's ``Request`` and ``Response``) on werkzeug's
threaded server, with bounded bodies, a real endpoint's listen backlog and a stop that cuts every
connection, so that once ``FakeVendor.stop`` returns nothing answers for the vendor any more.

werkzeug's server answers one request per connection (``Connection: close``): a client's pool
opens a connection for each call, so the vendor has no idle keep-alive connections to cut."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from fake_vendor.wire import MAX_BODY_BYTES, Reply, error, new_id
from fake_vendor.wire import Request as VendorRequest

logger = logging.getLogger(__name__)

SERVER_VERSION = "fake-loyalty-vendor/1.0"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class VendorHTTPServer(ThreadedWSGIServer):
    # werkzeug listens with a backlog of 128 (http.server's was 5, and a burst of callers
    # overflowed it: their connections came a second later, TCP's SYN retry, which a client with
    # a sub-second connect timeout takes for an outage). A SaaS endpoint's is the system's maximum.
    request_queue_size = socket.SOMAXCONN

    def __init__(
        self,
        address: tuple[str, int],
        handle: Callable[[VendorRequest], Reply],
        stopping: threading.Event,
    ) -> None:
        self.answer = handle
        self.stopping = stopping
        # Socket and thread bookkeeping for shutdown only; the vendor's state has its own lock.
        self._bookkeeping_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._closing = False
        host, port = address
        super().__init__(host, port, self.wsgi_app, handler=_VendorRequestHandler)

    def wsgi_app(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        reply = self.answer(_vendor_request(Request(environ)))
        if reply.delay_seconds > 0 and self.stopping.wait(reply.delay_seconds):
            # Stopped while holding the answer: stop() is cutting this connection, so no answer.
            # werkzeug's server takes a ConnectionError from the app for a dropped connection and
            # closes it without writing anything (WSGIRequestHandler.connection_dropped).
            raise ConnectionAbortedError("the fake vendor stopped before answering")
        return _response(reply)(environ, start_response)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Handler threads are daemons so a forgotten stop() never blocks interpreter exit, and
        # they are tracked here so stop() can still join them: once it returns, nothing touches
        # the vendor.
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

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr by default; route them through logging instead.
        logger.debug("fake vendor connection error from %s", client_address, exc_info=True)

    def log(self, type: str, message: str, *args: Any) -> None:
        # werkzeug logs an app's crash on its own logger (to stderr); the vendor logs its own.
        logger.debug("werkzeug %s: %s", type, message % args if args else message)


def _vendor_request(request: Request) -> VendorRequest:
    body, framing_error = _read_body(request)
    return VendorRequest(
        method=request.method,
        # The path as sent, still escaped: a path parameter may hold an escaped "/" (routes.py).
        path=urlsplit(request.environ["RAW_URI"]).path,
        api_key=request.headers.get("x-api-key"),
        idempotency_key=request.headers.get("Idempotency-Key"),
        body=body,
        framing_error=framing_error,
    )


def _read_body(request: Request) -> tuple[bytes, Reply | None]:
    # The raw header values: werkzeug reads a malformed Content-Length as 0, and the vendor
    # refuses it instead of guessing.
    if request.environ.get("HTTP_TRANSFER_ENCODING"):
        return b"", error(411, "length_required", "send the body with a Content-Length")
    raw_length = request.environ.get("CONTENT_LENGTH")
    if raw_length is None:
        return b"", None
    try:
        length = int(raw_length)
    except ValueError:
        length = -1
    if length < 0:
        return b"", error(400, "invalid_request", "Content-Length must be an integer >= 0")
    if length > MAX_BODY_BYTES:
        return b"", error(413, "request_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes")
    try:
        return request.get_data(cache=False), None
    except ClientDisconnected:
        # The client left before sending its whole body: nobody is there to answer.
        raise ConnectionAbortedError("the client left before sending its body") from None


class _Response(Response):
    # No Content-Type unless the reply has one (a 204 has none).
    default_mimetype = None


def _response(reply: Reply) -> Response:
    headers = Headers([("X-Request-Id", new_id("req")), *reply.headers])
    if reply.status != 204 and reply.content_type is not None:
        headers.add("Content-Type", reply.content_type)
    # Response counts the body into Content-Length, and drops both for a 204.
    response = _Response(reply.body, headers=headers)
    # With a number werkzeug would write its own upper-cased reason phrase ("404 NOT FOUND").
    response.status = f"{reply.status} {HTTPStatus(reply.status).phrase}"
    return response


class _VendorRequestHandler(WSGIRequestHandler):
    server: VendorHTTPServer
    protocol_version = "HTTP/1.1"
    # Socket timeout for reads: a client that never finishes its request or body cannot pin a
    # handler thread forever.
    timeout = 10.0
    # Buffer the status line, headers and body and flush them as one write, and disable Nagle:
    # separate small writes meet the client's delayed ACK and add ~40 ms to every answer.
    wbufsize = -1
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self._tracked = self.server.track(self.connection)
        if not self._tracked:
            self.close_connection = True

    def handle(self) -> None:
        if self._tracked:
            super().handle()

    def finish(self) -> None:
        self.server.untrack(self.connection)
        # OSError: the peer went away, so there is nothing left to flush.
        with contextlib.suppress(OSError):
            super().finish()

    def run_wsgi(self) -> None:
        if self.command not in _METHODS:
            # werkzeug passes every method to the app; the vendor's API has none but these, and
            # answers the others as http.server does a method it has no handler for.
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
            return
        super().run_wsgi()

    def connection_dropped(
        self, error: BaseException, environ: dict[str, Any] | None = None
    ) -> None:
        self.close_connection = True

    def version_string(self) -> str:
        # The default names werkzeug and the Python version, which the real vendor would not.
        return SERVER_VERSION

    def log(self, type: str, message: str, *args: Any) -> None:
        # werkzeug logs every request (and http.server's errors) at INFO on stderr; keep them
        # at DEBUG in our logger.
        logger.debug("%s - %s", self.address_string(), message % args if args else message)
