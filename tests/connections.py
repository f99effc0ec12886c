"""A burst of simultaneous TCP connections, to show a local server's listen backlog is a real
server's: http.server's default of 5 drops a burst's connections, whose clients try again a second
later (TCP's first SYN retry), past any sub-second connect timeout."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

SYN_RETRY_SECONDS = 1.0
"""When Linux first retransmits an unanswered SYN: a connection slower than this was dropped."""


def connect_burst(url: str, clients: int = 100) -> list[float]:
    """Seconds each of ``clients`` simultaneous connections to ``url``'s host took to open."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    start = threading.Barrier(clients)
    took: list[float] = []
    lock = threading.Lock()

    def connect() -> None:
        start.wait()
        began = time.monotonic()
        with socket.create_connection(address, timeout=5):
            elapsed = time.monotonic() - began
        with lock:
            took.append(elapsed)

    threads = [threading.Thread(target=connect) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return took
