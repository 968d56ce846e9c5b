"""Key builders: the only place that knows key formats.

Every PK/SK/GSI/LSI key value of every item family is built here. docs/schema.md lists
the families; keep it in step with this module.
"""

from __future__ import annotations

import math

from mlflow_dynamodbstore.schema.encoding import (
    decode_float,
    decode_int,
    encode_float,
    encode_int,
    invert_hex,
)

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
RUN_INPUT_PREFIX = f"INPUT{SEP}"
RUN_MODEL_INPUT_PREFIX = f"MODELIN{SEP}"
RUN_OUTPUT_PREFIX = f"OUTPUT{SEP}"
# The latest-value/rank item of a (run, metric key) shares the history partition; history
# sort keys start with a digit, so "LATEST" sorts after every point.
METRIC_LATEST_SK = "LATEST"
_NAN_SUFFIX = f"{SEP}N"


def param_key(run_id: str, key: str) -> dict[str, str]:
    """A spilled param value (too long for the run META item)."""
    return {"PK": run_pk(run_id), "SK": f"{PARAM_PREFIX}{key}"}


def run_tag_key(run_id: str, key: str) -> dict[str, str]:
    """A spilled run tag value (too long for the run META item)."""
    return {"PK": run_pk(run_id), "SK": f"{RUN_TAG_PREFIX}{key}"}


def metric_history_pk(run_id: str, key: str) -> str:
    """One partition per (run, metric key): history never shares a key with anything that
    grows with the experiment."""
    return f"{run_pk(run_id)}{SEP}MH{SEP}{key}"


def metric_latest_key(run_id: str, key: str) -> dict[str, str]:
    """The latest value of one metric of a run; it carries the GSI2 rank keys."""
    return {"PK": metric_history_pk(run_id, key), "SK": METRIC_LATEST_SK}


def metric_rank_keys(experiment_id: str, key: str, value: float, run_id: str) -> dict[str, str]:
    """GSI2 on latest-metric items: an experiment's runs ranked by one metric's value
    (NaN sorts after +inf)."""
    return {
        "GSI2PK": f"{experiment_pk(experiment_id)}{SEP}M{SEP}{key}",
        "GSI2SK": f"{encode_float(value)}{SEP}{run_id}",
    }


def metric_history_sk(timestamp: int, step: int, value: float) -> str:
    """Orders points like MLflow's get_metric_history (timestamp, step, value). The key is the
    whole point: identical points are one item, as MLflow's metrics primary key
    (key, timestamp, step, value, is_nan) makes them one row. NaN is stored as value 0 with a
    ``#N`` suffix, as the SQL store stores it (value 0, is_nan)."""
    is_nan = math.isnan(value)
    encoded = encode_float(0.0 if is_nan else value)
    return f"{encode_int(timestamp)}{SEP}{encode_int(step)}{SEP}{encoded}" + (
        _NAN_SUFFIX if is_nan else ""
    )


def metric_history_key(run_id: str, key: str, timestamp: int, step: int, value: float) -> dict:
    return {"PK": metric_history_pk(run_id, key), "SK": metric_history_sk(timestamp, step, value)}


def decode_metric_history_sk(sk: str) -> tuple[int, int, float]:
    """(timestamp, step, value) of a history point's sort key."""
    timestamp, step, encoded, *nan = sk.split(SEP)
    value = math.nan if nan else decode_float(encoded)
    return decode_int(timestamp), decode_int(step), value


def run_input_key(run_id: str, input_id: str) -> dict[str, str]:
    """A dataset input of a run; ``input_id`` is derived from the dataset's (name, digest)."""
    return {"PK": run_pk(run_id), "SK": f"{RUN_INPUT_PREFIX}{input_id}"}


def run_model_input_key(run_id: str, model_id: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": f"{RUN_MODEL_INPUT_PREFIX}{model_id}"}


def run_output_key(run_id: str, model_id: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": f"{RUN_OUTPUT_PREFIX}{model_id}"}
