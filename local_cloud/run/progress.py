"""Progress of a batch of orders, for the run command and the benches: a tqdm bar redrawn in
place on a terminal; elsewhere (a CI log, a pipe) one plain line every ``every`` seconds, so a
long run is never silent and a log is not flooded."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


class OrderProgress:
    def __init__(
        self,
        total: int,
        *,
        label: str = "orders",
        verb: str = "ended",
        stream: TextIO | None = None,
        terminal: bool | None = None,
        every: float = 10.0,
    ) -> None:
        self.total = total
        self.label = label
        self.verb = verb
        self._stream = stream or sys.stdout
        on_terminal = self._stream.isatty() if terminal is None else terminal
        self._bar = (
            tqdm(
                total=total,
                desc=f"  {label}",
                unit="order",
                file=self._stream,
                dynamic_ncols=True,
                leave=False,
                # tqdm renders the postfix as ", <detail>".
                bar_format=f"{{desc}} [{{bar:30}}] {{n}}/{{total}} {verb}{{postfix}}  {{elapsed}}",
            )
            if on_terminal
            else None
        )
        self._every = every
        self._started = time.monotonic()
        self._next_line = self._started + every
        self._last: tuple[int, str] | None = None

    def show(self, done: int, detail: str = "") -> None:
        """``done`` of ``total`` ended; ``detail`` says the rest (statuses, orders running)."""
        if self._bar is not None:
            if self._last != (done, detail):
                self._bar.n = done
                self._bar.set_postfix_str(detail, refresh=False)
                self._bar.refresh()
        elif time.monotonic() >= self._next_line:
            elapsed = time.monotonic() - self._started
            self._stream.write(
                f"  {self.label}: {done}/{self.total} {self.verb}, {detail}  {elapsed:.0f}s\n"
            )
            self._stream.flush()
            self._next_line = time.monotonic() + self._every
        self._last = (done, detail)

    def clear(self) -> None:
        """Erase the bar so a line can be printed in its place (it is redrawn on the next show)."""
        if self._bar is not None:
            self._bar.clear()
            self._last = None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
