"""What a steady 10-key training step costs in each write shape, on AWS's rules (issue #20).

    .venv/bin/python -m benchmarks.step_shapes [--steps 60] [--keys 10]

Measured on DynamoDB Local with the gateway's AWS write-unit meter
(gateway/aws_write_units.py) next to DynamoDB Local's own figure:

- ``E``: the store as built (``log_batch`` per step: LIVE + one LATEST item per key with
  its rank entry and recent-points buffer, one TransactWriteItems; a flush every 20 steps);
- ``D/<B>``: option D's step, written directly through the gateway in the shape the design
  gives it (docs/benchmarks.md, "D: the design, costed"): one TransactWriteItems of the
  run's LIVE item only (each key's latest entry and a buffer of up to ``B`` points per key,
  one top-level list per key; a point counter bounds the buffer) with ConditionChecks of
  META and the experiment; when the buffer is full, the step's condition fails and the
  writer reads LIVE (GetItem), writes one block item per key (BatchWriteItem, into the
  key's history partition, as E's flushes do) and retries replacing the buffers.

This is a measurement of item shapes, not the store's code path: it tells which buffer
size keeps every step within the target (<= 14 write units) and what a step costs on
average, flushes included.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from decimal import Decimal
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

BUFFERS = (8, 12, 16, 24)


def _metrics(step: int, keys_: int) -> list:
    from mlflow.entities import Metric

    return [
        Metric(f"m{k}", (step * 7 + k * 3) % 101 / 100, 1_700_000_000_000 + step, step)
        for k in range(keys_)
    ]


class _Tally:
    """Per-step figures: requests, DynamoDB Local WCU, AWS-rules WCU, items, wall time."""

    def __init__(self, gateway, meter):
        self.gateway, self.meter = gateway, meter
        self.rows: list[dict[str, float]] = []

    def measure(self, write) -> None:
        stats = self.gateway.stats
        stats.reset()
        self.meter.reset()
        started = time.perf_counter()
        write()
        units = self.meter.snapshot()
        self.rows.append(
            {
                "requests": stats.total_requests,
                "local_wcu": stats.write_capacity,
                "aws_wcu": units.total,
                "items": units.items,
                "ms": (time.perf_counter() - started) * 1000,
            }
        )

    def summary(self, skip: int) -> dict[str, Any]:
        rows = self.rows[skip:]
        n = len(rows)
        return {
            "steps": n,
            **{
                f"mean_{name}": round(sum(r[name] for r in rows) / n, 2)
                for name in ("requests", "local_wcu", "aws_wcu", "items", "ms")
            },
            "max_aws_wcu": max(r["aws_wcu"] for r in rows),
            "max_items": max(r["items"] for r in rows),
            "steady_aws_wcu": sorted(r["aws_wcu"] for r in rows)[n // 2],
        }


def _store(port: int):
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    return DynamoDBTrackingStore(
        f"dynamodb://127.0.0.1:{port}/shapes-{uuid.uuid4().hex[:8]}", "s3://bench/artifacts"
    )


def _meter(store):
    from mlflow_dynamodbstore.gateway.aws_write_units import AwsWriteUnits
    from mlflow_dynamodbstore.schema import table

    meter = AwsWriteUnits(table.index_key_attributes())
    store.gateway.observers.append(meter.observe)
    return meter


def measure_e(store, steps: int, keys_: int) -> dict[str, Any]:
    meter = _meter(store)
    exp = store.create_experiment(f"e-{uuid.uuid4().hex[:6]}")
    run_id = store.create_run(exp, "u", 1, [], "r").info.run_id
    tally = _Tally(store.gateway, meter)
    for step in range(steps):
        tally.measure(lambda s=step: store.log_batch(run_id, _metrics(s, keys_), [], []))
    return tally.summary(skip=2)  # the first steps take the read path, once per run


class _DStep:
    """Option D's step on one run, in the shape the design gives it."""

    def __init__(self, store, run_id: str, experiment_id: str, buffer_points: int):
        from mlflow_dynamodbstore.schema import keys
        from mlflow_dynamodbstore.schema.metric_rank_keys import live_key

        self.gateway = store.gateway
        self.run_id, self.experiment_id = run_id, experiment_id
        self.buffer_points = buffer_points
        self.live = live_key(run_id)
        self.meta, self.experiment = keys.run_key(run_id), keys.experiment_key(experiment_id)
        self.gateway.put_item({**self.live, "run_id": run_id, "metrics": {}, "version": 0})

    def _checks(self) -> list[dict]:
        from boto3.dynamodb.conditions import Attr

        return [
            self.gateway.tx_check(self.meta, Attr("lifecycle_stage").eq("active")),
            self.gateway.tx_check(self.experiment, Attr("lifecycle_stage").eq("active")),
        ]

    def write(self, metrics: list) -> None:
        from mlflow_dynamodbstore.gateway import TransactionCancelled

        try:
            self._transact(metrics, replace=None)
        except TransactionCancelled:
            self._transact(metrics, replace=self._flush())

    def _transact(self, metrics: list, replace: int | None) -> None:
        from mlflow_dynamodbstore.repositories.runs.items import metric_entry
        from mlflow_dynamodbstore.repositories.runs.metric_history import Point, pack_point

        names: dict[str, str] = {"#m": "metrics", "#v": "version", "#n": "buffered"}
        values: dict[str, Any] = {":one": 1, ":n": len(metrics)}
        if replace is None:
            values[":empty"] = []
        sets, conditions = [], []
        for i, m in enumerate(metrics):
            names[f"#k{i}"], names[f"#r{i}"] = m.key, f"recent#{m.key}"
            values[f":e{i}"] = metric_entry(m.value, m.timestamp, m.step)
            values[f":p{i}"] = [pack_point(Point(m.key, m.value, m.timestamp, m.step))]
            values[f":s{i}"], values[f":t{i}"] = m.step, m.timestamp
            sets.append(f"#m.#k{i} = :e{i}")
            if replace is None:
                sets.append(f"#r{i} = list_append(if_not_exists(#r{i}, :empty), :p{i})")
            else:
                sets.append(f"#r{i} = :p{i}")
            st, ts = f"#m.#k{i}.#st", f"#m.#k{i}.#ts"
            conditions.append(
                f"(attribute_not_exists(#m.#k{i}) OR {st} < :s{i} OR "
                f"({st} = :s{i} AND {ts} < :t{i}))"
            )
        names["#st"], names["#ts"] = "step", "timestamp"
        if replace is None:
            values[":room"] = self.buffer_points * len(metrics) - len(metrics)
            conditions.append("(attribute_not_exists(#n) OR #n <= :room)")
            update = "SET " + ", ".join(sets) + " ADD #v :one, #n :n"
        else:
            values[":seen"] = replace
            conditions.append("#v = :seen")
            update = "SET " + ", ".join(sets) + ", #n = :n ADD #v :one"
        self.gateway.transact_write(
            [
                *self._checks(),
                self.gateway.tx_update(
                    self.live,
                    update,
                    names=names,
                    values=values,
                    condition_expression=" AND ".join(conditions),
                ),
            ]
        )

    def _flush(self) -> int:
        """Each key's buffered points as one block in its history partition; LIVE's
        version as read (the retried step replaces the buffers only if it still holds)."""
        from mlflow_dynamodbstore.repositories.runs.metric_history import MetricHistoryRepository

        live = self.gateway.get_item(self.live) or {}
        blocks = []
        for name, packed in live.items():
            if name.startswith("recent#") and packed:
                latest = {"key": name[len("recent#") :], "recent": packed}
                blocks += MetricHistoryRepository.flushed_items(self.run_id, latest)
        self.gateway.batch_write(blocks)
        version = live.get("version", 0)
        return int(version) if isinstance(version, Decimal | int) else 0


def measure_d(store, steps: int, keys_: int, buffer_points: int) -> dict[str, Any]:
    meter = _meter(store)
    exp = store.create_experiment(f"d{buffer_points}-{uuid.uuid4().hex[:6]}")
    run_id = store.create_run(exp, "u", 1, [], "r").info.run_id
    shape = _DStep(store, run_id, exp, buffer_points)
    tally = _Tally(store.gateway, meter)
    for step in range(steps):
        tally.measure(lambda s=step: shape.write(_metrics(s, keys_)))
    return tally.summary(skip=0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--keys", type=int, default=10)
    args = parser.parse_args(argv)

    from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal

    report: dict[str, Any] = {"keys": args.keys, "steps": args.steps}
    with DynamoDBLocal() as ddb:
        report["E"] = measure_e(_store(ddb.port), args.steps, args.keys)
        for b in BUFFERS:
            report[f"D/{b}"] = measure_d(_store(ddb.port), args.steps, args.keys, b)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
