"""Search-index phases (issue #15): a tag filter with 1% matches over many runs, indexed and
unindexed; paging through registered models with keyset tokens. DynamoDB Local only (the
figures are read units and requests; SQLite has no counterpart to them).

    .venv/bin/python -m benchmarks.tag_index --runs 20000 --models 2000
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def _measure(stats, action) -> dict[str, Any]:
    stats.reset()
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    ops = stats.snapshot()
    return {
        "result": result,
        "seconds": round(seconds, 3),
        "requests": {k: v.requests for k, v in ops.items()},
        "rcu": round(stats.read_capacity, 1),
        "wcu": round(stats.write_capacity, 1),
    }


def tag_filter_phase(tracking, runs: int) -> dict[str, Any]:
    from mlflow.entities import RunTag, ViewType

    from mlflow_dynamodbstore.repositories.tag_index import TABLE_SCOPE, TagIndexState

    exp = tracking.create_experiment(f"tags-{uuid.uuid4().hex[:6]}")
    stats = tracking.gateway.stats
    stats.reset()
    started = time.perf_counter()
    for i in range(runs):
        user = "x" if i % 100 == 0 else f"user{i % 37}"
        tags = [
            RunTag("mlflow.user", user),
            RunTag("mlflow.source.name", f"train_{i % 11}.py"),
            RunTag("mlflow.source.type", "LOCAL"),
        ]
        tracking.create_run(exp, user, 1_700_000_000_000 + i, tags, f"run-{i}")
    create = {
        "seconds": round(time.perf_counter() - started, 1),
        "wcu_per_run": round(stats.write_capacity / runs, 2),
        "requests_per_run": round(stats.total_requests / runs, 2),
    }
    matching = runs // 100
    f = "tags.mlflow.user = 'x'"
    search = lambda: len(tracking.search_runs([exp], f, ViewType.ACTIVE_ONLY, 1000))  # noqa: E731
    indexed = _measure(stats, search)
    # the same search with the index not trusted (as on a table before its backfill)
    state = TagIndexState(tracking._conn.gateway)
    state.unmark(TABLE_SCOPE, ["mlflow.*"])
    unindexed = _measure(stats, search)
    state.mark_ready(TABLE_SCOPE, ["mlflow.*"])
    # what reading only the matching runs costs: one BatchGetItem-read of each (0.5 RCU)
    return {
        "runs": runs,
        "matching": matching,
        "create_run": create,
        "indexed": indexed,
        "unindexed": unindexed,
        "matching_runs_read_rcu": matching * 0.5,
    }


def registry_paging_phase(registry, models: int, page: int = 100) -> dict[str, Any]:
    for i in range(models):
        registry.create_registered_model(f"model-{i:05d}", description="d" * 200)
    stats = registry.gateway.stats

    def page_through() -> int:
        token, pages = None, 0
        while True:
            result = registry.search_registered_models(max_results=page, page_token=token)
            pages += 1
            if not (token := result.token):
                return pages

    def page_by_offsets() -> int:
        # the SQL store's offset tokens (still accepted): every page re-walks the name index
        from mlflow.utils.search_utils import SearchUtils

        pages, offset = 0, 0
        while True:
            token = SearchUtils.create_page_token(offset) if offset else None
            result = registry.search_registered_models(max_results=page, page_token=token)
            pages += 1
            offset += page
            if not result.token:
                return pages

    whole = _measure(stats, lambda: len(registry.search_registered_models(max_results=1000)))
    paged = _measure(stats, page_through)
    offsets = _measure(stats, page_by_offsets)
    return {
        "models": models,
        "page": page,
        "one_read_of_1000": whole,
        "paging": paged,
        "paging_by_offsets": offsets,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--models", type=int, default=2000)
    args = parser.parse_args(argv)

    from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal
    from mlflow_dynamodbstore.plugin import registry_store
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    with DynamoDBLocal() as ddb:
        uri = f"dynamodb://127.0.0.1:{ddb.port}/bench-{uuid.uuid4().hex[:8]}"
        tracking = DynamoDBTrackingStore(uri, "s3://bench/artifacts")
        report = {"registry_paging": registry_paging_phase(registry_store(store_uri=uri),
                                                           args.models)}  # fmt: skip
        if args.runs:
            report["tag_filter"] = tag_filter_phase(tracking, args.runs)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
