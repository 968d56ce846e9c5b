"""Keys of a run's step gate (issue #20, repositories/runs/step_gate.py).

A LIVE item whose ``gate`` attribute names a workspace takes that workspace's training
steps as one conditional UpdateItem of LIVE alone: the gate stands for what the step would
otherwise check on META and on the experiment in a transaction. Only a transaction that
checks both opens it, and every write that makes one of those checks false closes it.

So that deleting an experiment can close the gates of its runs, opening a gate also puts
an entry in the experiment's gate list: base-table partitions (read consistently)
``EXP#<exp>#GATES#<nn>``, sharded like the rank entries (``rank_shard``) so that a sweep of
many runs starting at once spreads these writes. The experiment's ``closing_gates`` flag
(set first by a delete) stops any gate from opening while the list is read.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema.keys import SEP, experiment_pk
from mlflow_dynamodbstore.schema.metric_rank_keys import RANK_SHARDS, rank_shard

# On LIVE: the workspace whose steps may update LIVE alone (absent: closed).
GATE = "gate"
# On experiment META: a delete is closing its runs' gates; none may open.
CLOSING_GATES = "closing_gates"
_GATE_LIST = f"GATES{SEP}"
_RUN_PREFIX = f"RUN{SEP}"


def gate_list_pk(experiment_id: str, shard: int) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}{_GATE_LIST}{shard:02d}"


def gate_list_pks(experiment_id: str) -> list[str]:
    """Every partition of the experiment's gate list."""
    return [gate_list_pk(experiment_id, shard) for shard in range(RANK_SHARDS)]


def gate_entry_key(experiment_id: str, run_id: str) -> dict[str, str]:
    return {
        "PK": gate_list_pk(experiment_id, rank_shard(run_id)),
        "SK": f"{_RUN_PREFIX}{run_id}",
    }


def gate_entry(experiment_id: str, run_id: str) -> dict[str, str]:
    """No owner attribute: the experiment id it derives from was checked (as name guards),
    and a run moved to another workspace keeps its experiment's list."""
    return {
        **gate_entry_key(experiment_id, run_id),
        "run_id": run_id,
        "experiment_id": experiment_id,
    }
