"""Hot partition keys of a sweep (issue #20): many runs of one experiment each logging the
same metric keys for a few steps, the gateway counting item writes per partition key of
the table and of each GSI (gateway/partition_writes.py). DynamoDB Local only.

    .venv/bin/python -m benchmarks.hot_keys --runs 1000 --steps 3 --keys 10

Reports the hottest keys, the largest share of the phase's writes one key received (the
target: at most 1/50), and each hot key's write rate at 1,000 runs x 2 Hz, from the writes
per run-step of the steps after the first (the steady state of a training loop).
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

SWEEP_RUNS = 1000
SWEEP_HZ = 2


def sweep(tracking, runs: int, steps: int, metric_keys: int) -> dict[str, Any]:
    from mlflow.entities import Metric

    from mlflow_dynamodbstore.gateway.aws_write_units import AwsWriteUnits
    from mlflow_dynamodbstore.gateway.partition_writes import PartitionWrites
    from mlflow_dynamodbstore.schema import table

    counter = PartitionWrites({table.gsi_name(n): table.gsi_pk(n) for n in range(1, 6)})
    aws = AwsWriteUnits(table.index_key_attributes())
    tracking.gateway.observers.append(counter.observe)
    tracking.gateway.observers.append(aws.observe)
    exp = tracking.create_experiment(f"sweep-{uuid.uuid4().hex[:6]}")
    run_ids = [
        tracking.create_run(exp, "u", 1_700_000_000_000 + i, [], f"r{i}").info.run_id
        for i in range(runs)
    ]
    stats = tracking.gateway.stats
    report: dict[str, Any] = {"runs": runs, "steps": steps, "keys": metric_keys}
    steady: dict[tuple[str, str], int] = {}
    counter.reset()
    aws.reset()
    stats.reset()
    started = time.perf_counter()
    for step in range(steps):
        before = dict(counter.counts)
        for i, run_id in enumerate(run_ids):
            metrics = [
                Metric(f"m{k}", (i * 7 + step * 3 + k) % 101 / 100, 1000 + step, step)
                for k in range(metric_keys)
            ]
            tracking.log_batch(run_id, metrics, [], [])
        if step > 0:
            for key, count in counter.counts.items():
                steady[key] = steady.get(key, 0) + count - before.get(key, 0)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["requests"] = stats.total_requests
    report["wcu"] = round(stats.write_capacity, 1)
    report["aws"] = aws.snapshot().as_dict()
    total = counter.total
    report["item_writes"] = total
    run_steps_all = runs * steps
    table_writes = sum(c for (where, _), c in counter.counts.items() if where == "table")
    report["per_run_step"] = {
        "requests": round(stats.total_requests / run_steps_all, 2),
        "items": round(table_writes / run_steps_all, 2),
        "wcu": round(stats.write_capacity / run_steps_all, 2),
        "aws_wcu": round(report["aws"]["wcu"] / run_steps_all, 2),
    }
    report["writes_by_index"] = {
        where: sum(c for (w, _), c in counter.counts.items() if w == where)
        for where in sorted({w for w, _ in counter.counts})
    }
    report["hottest"] = [
        {"where": where, "key": key, "writes": count, "share": round(count / total, 4)}
        for where, key, count in counter.hottest(8)
    ]
    report["max_share"] = report["hottest"][0]["share"]
    report["target_share"] = 1 / 50
    run_steps = runs * max(steps - 1, 1)
    rate = SWEEP_RUNS * SWEEP_HZ / run_steps
    report["steady_rate_at_1000_runs_2hz"] = [
        {"where": where, "key": key, "writes_per_second": round(count * rate, 1)}
        for (where, key), count in sorted(steady.items(), key=lambda kv: -kv[1])[:8]
    ]
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=SWEEP_RUNS)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--keys", type=int, default=10)
    args = parser.parse_args(argv)

    from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    with DynamoDBLocal() as ddb:
        uri = f"dynamodb://127.0.0.1:{ddb.port}/hot-{uuid.uuid4().hex[:8]}"
        tracking = DynamoDBTrackingStore(uri, "s3://bench/artifacts")
        report = sweep(tracking, args.runs, args.steps, args.keys)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
