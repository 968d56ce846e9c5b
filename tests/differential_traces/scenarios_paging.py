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
        ("trace.status = 'IN_PROGRESS'", ["execution_time_ms ASC"]),
    ]
    return {
        f"{f} / {json.dumps(o)}": pages(store, experiments, 2, filter_string=f, order_by=o)
        for f, o in cases
    }


def page_subsets_of_experiments(store) -> dict[str, Any]:
    e0, e1, e2 = corpus(store)
    out = {}
    for order in (["timestamp_ms ASC"], ["execution_time_ms DESC"], ["status ASC"]):
        out[f"one {order}"] = pages(store, [e1], 2, order_by=order)
        out[f"two {order}"] = pages(store, [e2, e0], 2, order_by=order)
    return out


PAGING_SCENARIOS = [page_every_order, page_with_filters, page_subsets_of_experiments]
