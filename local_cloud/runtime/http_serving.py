"""The local API Gateway's HTTP server: a WSGI app on werkzeug's threaded server, listening as a
real endpoint does (the system's maximum backlog), quiet (its logs at DEBUG in ours), and with
the request's headers as the client sent them.

werkzeug's server answers one request per connection (``Connection: close``)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Response

LOG = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

RAW_HEADERS = "local_cloud.raw_headers"
"""The environ key of the request's headers as sent: a dict by name, spelled as the client did."""
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class LocalHTTPServer(ThreadedWSGIServer):
    # API Gateway takes a burst of clients. werkzeug listens with a backlog of 128 (http.server's
    # 5 dropped part of a burst, whose clients came back a second later): the system's maximum.
    request_queue_size = socket.SOMAXCONN

    def __init__(self, host: str, app: WSGIApp, port: int = 0) -> None:
        super().__init__(host, port, app, handler=_RequestHandler)

    def log(self, type: str, message: str, *args: Any) -> None:
        # werkzeug's own logger would print on stderr; a crash of the app is still an error.
        text = message % args if args else message
        (LOG.error if type == "error" else LOG.debug)("local api: %s", text)


class _RequestHandler(WSGIRequestHandler):
    def run_wsgi(self) -> None:
        if self.command not in _METHODS:
            # werkzeug passes every method to the app; http.server's handler, which this one
            # replaces, had these only and answered the others 501.
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
            return
        super().run_wsgi()

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        # API Gateway hands the function each header as the client spelled it (and checks the
        # signature over them); WSGI keeps only HTTP_UPPER_CASE keys and drops names with "_".
        environ[RAW_HEADERS] = dict(self.headers.items())
        return environ

    def log(self, type: str, message: str, *args: Any) -> None:
        # werkzeug logs every request at INFO on stderr.
        LOG.debug("local api: %s", message % args if args else message)


class _Response(Response):
    # No Content-Type but the one the answer names.
    default_mimetype = None


def response(status: int, headers: dict[str, str], payload: bytes) -> Response:
    """The answer as written: these headers (Content-Length counted), no others of the app's."""
    answer = _Response(payload, headers=list(headers.items()))
    # Given a number, werkzeug writes its own upper-cased reason phrase ("404 NOT FOUND").
    try:
        answer.status = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        answer.status = status
    return answer
