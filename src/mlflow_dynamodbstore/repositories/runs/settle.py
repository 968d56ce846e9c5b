"""Settling a run that stepped through its LIVE item (option D, stepping.py).

``update_run_info`` to a terminal status clears ``STEP_MODE`` in the META write it makes
anyway, so no transaction step commits after it; then the run is settled here: LIVE's
buffers are flushed into blocks, and one transaction gives each announced key's LATEST
item its value rank entry again (the greater of META's and LIVE's entries), empties LIVE's
buffers and ``announced`` and closes its step gate (step_gate.py), on condition that
neither META nor LIVE moved since they were read (a racing writer makes it read again; a
step through the gate in between is settled with the rest). With no key left stepping,
META takes LIVE's newer entries and loses ``live_metrics`` in the same transaction, so
readers of the finished run no longer read LIVE. Every later metric write of the run takes
the read path, whose ranks are exact. A run that never ends keeps its keys stepping (its
``~S#`` entries stay, and ordered searches keep reading its value from LIVE: exact, at the
cost of one more run to read) until ``runs settle-idle`` settles it
(lifecycle/settle_idle.py).
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.optimistic import version_of
from mlflow_dynamodbstore.repositories.runs.items import is_spilled, latest_item, metric_entry_value
from mlflow_dynamodbstore.repositories.runs.live import (
    LIVE_FLAG,
    LIVE_VERSION,
    has_live,
    merge_live,
    meta_and_live,
)
from mlflow_dynamodbstore.repositories.runs.metric_history import live_flushed_items
from mlflow_dynamodbstore.repositories.runs.stepping import (
    IN_LIVE,
    LIVE_ANNOUNCED,
    LIVE_BUFFERED,
    LIVE_FLUSH_SEQ,
    announced_keys,
    flush_seq,
)
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.live_step_keys import buffer_key_of
from mlflow_dynamodbstore.schema.metric_rank_keys import live_key
from mlflow_dynamodbstore.schema.step_gate_keys import GATE, gate_entry_key

Item = dict[str, Any]
# Attempts when a writer moves META or LIVE between settling's read and its write.
_SETTLE_ATTEMPTS = 10


def settle_run(gateway: TableGateway, run_id: str) -> bool:
    """Settle the run (nothing to do: no LIVE, or nothing announced, buffered or left to
    fold into META). False when writers kept moving META or LIVE for every attempt."""
    for _ in range(_SETTLE_ATTEMPTS):
        meta, live = meta_and_live(gateway, run_id)
        buffers = [a for a in live or {} if buffer_key_of(a) is not None]
        if meta is None or live is None or not (has_live(meta) or announced_keys(live) or buffers):
            return True
        try:
            gateway.transact_write(_settle_actions(gateway, meta, live, buffers))
            return True
        except TransactionCancelled as exc:
            if not (exc.is_condition_failure or exc.has_conflict):
                raise
    return False


def _settle_actions(
    gateway: TableGateway, meta: Item, live: Item, buffers: list[str]
) -> list[dict]:
    run_id, experiment_id = meta["run_id"], str(meta["experiment_id"])
    seq = flush_seq(live) + 1
    blocks = live_flushed_items(run_id, live, seq)
    gateway.batch_write(blocks)
    merged = merge_live(meta, live)
    settled, kept = [], []
    for key in sorted(announced_keys(live)):
        entry = merged.get("metrics", {}).get(key)
        if entry is None or is_spilled(entry):
            kept.append(key)  # its ~S# entry stays: the walk reads its value from LIVE
            continue
        value = metric_entry_value(entry)
        item = latest_item(run_id, experiment_id, key, value, entry["timestamp"], entry["step"])
        settled.append(
            gateway.tx_update(
                keys.metric_latest_key(run_id, key),
                "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(item) - 2)) + " REMOVE #nil",
                names={
                    "#nil": IN_LIVE,
                    **{f"#s{i}": k for i, k in enumerate(k for k in item if k not in ("PK", "SK"))},
                },
                values={
                    f":s{i}": v
                    for i, v in enumerate(v for k, v in item.items() if k not in ("PK", "SK"))
                },
            )
        )
    names = {
        "#v": LIVE_VERSION,
        "#n": LIVE_BUFFERED,
        "#fs": LIVE_FLUSH_SEQ,
        "#an": LIVE_ANNOUNCED,
    }
    values: dict[str, Any] = {":one": 1, ":zero": 0, ":empty": []}
    sets = ["#n = :zero"]
    if blocks:  # a flush number without blocks would send history readers looking for them
        values[":seq"] = seq
        sets.append("#fs = :seq")
    else:
        del names["#fs"]
    if not buffers:
        del values[":empty"]
    for i, attribute in enumerate(buffers):
        names[f"#b{i}"] = attribute
        sets.append(f"#b{i} = :empty")
    # the run's steps take the read path from now on: its gate closes (step_gate_keys.py)
    names["#g"] = GATE
    if kept:
        values[":kept"] = set(kept)
        sets.append("#an = :kept")
        update = "SET " + ", ".join(sets) + " ADD #v :one REMOVE #g"
    else:
        update = "SET " + ", ".join(sets) + " ADD #v :one REMOVE #an, #g"
    if live.get(LIVE_VERSION) is None:
        version_condition = "attribute_not_exists(#v)"
    else:
        values[":ver"] = int(live[LIVE_VERSION])
        version_condition = "#v = :ver"
    return [
        _meta_action(gateway, meta, merged, kept),
        gateway.tx_update(
            live_key(run_id),
            update,
            names=names,
            values=values,
            condition_expression=version_condition,
        ),
        gateway.tx_delete(gate_entry_key(experiment_id, run_id)),
        *settled,
    ]


def _meta_action(gateway: TableGateway, meta: Item, merged: Item, kept: list[str]) -> dict:
    """META's part of settling, on condition that it is at the version read: with no key
    left stepping, LIVE's newer entries fold into META and ``live_metrics`` goes, so
    readers of the finished run (search pages above all) skip its LIVE item; a kept
    (spilled) key still needs LIVE, so META is only checked then."""
    version = version_of(meta)
    if kept:
        return gateway.tx_check(keys.run_key(meta["run_id"]), version.condition)
    return gateway.tx_update(
        keys.run_key(meta["run_id"]),
        "SET #mt = :mt, #ver = :ver REMOVE #lf",
        names={"#mt": "metrics", "#ver": version.attribute, "#lf": LIVE_FLAG},
        values={":mt": merged.get("metrics") or {}, ":ver": version.next},
        condition=version.condition,
    )
