"""Run the benchmark workload on SQLite (MLflow's SqlAlchemyStore) and on DynamoDB Local,
and report wall time, DynamoDB requests by operation and capacity units per phase.

    .venv/bin/python -m benchmarks.run [--scale] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.workload import PHASES, STEPS, State

os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

BASE_RUNS = 20


def _sqlite_stores(tmp: Path):
    from mlflow.store.model_registry.sqlalchemy_store import (
        SqlAlchemyStore as SqlRegistry,
    )
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    db = f"sqlite:///{tmp / 'bench.db'}"
    tracking = SqlAlchemyStore(db, str(tmp / "artifacts"))
    return tracking, SqlRegistry(db)


def _dynamodb_stores(endpoint_port: int):
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    uri = f"dynamodb://127.0.0.1:{endpoint_port}/bench-{uuid.uuid4().hex[:8]}"
    tracking = DynamoDBTrackingStore(uri, "s3://bench/artifacts")
    try:
        from mlflow_dynamodbstore.plugin import registry_store

        registry = registry_store(store_uri=uri)
    except (ImportError, AttributeError):
        registry = None
    return tracking, registry


def _run_phases(
    tracking, registry, runs: int, stats=None, writes=None, aws=None
) -> dict[str, dict[str, Any]]:
    """Each phase's wall time; with ``stats``, its requests and capacity units; with
    ``writes`` (a PartitionWrites counter on the gateway), the items it wrote and the
    largest share of those writes one partition key (table or GSI) received; with ``aws``
    (an AwsWriteUnits meter on the gateway), its write units as AWS would bill them."""
    state = State(runs=runs)
    out: dict[str, dict[str, Any]] = {}
    for name, phase in PHASES:
        before = stats.snapshot() if stats else {}
        if writes is not None:
            writes.reset()
        if aws is not None:
            aws.reset()
        start = time.perf_counter()
        error = None
        try:
            if registry is None and name == "model_versions":
                raise NotImplementedError("no registry store")
            phase(tracking, registry, state)
        except Exception as exc:  # report it in the table and go on with the next phase
            error = f"{type(exc).__name__}: {exc}"[:200]
        elapsed = time.perf_counter() - start
        row: dict[str, Any] = {"seconds": round(elapsed, 3), "error": error}
        if stats is not None:
            after = stats.snapshot()
            ops = {}
            for op, s in after.items():
                b = before.get(op)
                n = s.requests - (b.requests if b else 0)
                if n:
                    ops[op] = {
                        "requests": n,
                        "rcu": round(s.read_capacity - (b.read_capacity if b else 0.0), 1),
                        "wcu": round(s.write_capacity - (b.write_capacity if b else 0.0), 1),
                    }
            row["requests"] = sum(o["requests"] for o in ops.values())
            row["rcu"] = round(sum(o["rcu"] for o in ops.values()), 1)
            row["wcu"] = round(sum(o["wcu"] for o in ops.values()), 1)
            row["by_operation"] = ops
        if writes is not None and writes.total:
            row["items_written"] = sum(c for (w, _), c in writes.counts.items() if w == "table")
            where, key, count = writes.hottest(1)[0]
            row["hottest"] = {"where": where, "key": key, "share": round(count / writes.total, 4)}
        if aws is not None:
            row["aws"] = aws.snapshot().as_dict()
        if name == "log_batch_per_step" and "items_written" in row:
            steps = runs * STEPS
            row["per_step"] = {
                "requests": round(row["requests"] / steps, 2),
                "items": round(row["items_written"] / steps, 2),
                "wcu": round(row["wcu"] / steps, 2),
            }
            if "aws" in row:
                row["per_step"]["aws_wcu"] = round(row["aws"]["wcu"] / steps, 2)
        out[name] = row
    out["_results"] = state.results
    return out


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Runs per experiment: {report['runs']}",
        "",
        "| phase | SQLite s | DynamoDB s | requests | RCU | WCU (DynamoDB Local) | WCU (AWS rules)"
        " | items written | hottest key's share of writes | requests by operation |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    sql, ddb = report["sqlite"], report["dynamodb"]
    for name, _ in PHASES:
        s, d = sql[name], ddb[name]
        if d.get("error"):
            lines.append(f"| {name} | {s['seconds']} | error | | | | | | | {d['error']} |")
            continue
        ops = ", ".join(f"{op} {v['requests']}" for op, v in sorted(d["by_operation"].items()))
        hottest = d.get("hottest")
        share = f"{hottest['share']} ({hottest['where']} `{hottest['key']}`)" if hottest else ""
        aws_wcu = d["aws"]["wcu"] if "aws" in d else ""
        lines.append(
            f"| {name} | {s['seconds']} | {d['seconds']} | {d['requests']} | {d['rcu']} "
            f"| {d['wcu']} | {aws_wcu} | {d.get('items_written', '')} | {share} | {ops} |"
        )
    total_s = sum(sql[n]["seconds"] for n, _ in PHASES)
    total_d = sum(ddb[n]["seconds"] for n, _ in PHASES)
    lines += ["", f"Total wall time: SQLite {total_s:.1f} s, DynamoDB Local {total_d:.1f} s"]
    per_step = ddb["log_batch_per_step"].get("per_step")
    if per_step:
        sql_seconds = max(sql["log_batch_per_step"]["seconds"], 1e-9)
        ratio = ddb["log_batch_per_step"]["seconds"] / sql_seconds
        lines += [
            "",
            f"log_batch_per_step, per step: {per_step['requests']} requests, "
            f"{per_step['items']} items, {per_step['wcu']} WCU (DynamoDB Local's billing), "
            f"{per_step.get('aws_wcu', '?')} WCU (AWS's rules); wall time {ratio:.2f}x SQLite's",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", action="store_true", help="10x the runs")
    parser.add_argument("--out", default="benchmarks/results", type=Path)
    args = parser.parse_args(argv)
    runs = BASE_RUNS * (10 if args.scale else 1)

    from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal

    report: dict[str, Any] = {"runs": runs}
    with tempfile.TemporaryDirectory() as tmp:
        tracking, registry = _sqlite_stores(Path(tmp))
        report["sqlite"] = _run_phases(tracking, registry, runs)
    with DynamoDBLocal() as ddb:
        from mlflow_dynamodbstore.gateway.aws_write_units import AwsWriteUnits
        from mlflow_dynamodbstore.gateway.partition_writes import PartitionWrites
        from mlflow_dynamodbstore.schema import table

        tracking, registry = _dynamodb_stores(ddb.port)
        writes = PartitionWrites({table.gsi_name(n): table.gsi_pk(n) for n in range(1, 6)})
        aws = AwsWriteUnits(table.index_key_attributes())
        tracking.gateway.observers.append(writes.observe)
        tracking.gateway.observers.append(aws.observe)
        report["dynamodb"] = _run_phases(
            tracking, registry, runs, tracking.gateway.stats, writes, aws
        )

    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "scale" if args.scale else "base"
    (args.out / f"benchmark-{suffix}.json").write_text(json.dumps(report, indent=2))
    md = _markdown(report)
    (args.out / f"benchmark-{suffix}.md").write_text(md)
    print(md)
    return report


if __name__ == "__main__":
    main()
