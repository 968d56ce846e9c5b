"""Hand-made option-D state (repositories/runs/stepping.py) for testing the readers before
and apart from the step that writes it: a run whose keys step through its LIVE item."""

from __future__ import annotations

from mlflow_dynamodbstore.repositories.runs.items import metric_entry
from mlflow_dynamodbstore.repositories.runs.live import LIVE_FLAG
from mlflow_dynamodbstore.repositories.runs.metric_history import (
    Point,
    live_flushed_items,
    pack_point,
)
from mlflow_dynamodbstore.repositories.runs.stepping import (
    IN_LIVE,
    LIVE_ANNOUNCED,
    LIVE_BUFFERED,
    LIVE_FLUSH_SEQ,
    STEP_MODE,
)
from mlflow_dynamodbstore.schema import indexes, keys
from mlflow_dynamodbstore.schema.live_step_keys import live_buffer_attribute, stepping_rank_keys
from mlflow_dynamodbstore.schema.metric_rank_keys import live_key


def make_stepping(
    store,
    run_id: str,
    key: str,
    buffered: list[tuple[float, int, int]],
    flushed: list[list[tuple[float, int, int]]] = (),
) -> None:
    """Put ``key`` of ``run_id`` in the stepping state: its LATEST item announced (rank
    entry in the ``~S#`` range), its newest point as LIVE's entry, ``flushed`` as LIVE
    flushes 1..n (blocks ``ML#<n>#…``), ``buffered`` in LIVE's buffer. Points are
    (value, timestamp, step); the run must have logged ``key`` once already (LATEST)."""
    gateway = store._conn.gateway
    meta = gateway.get_item(keys.run_key(run_id))
    experiment_id = str(meta["experiment_id"])
    gateway.update_item(
        keys.run_key(run_id),
        "SET #s = :t, #l = :t",
        names={"#s": STEP_MODE, "#l": LIVE_FLAG},
        values={":t": True},
    )
    rank = stepping_rank_keys(experiment_id, key, run_id)
    pk_name, sk_name = indexes.RUNS_BY_METRIC.key_attributes
    gateway.update_item(
        keys.metric_latest_key(run_id, key),
        "SET #i = :t, #pk = :pk, #sk = :sk",
        names={"#i": IN_LIVE, "#pk": pk_name, "#sk": sk_name},
        values={":t": True, ":pk": rank[pk_name], ":sk": rank[sk_name]},
    )
    live = gateway.get_item(live_key(run_id)) or {**live_key(run_id), "run_id": run_id}
    live.setdefault("metrics", {})
    for seq, points in enumerate(flushed, start=int(live.get(LIVE_FLUSH_SEQ) or 0) + 1):
        shaped = {live_buffer_attribute(key): [_pack(key, p) for p in points]}
        gateway.batch_write(live_flushed_items(run_id, shaped, seq))
        live[LIVE_FLUSH_SEQ] = seq
    everything = [p for points in flushed for p in points] + list(buffered)
    if everything:
        value, timestamp, step = max(everything, key=lambda p: (p[2], p[1], p[0]))
        live["metrics"][key] = metric_entry(value, timestamp, step)
    live[live_buffer_attribute(key)] = [_pack(key, p) for p in buffered]
    live[LIVE_ANNOUNCED] = set(live.get(LIVE_ANNOUNCED) or ()) | {key}
    live[LIVE_BUFFERED] = int(live.get(LIVE_BUFFERED) or 0) + len(buffered)
    gateway.put_item(live)


def _pack(key: str, point: tuple[float, int, int]) -> bytes:
    value, timestamp, step = point
    return pack_point(Point(key, value, timestamp, step))


def step_metrics(step: int, key_count: int) -> list:
    """One training step's points of keys m0..m<key_count - 1> (values differ per key)."""
    from mlflow.entities import Metric

    return [Metric(f"m{k}", step * 0.5 + k, 1000 + step, step) for k in range(key_count)]


def history(store, run_id: str, key: str) -> list[tuple[int, int, float]]:
    return [(m.timestamp, m.step, m.value) for m in store.get_metric_history(run_id, key)]


def expected(steps, k: int) -> list[tuple[int, int, float]]:
    """What ``history`` returns after ``step_metrics`` of these steps, for key m<k>."""
    return [(1000 + s, s, s * 0.5 + k) for s in steps]
