"""The trace-name dictionary's benchmark (docs/full-text-search.md, "Trace names"): an
experiment of ~20,000 traces carrying a few dozen distinct names, as real traces do (the
root span's function: ``predict``, ``ChatModel.invoke``, ``agent_run``...), plus one rare
name. Reports what a trace write pays for its name (the first trace of a name, a later one,
an unnamed one) and what a selective name search reads through the dictionary and through
the full path (the experiment's listing). DynamoDB Local only.

    .venv/bin/python -m benchmarks.trace_names [--traces 20000] [--names 36] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.fts import _both_paths  # (importing it sets the AWS env for Local)

BASE_NAMES = [
    "predict",
    "chat",
    "agent_run",
    "ChatModel.invoke",
    "retriever.search",
    "RunnableSequence",
    "llm_call",
    "tool.execute",
    "rerank",
    "embed_documents",
    "summarize",
    "classify_intent",
]
RARE = "fraud-escalation-review"


def names(n: int) -> list[str]:
    return [
        f"{BASE_NAMES[i % len(BASE_NAMES)]}{'' if i < len(BASE_NAMES) else f'_v{i}'}"
        for i in range(n)
    ]


def _start(store, exp: str, n: int, name: str | None) -> None:
    _start_id(store, exp, f"tr-{uuid.uuid4().hex}", name, n)


def _start_id(store, exp: str, trace_id: str, name: str | None, n: int = 0) -> None:
    from mlflow.entities import TraceInfo, TraceLocation, TraceState
    from mlflow.tracing.constant import TraceTagKey

    store.start_trace(
        TraceInfo(
            trace_id=trace_id,
            trace_location=TraceLocation.from_experiment_id(exp),
            request_time=1_700_000_000_000 + n,
            execution_duration=20,
            state=TraceState.OK,
            tags={TraceTagKey.TRACE_NAME: name} if name is not None else {},
        )
    )


def _write_cost(store, call) -> dict[str, Any]:
    store.gateway.stats.reset()
    call()
    snap = store.gateway.stats.snapshot()
    return {
        "requests": {op: s.requests for op, s in snap.items()},
        "wcu": round(sum(s.write_capacity for s in snap.values()), 1),
        "rcu": round(sum(s.read_capacity for s in snap.values()), 1),
    }


def measure_writes(store, exp: str) -> dict[str, Any]:
    from mlflow_dynamodbstore.repositories.traces.name_dictionary import SEEN

    _start(store, exp, 0, None)  # warm (experiment checks, settings)
    out = {
        "unnamed": _write_cost(store, lambda: _start(store, exp, 1, None)),
        "first_of_a_name": _write_cost(store, lambda: _start(store, exp, 2, "first-name-x")),
        "known_name": _write_cost(store, lambda: _start(store, exp, 3, "first-name-x")),
    }
    SEEN.clear()  # another server process: it reads the entry once
    out["known_name_new_process"] = _write_cost(
        store, lambda: _start(store, exp, 4, "first-name-x")
    )
    return out


def load(store, exp: str, traces: int, distinct: int, threads: int) -> float:
    """Bulk-load: META items shaped like the one a real ``start_trace`` wrote (keys computed
    by the same ``finalize``), 25 per BatchWriteItem, each distinct name put in the
    dictionary once (as the first ``start_trace`` of it does). The write path itself is
    measured by ``measure_writes``; the searches read exactly these items."""
    from mlflow_dynamodbstore.repositories.traces.codec import finalize
    from mlflow_dynamodbstore.repositories.traces.name_dictionary import NameDictionary
    from mlflow_dynamodbstore.schema import keys

    gateway = store.gateway.unscoped
    pool = names(distinct)
    template_id = f"tr-{uuid.uuid4().hex}"
    _start_id(store, exp, template_id, pool[0])
    template = gateway.get_item(keys.trace_key(template_id))
    dictionary = NameDictionary(gateway)
    for name in [*pool, RARE]:
        dictionary.ensure(exp, name)
    start = time.perf_counter()

    def chunk(first: int) -> None:
        items = []
        for n in range(first, min(first + 500, traces)):
            # one trace in 1,000 has the rare name; the rest cycle through the pool
            name = RARE if n % 1000 == 7 else pool[n % len(pool)]
            trace_id = f"tr-{n:08d}{uuid.uuid4().hex[:24]}"
            items.append(
                finalize(
                    {
                        **template,
                        "trace_id": trace_id,
                        "timestamp_ms": 1_700_000_000_000 + n,
                        "trace_name": name,
                    }
                )
            )
        gateway.batch_write(puts=items)

    with ThreadPoolExecutor(threads) as workers:
        list(workers.map(chunk, range(0, traces, 500)))
    return round(time.perf_counter() - start, 1)


def measure_searches(store, exp: str) -> dict[str, Any]:
    gateway = store.gateway.unscoped
    stats = gateway.stats
    store.search_traces([exp], "name LIKE '%warm-up%'")  # readiness cached, as in a server

    def search(flt: str, max_results: int = 100):
        return lambda: store.search_traces([exp], flt, max_results=max_results)[0]

    return {
        "like_rare": _both_paths(stats, search("name LIKE '%escalation%'"), gateway),
        "ilike_rare": _both_paths(stats, search("name ILIKE '%FRAUD-ESC%'"), gateway),
        "equal_rare": _both_paths(stats, search(f"name = '{RARE}'"), gateway),
        "equal_common_page": _both_paths(stats, search("name = 'predict'", 100), gateway),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--names", type=int, default=36)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--out", default="benchmarks/results", type=Path)
    args = parser.parse_args(argv)

    from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    report: dict[str, Any] = {"counts": {k: v for k, v in vars(args).items() if k != "out"}}
    local = DynamoDBLocal().start()
    try:
        uri = f"dynamodb://127.0.0.1:{local.port}/tnames-{uuid.uuid4().hex[:8]}"
        store = DynamoDBTrackingStore(uri, "s3://bench/artifacts")
        exp = store.create_experiment("traces")
        report["writes"] = measure_writes(store, exp)
        report["load_seconds"] = load(store, exp, args.traces, args.names, args.threads)
        report["searches"] = measure_searches(store, exp)
    finally:
        local.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmark-trace-names.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
