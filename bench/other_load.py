"""CPU accounting for `bench.throughput`'s phases: what other processes used meanwhile."""

from __future__ import annotations

import os
import time


class OtherLoad:
    """CPU used by other processes while the benchmark ran (from /proc/stat, Linux only): the
    figures are only this machine's ceiling if nothing else competed for its cores."""

    def __init__(self) -> None:
        self._busy_start = self._busy()
        self._own_start = time.process_time()
        self._started = time.monotonic()

    @staticmethod
    def _busy() -> float | None:
        try:
            with open("/proc/stat") as stat:  # noqa: PTH123 - a procfs read
                fields = [int(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + fields[4]  # idle + iowait
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def cores(self) -> float | None:
        """Cores' worth of CPU used by other processes, on average."""
        busy = self._busy()
        if busy is None or self._busy_start is None:
            return None
        others = (busy - self._busy_start) - (time.process_time() - self._own_start)
        return max(0.0, others) / max(1e-9, time.monotonic() - self._started)
