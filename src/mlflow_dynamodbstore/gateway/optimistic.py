"""Optimistic concurrency: one loop, one policy, for every read-modify-write of an item
that several servers may change at once.

The model is PynamoDB's ``VersionAttribute``: the item carries a number (``version``,
``rev``) that each write sets to the number read + 1, on condition that the item still
holds the number read. A writer whose condition fails has lost a race; it re-reads and
tries again. ``optimistic`` runs that loop::

    state = read(lost)    # lost: None at first, then the Conflict/ConditionFailed of the
                          # last try (its ``item`` is the current item when DynamoDB sent it)
    return write(state)   # build the change, write it conditionally; a lost race raises
                          # Conflict, or the gateway's ConditionFailed

Policy: at most ``attempts`` writes (DEFAULT_ATTEMPTS unless the caller says why not);
between two, a pause drawn with full jitter from [0, min(250 ms, 5 ms * 2**attempt)], so
writers that collided spread out instead of colliding again; no pause after the last. Then
Contention, which each caller turns into the MLflow error it documents. Any other error
(a domain error from ``read``/``write``, ItemTooLarge...) ends the loop at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from boto3.dynamodb.conditions import Attr, ConditionBase

from mlflow_dynamodbstore.gateway.errors import ConditionFailed, Conflict, Contention

DEFAULT_ATTEMPTS = 20

State = TypeVar("State")
Result = TypeVar("Result")
Lost = Conflict | ConditionFailed


def full_jitter(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): AWS's "Exponential Backoff And
    Jitter" (full jitter), shared with the gateway's batch retries."""
    return random.uniform(0, min(cap, base * 2**attempt))


@dataclass(frozen=True)
class Backoff:
    base: float = 0.005
    cap: float = 0.25

    def delay(self, attempt: int) -> float:
        return full_jitter(attempt, self.base, self.cap)


CONFLICT_BACKOFF = Backoff()


@dataclass(frozen=True)
class Version:
    """The version number of an item as read, and what a write of its successor needs."""

    attribute: str
    read: int | None

    @property
    def next(self) -> int:
        return (self.read or 0) + 1

    @property
    def condition(self) -> ConditionBase:
        """The item still holds the number read (never had one, if it had none)."""
        if self.read is None:
            return Attr(self.attribute).not_exists()
        return Attr(self.attribute).eq(self.read)


def version_of(item: dict, attribute: str = "version") -> Version:
    value = item.get(attribute)
    return Version(attribute, None if value is None else int(value))


def optimistic(
    read: Callable[[Lost | None], State],
    write: Callable[[State], Result],
    *,
    what: str,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: Backoff = CONFLICT_BACKOFF,
    sleep: Callable[[float], None] | None = None,
) -> Result:
    """``write(read(lost))`` until a write wins; Contention(what) after ``attempts`` lost."""
    pause = sleep or time.sleep
    lost: Lost | None = None
    for attempt in range(attempts):
        state = read(lost)
        try:
            return write(state)
        except (Conflict, ConditionFailed) as exc:
            lost = exc
        if attempt + 1 < attempts:
            pause(backoff.delay(attempt))
    raise Contention(what, attempts)
