"""search_traces paged with small pages through every order it accepts, over experiments
whose traces tie on timestamp, execution time, status, name and tags (and lack some of
them): the pages must be the SQL store's, page after page."""

from __future__ import annotations

import json
from typing import Any

from mlflow.entities import TraceState
from mlflow.tracing.constant import TraceMetadataKey, TraceTagKey

from tests.differential.harness import attempt
from tests.differential_traces.builders import info, tid

BASE = 1_600_000_000_000
# n: (experiment index, start offset, execution time, state, name, group tag, metadata m)
TRACES: dict[int, tuple[int, int, int | None, TraceState, str | None, str | None, str | None]] = {
    1: (0, 0, 10, TraceState.OK, "alpha", "a", "x"),
    2: (1, 100, 5, TraceState.OK, "beta", "b", None),
    3: (2, 100, 5, TraceState.ERROR, "alpha", None, "y"),
    4: (0, 100, None, TraceState.IN_PROGRESS, None, "a", "x"),
    5: (1, 200, 20, TraceState.OK, "gamma", "b", None),
    6: (2, 200, 5, TraceState.OK, None, "a", "z"),
    7: (0, 300, None, TraceState.IN_PROGRESS, "beta", None, None),
    8: (1, 300, 10, TraceState.ERROR, "alpha", "a", "x"),
    9: (2, 300, 10, TraceState.OK, "beta", "b", "y"),
    10: (0, 400, 5, TraceState.OK, None, None, None),
    11: (1, 50, None, TraceState.IN_PROGRESS, "gamma", "a", "z"),
    12: (2, 50, 20, TraceState.OK, "alpha", "b", None),
    13: (0, 0, 10, TraceState.ERROR, "beta", "a", "x"),
    14: (1, 250, 7, TraceState.OK, None, "b", "y"),
    15: (2, 100, 5, TraceState.OK, "gamma", None, None),
}

ORDERS: list[list[str] | None] = [
    None,
    ["timestamp_ms DESC"],
    ["timestamp_ms ASC"],
    ["timestamp DESC", "request_id DESC"],
    ["timestamp_ms ASC", "request_id DESC"],
    ["timestamp_ms ASC", "status DESC"],
    ["execution_time_ms ASC"],
    ["execution_time_ms DESC"],
    ["execution_time DESC", "status ASC"],
    ["execution_time_ms ASC", "timestamp_ms ASC"],
    ["execution_time_ms DESC", "request_id DESC"],
    ["status"],
    ["status DESC", "execution_time_ms ASC"],
    ["name ASC"],
    ["name DESC"],
    ["tags.`mlflow.traceName` DESC", "timestamp_ms DESC", "request_id ASC"],
    ["name ASC", "execution_time_ms ASC"],
    ["name DESC", "request_id DESC"],
    ["name ASC", "timestamp_ms ASC"],
    ["request_id DESC"],
    ["experiment_id DESC"],
    ["experiment_id ASC", "timestamp_ms ASC"],
    ["tags.group ASC"],
    ["tags.group DESC", "execution_time_ms ASC"],
    ["metadata.m DESC"],
    ["run_id"],
]


def corpus(store) -> list[str]:
    experiments = [store.create_experiment(f"paging-{i}") for i in range(3)]
    for n, (exp, start, duration, state, name, group, m) in TRACES.items():
        tags = {}
        if name is not None:
            tags[TraceTagKey.TRACE_NAME] = name
        if group is not None:
            tags["group"] = group
        metadata = {"m": m} if m is not None else {}
        if n in (2, 9):
            metadata[TraceMetadataKey.SOURCE_RUN] = f"run-{n}"
        store.start_trace(
            info(
                tid(n),
                experiments[exp],
                BASE + start,
                duration=duration,
                state=state,
                tags=tags,
                metadata=metadata,
            )
        )
    return experiments


def pages(store, experiment_ids, max_results: int, **kwargs: Any) -> Any:
    """Every page's trace ids, in order, until no token comes (or the error)."""

    def run() -> list[list[str]]:
        out, token = [], None
        while True:
            infos, token = store.search_traces(
                experiment_ids, max_results=max_results, page_token=token, **kwargs
            )
            out.append([i.trace_id for i in infos])
            if not token or len(out) > 40:
                return out

    return attempt(run)


def page_every_order(store) -> dict[str, Any]:
    experiments = corpus(store)
    return {
        f"{json.dumps(order)} by {size}": pages(store, experiments, size, order_by=order)
        for order in ORDERS
        for size in (1, 2, 3)
    }


def page_with_filters(store) -> dict[str, Any]:
    experiments = corpus(store)
    cases = [
        ("tags.group = 'a'", ["execution_time_ms ASC"]),
        ("tags.group = 'b'", ["execution_time_ms DESC"]),
        ("trace.status != 'OK'", ["execution_time_ms DESC"]),
        ("trace.timestamp_ms >= 1600000000100", ["timestamp_ms ASC"]),
        ("trace.timestamp_ms < 1600000000300", ["timestamp_ms ASC", "request_id DESC"]),
        ("trace.timestamp_ms <= 1600000000300", ["execution_time_ms ASC"]),
        ("trace.execution_time_ms > 5", ["execution_time_ms DESC"]),
        ("name = 'alpha'", ["timestamp_ms ASC"]),
        ("metadata.m IS NOT NULL", ["name DESC"]),
        ("tags.group = 'a'", ["name ASC"]),
        ("name = 'beta'", ["name DESC", "execution_time_ms ASC"]),
        ("name LIKE '%lph%'", ["name ASC"]),
        ("name ILIKE '%GAMM%'", ["name DESC"]),
        ("name LIKE '%amm%' AND tags.group = 'b'", ["name ASC", "timestamp_ms ASC"]),
        ("trace.timestamp_ms >= 1600000000100", ["name DESC"]),
        ("trace.timestamp_ms < 1600000000300", ["name ASC", "timestamp_ms ASC"]),
        ("trace.status = 'IN_PROGRESS'", ["execution_time_ms ASC"]),
    ]
    return {
        f"{f} / {json.dumps(o)}": pages(store, experiments, 2, filter_string=f, order_by=o)
        for f, o in cases
    }


def page_subsets_of_experiments(store) -> dict[str, Any]:
    e0, e1, e2 = corpus(store)
    out = {}
    for order in (
        ["timestamp_ms ASC"],
        ["execution_time_ms DESC"],
        ["status ASC"],
        ["name ASC"],
        ["name DESC"],
    ):
        out[f"one {order}"] = pages(store, [e1], 2, order_by=order)
        out[f"two {order}"] = pages(store, [e2, e0], 2, order_by=order)
    return out


NAME = TraceTagKey.TRACE_NAME


def pages_with_changes(store, experiment_ids, max_results: int, order_by, changes) -> Any:
    """Pages through the order, applying ``changes[i](store, experiments)`` after page i.
    Each change touches only traces after the position in the order (before and after it),
    so the SQL store's offsets and this store's keyset positions agree."""

    def run() -> list[list[str]]:
        out, token = [], None
        while True:
            infos, token = store.search_traces(
                experiment_ids, max_results=max_results, page_token=token, order_by=order_by
            )
            out.append([i.trace_id for i in infos])
            if len(out) <= len(changes):
                changes[len(out) - 1](store, experiment_ids)
            if not token or len(out) > 40:
                return out

    return attempt(run)


def _rename(n: int, name: str):
    return lambda store, _experiments: store.set_trace_tag(tid(n), NAME, name)


def _delete(n: int, exp: int):
    return lambda store, experiments: store.delete_traces(experiments[exp], trace_ids=[tid(n)])


def _both(*changes):
    def apply(store, experiments) -> None:
        for change in changes:
            change(store, experiments)

    return apply


def page_names_while_traces_change(store) -> dict[str, Any]:
    """Name order paged while traces are renamed, named, deleted and added behind the
    position (alpha: 1 3 8 12, beta: 2 7 9 13, gamma: 5 11 15, unnamed: 4 6 10 14)."""
    out = {}
    experiments = corpus(store)
    # ASC, pages of 3: alpha 8 3 12 | alpha 1, beta 10 7 | beta 2 13, delta 15 | ...
    out["asc"] = pages_with_changes(
        store, experiments, 3, ["name ASC"],
        [
            _both(_rename(15, "delta"), _delete(9, 2), _rename(10, "beta")),
            _both(_rename(5, "zeta"), _rename(14, "epsilon"), _delete(6, 2)),
            _both(_rename(11, "eta"), _delete(4, 0)),
        ],
    )  # fmt: skip
    experiments = [store.create_experiment(f"paging-desc-{i}") for i in range(1)]
    for n, (_exp, start, duration, state, name, _group, _m) in TRACES.items():
        tags = {NAME: name} if name is not None else {}
        store.start_trace(
            info(tid(100 + n), experiments[0], BASE + start, duration=duration, state=state,
                 tags=tags)
        )  # fmt: skip
    # DESC, pages of 2: gamma 115 105 | gamma 111, beta 102 | beta 101 113 | ...
    out["desc"] = pages_with_changes(
        store, experiments, 2, ["name DESC", "execution_time_ms ASC"],
        [
            _both(_rename(101, "beta"), _delete(109, 0)),
            _both(_rename(104, "aaa"), _rename(103, "alpha")),
            _both(_delete(110, 0)),
        ],
    )  # fmt: skip
    return out


PAGING_SCENARIOS = [
    page_every_order,
    page_with_filters,
    page_subsets_of_experiments,
    page_names_while_traces_change,
]
