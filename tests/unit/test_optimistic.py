"""The optimistic-concurrency loop every read-modify-write uses (gateway/optimistic.py)."""

from __future__ import annotations

import pytest
from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.gateway.errors import ConditionFailed, Conflict, Contention
from mlflow_dynamodbstore.gateway.optimistic import (
    CONFLICT_BACKOFF,
    DEFAULT_ATTEMPTS,
    optimistic,
    version_of,
)


def test_lost_races_reread_and_retry_until_a_write_wins():
    seen, sleeps = [], []
    outcomes = [ConditionFailed(item={"v": 2}), Conflict({"v": 3}), Conflict()]

    def read(lost):
        seen.append(None if lost is None else lost.item)
        return len(seen)

    def write(state):
        if outcomes:
            raise outcomes.pop(0)
        return f"written at {state}"

    assert optimistic(read, write, what="x", sleep=sleeps.append) == "written at 4"
    assert seen == [None, {"v": 2}, {"v": 3}, None]
    assert len(sleeps) == 3
    assert all(
        0 <= s <= min(CONFLICT_BACKOFF.cap, CONFLICT_BACKOFF.base * 2**i)
        for i, s in enumerate(sleeps)
    )


def test_contention_after_the_last_attempt_without_a_last_pause():
    sleeps, writes = [], []

    def write(_state):
        writes.append(1)
        raise Conflict()

    with pytest.raises(Contention) as info:
        optimistic(lambda _lost: None, write, what="run r1", attempts=4, sleep=sleeps.append)
    assert len(writes) == 4 and len(sleeps) == 3
    assert info.value.attempts == 4 and "run r1" in str(info.value)
    with pytest.raises(Contention) as info:
        optimistic(lambda _lost: None, write, what="y", sleep=lambda _s: None)
    assert info.value.attempts == DEFAULT_ATTEMPTS


def test_other_errors_end_the_loop_at_once():
    calls = []

    def write(_state):
        calls.append(1)
        raise KeyError("domain error")

    with pytest.raises(KeyError):
        optimistic(lambda _lost: None, write, what="z", sleep=lambda _s: None)
    assert calls == [1]


def test_version_of_is_pynamodb_version_attribute():
    read = version_of({"version": 4})
    assert read.next == 5
    assert read.condition == Attr("version").eq(4)
    fresh = version_of({}, "rev")
    assert fresh.next == 1
    assert fresh.condition == Attr("rev").not_exists()
