"""A function's CloudWatch log group, locally. What its handler prints reaches it through the
stdout stand-in of ``environment``, which knows the function a thread is running."""

from __future__ import annotations

import threading
from pathlib import Path


class FunctionLogSink:
    """The function's CloudWatch log group, locally: a file plus the lines in memory. Lines are
    assembled per thread (a logger may write a line in pieces) so that concurrent invocations
    never interleave inside a line."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._partial = threading.local()
        self.lines: list[str] = []
        self._file = path.open("a", encoding="utf-8") if path else None

    def write(self, text: str) -> None:
        buffered = getattr(self._partial, "text", "") + text
        *complete, self._partial.text = buffered.split("\n")
        if not complete:
            return
        with self._lock:
            for line in complete:
                if line:
                    self.lines.append(line)
                    if self._file:
                        self._file.write(line + "\n")
            if self._file:
                self._file.flush()

    def close(self) -> None:
        if self._file:
            self._file.close()
