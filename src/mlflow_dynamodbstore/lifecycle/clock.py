"""The lifecycle jobs' clock (epoch seconds). Jobs take a ``clock`` argument; without one
they call ``system_clock`` through this module, so a test can replace it for a whole CLI
invocation."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()


def resolve(clock: Clock | None) -> Clock:
    return clock if clock is not None else (lambda: system_clock())
