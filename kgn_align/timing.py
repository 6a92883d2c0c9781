"""Wall seconds of a piece of work's stages: what a worker job and a load report about
where their time went."""

from __future__ import annotations

import time


def epoch_ms() -> int:
    """Now, in milliseconds since the epoch: the clock job leases and run timestamps are
    compared on (the same on every server: values travel as parameters)."""
    return int(time.time() * 1000)


class StageClock:
    """Wall seconds of a piece of work's stages, in order: ``lap(name)`` closes the stage
    since the last lap; :attr:`laps` goes into a job's result (what a slow job spent its
    time on) and a load's report."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now
