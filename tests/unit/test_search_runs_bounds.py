"""Index key ranges derived from filters and cursors: never narrower than the filter."""

from __future__ import annotations

import math

from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.search.runs.bounds import (
    EMPTY,
    EVERYTHING,
    KeyRange,
    metric_rank_range,
    start_time_filter_range,
)
from mlflow_dynamodbstore.search.runs.filter import parse_run_filter


def _in(key_range: KeyRange, key: str) -> bool:
    return (
        not key_range.empty
        and (key_range.lower is None or key_range.lower <= key)
        and (key_range.upper is None or key <= key_range.upper)
    )


def _run_sk(start_time: int) -> str:
    return keys.run_list_keys("1", start_time, "0123456789abcdef0123456789abcdef")["GSI1SK"]


def _rank_sk(value: float) -> str:
    return keys.metric_rank_keys("1", "m", value, "0123456789abcdef0123456789abcdef")["GSI2SK"]


def test_start_time_ranges_keep_every_run_the_filter_accepts():
    cases = {
        "start_time > 10.5": (range(11, 30), range(-5, 11)),
        "start_time >= 10 and start_time <= 12": (range(10, 13), [9, 13, 100]),
        "created = 7": ([7], [6, 8]),
        "start_time < -3": (range(-20, -3), [-2, 0, 5]),  # -3 itself: read, then filtered
    }
    for text, (inside, outside) in cases.items():
        key_range = start_time_filter_range(parse_run_filter(text))
        assert all(_in(key_range, _run_sk(t)) for t in inside), text
        assert not any(_in(key_range, _run_sk(t)) for t in outside), text


def test_impossible_start_time_ranges_are_empty():
    for text in ("start_time > 5 and start_time < 3", "start_time > 1e30", "start_time < -1e30"):
        assert start_time_filter_range(parse_run_filter(text)).empty, text
    assert start_time_filter_range(parse_run_filter("params.p = 'x'")) == EVERYTHING


def test_metric_ranges_never_reach_nan_and_take_inf_with_max_double():
    everything = metric_rank_range([], True, None)
    assert _in(everything, _rank_sk(math.inf)) and _in(everything, _rank_sk(-math.inf))
    assert not _in(everything, _rank_sk(math.nan))
    at_max = metric_rank_range(
        parse_run_filter("metrics.m >= 1.7976931348623157e308").clauses, True, None
    )
    assert _in(at_max, _rank_sk(math.inf)) and not _in(at_max, _rank_sk(1e308))
    at_min = metric_rank_range(
        parse_run_filter("metrics.m <= -1.7976931348623157e308").clauses, True, None
    )
    assert _in(at_min, _rank_sk(-math.inf)) and not _in(at_min, _rank_sk(-1e308))
    between = metric_rank_range(
        parse_run_filter("metrics.m > 1 and metrics.m < 2").clauses, False, None
    )
    assert (
        _in(between, _rank_sk(1.0)) and _in(between, _rank_sk(1.5)) and _in(between, _rank_sk(2.0))
    )
    assert not _in(between, _rank_sk(2.5)) and not _in(between, _rank_sk(0.5))


def test_metric_cursor_resumes_at_its_value_inclusive():
    asc = metric_rank_range([], True, 3.0)
    assert _in(asc, _rank_sk(3.0)) and _in(asc, _rank_sk(4.0)) and not _in(asc, _rank_sk(2.0))
    desc = metric_rank_range([], False, 3.0)
    assert _in(desc, _rank_sk(3.0)) and _in(desc, _rank_sk(-1.0)) and not _in(desc, _rank_sk(4.0))
    assert metric_rank_range(parse_run_filter("metrics.m > 5").clauses, False, 3.0) is EMPTY


def test_key_range_intersection():
    assert (KeyRange("b", "d") & KeyRange("c", None)) == KeyRange("c", "d")
    assert (KeyRange("b", "c") & KeyRange("d", None)).empty
    assert (EMPTY & EVERYTHING).empty
