"""Key builders: the only place that knows key formats.

Every PK/SK/GSI/LSI key value of every item family is built here. docs/schema.md lists
the families; keep it in step with this module.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema.encoding import encode_float, encode_int, invert_hex

SEP = "#"
META = "META"

# ---- configuration -------------------------------------------------------------------
CONFIG_PK = "CONFIG"
SCHEMA_VERSION_SK = "SCHEMA"
SCHEMA_VERSION = 1


def counter_key(name: str) -> dict[str, str]:
    """An atomic counter item (UpdateItem ADD), e.g. for experiment ids."""
    return {"PK": CONFIG_PK, "SK": f"COUNTER{SEP}{name}"}


def schema_version_key() -> dict[str, str]:
    return {"PK": CONFIG_PK, "SK": SCHEMA_VERSION_SK}


# ---- workspaces ----------------------------------------------------------------------
WORKSPACES_GSI1PK = "WORKSPACES"


def workspace_pk(workspace: str) -> str:
    return f"WS{SEP}{workspace}"


def workspace_key(workspace: str) -> dict[str, str]:
    return {"PK": workspace_pk(workspace), "SK": META}


def workspace_list_keys(workspace: str) -> dict[str, str]:
    """GSI1: every workspace under one key, sorted by name."""
    return {"GSI1PK": WORKSPACES_GSI1PK, "GSI1SK": workspace}


# ---- experiments ---------------------------------------------------------------------
def experiment_pk(experiment_id: str) -> str:
    return f"EXP{SEP}{experiment_id}"


def experiment_key(experiment_id: str) -> dict[str, str]:
    return {"PK": experiment_pk(experiment_id), "SK": META}


def experiment_name_key(workspace: str, name: str) -> dict[str, str]:
    """Uniqueness guard: one item per (workspace, experiment name)."""
    return {"PK": workspace_pk(workspace), "SK": f"EXPNAME{SEP}{name}"}


def experiments_gsi1pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}EXPS"


def experiment_list_keys(workspace: str, lifecycle_stage: str, experiment_id: str) -> dict:
    """GSI1: a workspace's experiments, by lifecycle stage then id."""
    return {
        "GSI1PK": experiments_gsi1pk(workspace),
        "GSI1SK": f"{lifecycle_stage}{SEP}{experiment_id_sort_key(experiment_id)}",
    }


def experiment_id_sort_key(experiment_id: str) -> str:
    return encode_int(int(experiment_id)) if experiment_id.isdigit() else experiment_id


# ---- runs ----------------------------------------------------------------------------
def run_pk(run_id: str) -> str:
    return f"RUN{SEP}{run_id}"


def run_key(run_id: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": META}


def runs_gsi1pk(experiment_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}RUNS"


def run_list_keys(experiment_id: str, start_time: int | None, run_id: str) -> dict[str, str]:
    """GSI1: an experiment's runs by start time; read backwards for MLflow's default order
    (start_time DESC, run_id ASC), which is why the id part is hex-inverted."""
    return {
        "GSI1PK": runs_gsi1pk(experiment_id),
        "GSI1SK": f"{encode_int(start_time or 0)}{SEP}{invert_hex(run_id)}",
    }


PARAM_PREFIX = f"PARAM{SEP}"
RUN_TAG_PREFIX = f"TAG{SEP}"
LATEST_METRIC_PREFIX = f"METRIC{SEP}"
RUN_INPUT_PREFIX = f"INPUT{SEP}"
RUN_OUTPUT_PREFIX = f"OUTPUT{SEP}"


def param_key(run_id: str, key: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": f"{PARAM_PREFIX}{key}"}


def run_tag_key(run_id: str, key: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": f"{RUN_TAG_PREFIX}{key}"}


def latest_metric_key(run_id: str, key: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": f"{LATEST_METRIC_PREFIX}{key}"}


def metric_rank_keys(experiment_id: str, key: str, value: float, run_id: str) -> dict[str, str]:
    """GSI2 on latest-metric items: an experiment's runs ranked by one metric's value."""
    return {
        "GSI2PK": f"{experiment_pk(experiment_id)}{SEP}M{SEP}{key}",
        "GSI2SK": f"{encode_float(value)}{SEP}{run_id}",
    }


def metric_history_pk(run_id: str, key: str) -> str:
    """One partition per (run, metric key): history never shares a key with anything that
    grows with the experiment."""
    return f"{run_pk(run_id)}{SEP}MH{SEP}{key}"


def metric_history_key(run_id: str, key: str, step: int, timestamp: int, value: float) -> dict:
    """SK orders by step, then timestamp, then value; identical points share one item,
    as MLflow's metrics primary key (key, timestamp, step, value) makes them one row."""
    return {
        "PK": metric_history_pk(run_id, key),
        "SK": f"{encode_int(step)}{SEP}{encode_int(timestamp)}{SEP}{encode_float(value)}",
    }


def run_input_key(run_id: str, dataset_id: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": f"{RUN_INPUT_PREFIX}{dataset_id}"}


def dataset_key(experiment_id: str, name: str, digest: str) -> dict[str, str]:
    return {"PK": experiment_pk(experiment_id), "SK": f"DATASET{SEP}{name}{SEP}{digest}"}
