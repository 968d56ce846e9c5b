"""Keys of the scorer family (MLflow 3 GenAI scorers and their online scoring configs).

- ``EXP#<exp>#SCORERS`` / ``NAME#<name part>``: the scorer of one (experiment, name), which
  is also the name's uniqueness guard; it holds the scorer id, the latest version number and
  a copy of the latest version (so ``get_scorer`` and ``list_scorers`` read nothing else).
  Heads are also listed per workspace under ``WS#<ws>#SCORERS`` in GSI1
  (SCORERS_BY_WORKSPACE), for listings across many experiments.
- ``SCORER#<scorer id>`` / ``V#<version enc>``: one item per version.
- ``SCORER#<scorer id>`` / ``ONLINE``: the scorer's online scoring config; while its
  sample rate is above zero it is listed under ``WS#<ws>#ONLINESCORERS`` in GSI1
  (ACTIVE_ONLINE_SCORERS), which is what ``get_active_online_scorers`` reads.

Names are key parts written ``=<name>``, or ``~<sha256 hex>`` beyond 512 UTF-8 bytes (the
item keeps the name itself).
"""

from __future__ import annotations

import hashlib

from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.encoding import encode_int
from mlflow_dynamodbstore.schema.keys import SEP, experiment_pk, workspace_pk

SCORER_NAME_PART_BYTES = 512
SCORER_HEAD_PREFIX = f"NAME{SEP}"
SCORER_VERSION_PREFIX = f"V{SEP}"
ONLINE_CONFIG_SK = "ONLINE"


def scorer_name_part(name: str) -> str:
    raw = str(name)
    if len(raw.encode("utf-8")) <= SCORER_NAME_PART_BYTES:
        return f"={raw}"
    return f"~{hashlib.sha256(raw.encode('utf-8')).hexdigest()}"


def experiment_scorers_pk(experiment_id: str) -> str:
    """One partition per experiment: its scorers' head items (a few per experiment)."""
    return f"{experiment_pk(experiment_id)}{SEP}SCORERS"


def scorer_head_key(experiment_id: str, name: str) -> dict[str, str]:
    return {
        "PK": experiment_scorers_pk(experiment_id),
        "SK": f"{SCORER_HEAD_PREFIX}{scorer_name_part(name)}",
    }


def scorers_gsi1pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}SCORERS"


def scorer_list_keys(workspace: str, experiment_id: str, name: str) -> dict[str, str]:
    """SCORERS_BY_WORKSPACE (GSI1): every scorer head of a workspace, by experiment id."""
    return indexes.SCORERS_BY_WORKSPACE.keys(
        scorers_gsi1pk(workspace),
        f"{encode_int(int(experiment_id))}{SEP}{scorer_name_part(name)}",
    )


def scorer_pk(scorer_id: str) -> str:
    """One partition per scorer id: its versions and its online config."""
    return f"SCORER{SEP}{scorer_id}"


def scorer_version_sk(version: int) -> str:
    return f"{SCORER_VERSION_PREFIX}{encode_int(version)}"


def scorer_version_key(scorer_id: str, version: int) -> dict[str, str]:
    return {"PK": scorer_pk(scorer_id), "SK": scorer_version_sk(version)}


def online_config_key(scorer_id: str) -> dict[str, str]:
    return {"PK": scorer_pk(scorer_id), "SK": ONLINE_CONFIG_SK}


def active_online_scorers_gsi1pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}ONLINESCORERS"


def active_online_scorer_list_keys(
    workspace: str, updated_ms: int, config_id: str
) -> dict[str, str]:
    """ACTIVE_ONLINE_SCORERS (GSI1): a workspace's configs with sample_rate > 0, in the
    order they were last upserted (the SQL store's row order)."""
    return indexes.ACTIVE_ONLINE_SCORERS.keys(
        active_online_scorers_gsi1pk(workspace), f"{encode_int(updated_ms)}{SEP}{config_id}"
    )
