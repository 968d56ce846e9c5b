"""Keys of the tag index: one entry item per (run or experiment, indexed tag).

An entry lives in its owner's partition (``RUN#<id>`` / ``EXP#<id>``, sort key
``TIX#<tag key>``), so it is bounded by the owner's tags and goes with the owner's
partition when that is purged. It is placed in GSI2 (overloaded, like the metric rankings)
under one partition per (experiment, tag key) for runs and per (workspace, tag key) for
experiments, sorted by the tag's value and then the owner id: an equality or prefix
filter on the tag is one ``begins_with`` Query of that partition.

Sort keys are at most 1,024 bytes: values longer than ``VALUE_KEY_BYTES`` are cut (at a
character boundary) in the key. A key prefix then says "the value starts with this", so
every candidate is verified against META's value by the search (the exact predicate).
"""

from __future__ import annotations

from boto3.dynamodb.conditions import ConditionBase, Key

from mlflow_dynamodbstore.schema import indexes, table
from mlflow_dynamodbstore.schema.config_keys import CONFIG_PK
from mlflow_dynamodbstore.schema.keys import (
    SEP,
    WORKSPACE_ATTRIBUTE,
    experiment_pk,
    run_pk,
    workspace_pk,
)

ENTRY_PREFIX = f"TIX{SEP}"
# Room for the separator and an owner id (run ids are at most 256 characters) below 1,024.
VALUE_KEY_BYTES = 640
# Tag keys are at most 250 characters (MLflow's limit); longer ones are never indexed.
MAX_TAG_KEY_BYTES = 1000


def truncate_value(value: str) -> str:
    """``value`` cut to at most VALUE_KEY_BYTES of UTF-8, at a character boundary."""
    raw = value.encode("utf-8")
    if len(raw) <= VALUE_KEY_BYTES:
        return value
    return raw[:VALUE_KEY_BYTES].decode("utf-8", errors="ignore")


def is_cut(value: str) -> bool:
    return len(value.encode("utf-8")) > VALUE_KEY_BYTES


def indexable_key(key: str) -> bool:
    return 0 < len(key.encode("utf-8")) <= MAX_TAG_KEY_BYTES


def entry_sk(key: str) -> str:
    return f"{ENTRY_PREFIX}{key}"


def entries_condition(owner_pk: str) -> ConditionBase:
    """Key condition of an owner's entries (``RUN#<id>`` or ``EXP#<id>`` partition)."""
    return Key(table.PK).eq(owner_pk) & Key(table.SK).begins_with(ENTRY_PREFIX)


def run_entry_key(run_id: str, key: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": entry_sk(key)}


def experiment_entry_key(experiment_id: str, key: str) -> dict[str, str]:
    return {"PK": experiment_pk(experiment_id), "SK": entry_sk(key)}


def runs_by_tag_pk(experiment_id: str, key: str) -> str:
    return f"TAGIX{SEP}RUN{SEP}{experiment_id}{SEP}{key}"


def experiments_by_tag_pk(workspace: str, key: str) -> str:
    return f"TAGIX{SEP}{workspace_pk(workspace)}{SEP}EXP{SEP}{key}"


def value_sk(value: str, owner_id: str) -> str:
    return f"{truncate_value(value)}{SEP}{owner_id}"


def equal_prefix(value: str) -> str:
    """Sort key prefix of every entry whose value may equal ``value``."""
    return truncate_value(value) if is_cut(value) else f"{value}{SEP}"


def starts_with_prefix(prefix: str) -> str:
    """Sort key prefix of every entry whose value may start with ``prefix``."""
    return truncate_value(prefix)


def run_tag_index_keys(run_id: str, experiment_id: str, key: str, value: str) -> dict[str, str]:
    """RUNS_BY_TAG (GSI2): an experiment's runs with tag ``key``, by value."""
    return indexes.RUNS_BY_TAG.keys(runs_by_tag_pk(experiment_id, key), value_sk(value, run_id))


def experiment_tag_index_keys(
    workspace: str, experiment_id: str, key: str, value: str
) -> dict[str, str]:
    """EXPERIMENTS_BY_TAG (GSI2): a workspace's experiments with tag ``key``, by value."""
    return indexes.EXPERIMENTS_BY_TAG.keys(
        experiments_by_tag_pk(workspace, key), value_sk(value, experiment_id)
    )


def run_entry(
    run_id: str, experiment_id: str, key: str, value: str, workspace: str | None
) -> dict[str, str]:
    """The index entry of one run tag (RUNS_BY_TAG), owned by the run's workspace."""
    owner = {WORKSPACE_ATTRIBUTE: workspace} if workspace else {}
    return {
        **owner,
        **run_entry_key(run_id, key),
        **run_tag_index_keys(run_id, experiment_id, key, value),
        "run_id": run_id,
        "experiment_id": experiment_id,
        "key": key,
    }


def experiment_entry(workspace: str, experiment_id: str, key: str, value: str) -> dict[str, str]:
    """The index entry of one experiment tag (EXPERIMENTS_BY_TAG)."""
    return {
        WORKSPACE_ATTRIBUTE: workspace,
        **experiment_entry_key(experiment_id, key),
        **experiment_tag_index_keys(workspace, experiment_id, key, value),
        "experiment_id": experiment_id,
        "key": key,
    }


# ---- index state: which globs are complete (backfilled) --------------------------------
def state_key() -> dict[str, str]:
    """Which globs every owner's entries exist for (written by the backfill; the search
    trusts the index only for those)."""
    return {"PK": CONFIG_PK, "SK": "TAGINDEX"}


def backfill_record_key() -> dict[str, str]:
    """The resumable backfill's cursor."""
    return {"PK": CONFIG_PK, "SK": f"JOB{SEP}TAG_INDEX_BACKFILL"}
