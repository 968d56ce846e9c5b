"""Closing runs' step gates (schema/step_gate_keys.py; the step itself: live_step.py).

A gate open for a workspace lets that workspace's training steps update the run's LIVE item
alone, without the transaction that checks META and the experiment. So every write that
makes one of those checks false closes the gate in the same transaction as that write,
or before it:

- a run leaving the active lifecycle (delete): the META write closes the gate and drops
  the run from the experiment's gate list;
- the run ending: the META write that clears ``step_mode`` closes the gate, and settling
  (settle.py) drops the run from the gate list;
- an experiment's delete (``close_experiment_gates``): first the experiment's
  ``closing_gates`` flag, which any opening transaction checks, then the gate list read
  consistently, every gate in it closed, and the flip to deleted (which clears the flag);
- a run moving to another workspace (workspaces/reassign.py): its gate closes.

A spilled metric key (META over its size budget) never passes the gate: the transaction
that announces a key checks that META has not spilled it, and the read path plans an
announced key against LIVE's entry, so it stays inline.

Closing is always safe: a closed gate only sends the next step through the transaction,
which opens it again when its checks hold.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.gateway.table_gateway import batch_parallelism, map_side_by_side
from mlflow_dynamodbstore.repositories.runs.live import LIVE_FLAG
from mlflow_dynamodbstore.repositories.runs.stepping import STEP_MODE
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.metric_rank_keys import live_key
from mlflow_dynamodbstore.schema.step_gate_keys import (
    CLOSING_GATES,
    GATE,
    gate_entry_key,
    gate_list_pks,
)

Item = dict[str, Any]


def gate_closing_actions(gateway: TableGateway, meta: Item, planned: Item) -> list[dict]:
    """The transaction actions a META write from ``meta`` to ``planned`` needs so that no
    training step passes a gate the write makes wrong (none for a run without LIVE)."""
    if not planned.get(LIVE_FLAG):
        return []
    deleted = (
        planned.get("lifecycle_stage") != LifecycleStage.ACTIVE
        and meta.get("lifecycle_stage") == LifecycleStage.ACTIVE
    )
    # the run ends: settling follows (and drops the gate list entry); closing now stops
    # steps through the gate from outrunning settling's read-then-write
    ending = bool(meta.get(STEP_MODE)) and not planned.get(STEP_MODE)
    if not (deleted or ending):
        return []
    # no condition: LIVE exists whenever META has LIVE_FLAG (they are written together)
    close = gateway.tx_update(live_key(planned["run_id"]), "REMOVE #g", names={"#g": GATE})
    if not deleted:
        return [close]
    return [
        close,
        gateway.tx_delete(gate_entry_key(str(planned["experiment_id"]), planned["run_id"])),
    ]


def close_gate(gateway: TableGateway, run_id: str) -> bool:
    """Close one run's gate (an UpdateItem that creates nothing): False when the run has
    no LIVE item."""
    try:
        gateway.update_item(
            live_key(run_id),
            "REMOVE #g",
            names={"#g": GATE},
            condition=Attr("PK").exists(),
        )
        return True
    except ConditionFailed:
        return False


def gate_listed_runs(gateway: TableGateway, experiment_id: str) -> list[Item]:
    """The experiment's gate list, read consistently: one Query per shard, side by side."""
    pages = map_side_by_side(
        lambda pk: list(gateway.query(Key("PK").eq(pk), consistent=True)),
        gate_list_pks(experiment_id),
        batch_parallelism(),
    )
    return [entry for page in pages for entry in page]


def close_experiment_gates(gateway: TableGateway, experiment_id: str) -> int:
    """Before an experiment's delete flips it: set ``closing_gates`` (no gate of its runs
    opens from now on: the opening transaction checks the flag), then close every gate in
    its list and drop the entries. The flip clears the flag. A crash before the flip leaves
    the flag: steps take the transaction and then the read path (slower, still exact)
    until the delete is run again. Returns the gates closed."""
    gateway.update_item(
        keys.experiment_key(experiment_id),
        "SET #c = :t",
        names={"#c": CLOSING_GATES},
        values={":t": True},
        condition=Attr("PK").exists(),
    )
    entries = gate_listed_runs(gateway, experiment_id)
    map_side_by_side(lambda e: close_gate(gateway, e["run_id"]), entries, batch_parallelism())
    gateway.batch_write(deletes=[{"PK": e["PK"], "SK": e["SK"]} for e in entries])
    return len(entries)
