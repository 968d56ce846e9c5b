"""Sort-key ranges that narrow the index walks of search_runs.

Two sources narrow a walk: the page cursor (resume where the last page ended) and filter
clauses on the very column the index is sorted by (``attributes.start_time`` for GSI1, the
ordered metric for GSI2). Ranges are inclusive and only ever *wider* than the exact
condition: the exact comparison is still made in memory, so a bound never changes results,
it only saves reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.search.runs.filter import ATTRIBUTE, Clause, RunFilter
from mlflow_dynamodbstore.search.runs.order import PRESENT, RunOrder
from mlflow_dynamodbstore.search.runs.reads import after_prefix
from mlflow_dynamodbstore.search.runs.view import SQL_FLOAT_MAX

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class KeyRange:
    """``lower <= sort key <= upper`` (None: unbounded); ``empty`` when nothing can match."""

    lower: str | None = None
    upper: str | None = None
    empty: bool = False

    def __and__(self, other: KeyRange) -> KeyRange:
        if self.empty or other.empty:
            return EMPTY
        lower = max(filter(None, (self.lower, other.lower)), default=None)
        upper = min(filter(None, (self.upper, other.upper)), default=None)
        if lower is not None and upper is not None and lower > upper:
            return EMPTY
        return KeyRange(lower, upper)


EVERYTHING = KeyRange()
EMPTY = KeyRange(empty=True)


def value_range(clauses: list[Clause]) -> tuple[float | None, float | None]:
    """The closed (low, high) range numeric clauses allow (None: unbounded)."""
    low = high = None
    for c in clauses:
        if c.comparator in (">", ">=", "="):
            low = c.value if low is None else max(low, c.value)
        if c.comparator in ("<", "<=", "="):
            high = c.value if high is None else min(high, c.value)
    return low, high


# ---- GSI1: runs by start time --------------------------------------------------------------
def start_time_filter_range(run_filter: RunFilter) -> KeyRange:
    """GSI1 range of the runs ``attributes.start_time`` clauses can accept."""
    clauses = [c for c in run_filter.clauses if c.kind == ATTRIBUTE and c.key == "start_time"]
    low, high = value_range(clauses)
    return _time_range(
        None if low is None else math.ceil(low), None if high is None else math.floor(high)
    )


def start_time_cursor_range(order: RunOrder, cursor_raw: list | None, ascending: bool) -> KeyRange:
    """GSI1 range where a start-time walk resumes: the cursor's start time, inclusive (runs
    tying with the cursor are re-read and re-sorted; the cursor run itself is skipped)."""
    if cursor_raw is None:
        return EVERYTHING
    if not order.clauses:  # default order: raw is [start_time, run_id]
        start_time, run_id = cursor_raw
        return KeyRange(upper=keys.run_list_sk(start_time, run_id))
    flag, start_time = cursor_raw[0]
    if flag != PRESENT:
        return EVERYTHING
    if order.is_default:  # ["start_time DESC"]: the index order is exact, resume at the run
        return KeyRange(upper=keys.run_list_sk(start_time, cursor_raw[-1]))
    return _time_range(start_time, None) if ascending else _time_range(None, start_time)


def _time_range(low: int | None, high: int | None) -> KeyRange:
    if (low is not None and low > _INT64_MAX) or (high is not None and high < _INT64_MIN):
        return EMPTY
    lower = None if low is None else keys.run_list_time_bound(max(low, _INT64_MIN))
    upper = None
    if high is not None:
        upper = after_prefix(keys.run_list_time_bound(min(high, _INT64_MAX)))
    return KeyRange(lower, upper) & EVERYTHING


# ---- GSI2: runs ranked by a metric ---------------------------------------------------------
def metric_rank_range(on_key: list[Clause], ascending: bool, resume: float | None) -> KeyRange:
    """GSI2 range of non-NaN ranks to walk: what the clauses on the ordered metric accept,
    from the cursor's value on (inclusive: its ties are re-read)."""
    low, high = value_range(on_key)
    if resume is not None and ascending:
        low = resume if low is None else max(low, resume)
    if resume is not None and not ascending:
        high = resume if high is None else min(high, resume)
    if low is not None and high is not None and low > high:
        return EMPTY
    # SQL compares +-inf as +-max double, so a bound at +-max double takes in +-inf too
    lower = None
    if low is not None and low > -SQL_FLOAT_MAX:
        lower = keys.metric_rank_value_prefix(low)
    upper = after_prefix(keys.metric_rank_value_prefix(math.inf))  # below every NaN
    if high is not None and high < SQL_FLOAT_MAX:
        upper = after_prefix(keys.metric_rank_value_prefix(high))
    return KeyRange(lower, upper) & EVERYTHING
