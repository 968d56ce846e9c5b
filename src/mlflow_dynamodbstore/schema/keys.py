"""Key builders: the only place that knows key formats.

Every PK/SK/GSI/LSI key value of every item family is built here. docs/schema.md lists
the families; keep it in step with this module.
"""

from __future__ import annotations

import hashlib
import math

from mlflow_dynamodbstore.schema import indexes
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
# Items that belong to a workspace carry it here; stores read and write through a gateway
# scoped on it (gateway/scoped.py), so another workspace's item is invisible and unwritable.
WORKSPACE_ATTRIBUTE = "workspace"


def workspace_pk(workspace: str) -> str:
    return f"WS{SEP}{workspace}"


def workspace_key(workspace: str) -> dict[str, str]:
    return {"PK": workspace_pk(workspace), "SK": META}


def workspace_list_keys(workspace: str) -> dict[str, str]:
    """WORKSPACES_BY_NAME (GSI1): every workspace under one key, sorted by name."""
    return indexes.WORKSPACES_BY_NAME.keys(WORKSPACES_GSI1PK, workspace)


# ---- experiments ---------------------------------------------------------------------
def experiment_pk(experiment_id: str) -> str:
    return f"EXP{SEP}{experiment_id}"


def experiment_key(experiment_id: str) -> dict[str, str]:
    return {"PK": experiment_pk(experiment_id), "SK": META}


def experiment_name_key(workspace: str, name: str) -> dict[str, str]:
    """Uniqueness guard: one item per (workspace, experiment name)."""
    return {"PK": workspace_pk(workspace), "SK": f"EXPNAME{SEP}{name}"}


def experiments_gsi1pk(workspace: str, lifecycle_stage: str) -> str:
    """One GSI1 partition per (workspace, lifecycle stage): delete/restore move an experiment
    by rewriting GSI1PK alone, without reading the item first."""
    return f"{workspace_pk(workspace)}{SEP}EXPS{SEP}{lifecycle_stage}"


def experiment_list_keys(
    workspace: str, lifecycle_stage: str, experiment_id: str, creation_time: int
) -> dict[str, str]:
    """EXPERIMENTS_BY_CREATION (GSI1): a workspace's experiments of one stage, read
    backwards in MLflow's default order (creation_time DESC, experiment_id ASC)."""
    return indexes.EXPERIMENTS_BY_CREATION.keys(
        experiments_gsi1pk(workspace, lifecycle_stage),
        experiment_list_sort_key(creation_time, experiment_id),
    )


def experiment_list_sort_key(creation_time: int, experiment_id: str) -> str:
    """``<creation_time>#<-id>``: the id is negated so that a backwards walk yields equal
    creation times by ascending id."""
    return f"{encode_int(int(creation_time))}{SEP}{encode_int(-int(experiment_id))}"


# ---- runs ----------------------------------------------------------------------------
def run_pk(run_id: str) -> str:
    return f"RUN{SEP}{run_id}"


def run_key(run_id: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": META}


def runs_gsi1pk(experiment_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}RUNS"


def run_list_keys(experiment_id: str, start_time: int | None, run_id: str) -> dict[str, str]:
    """RUNS_BY_START_TIME (GSI1): an experiment's runs by start time; read backwards for
    MLflow's default order (start_time DESC, run_id ASC), which is why the id part is
    hex-inverted."""
    return indexes.RUNS_BY_START_TIME.keys(
        runs_gsi1pk(experiment_id), run_list_sk(start_time, run_id)
    )


def run_list_sk(start_time: int | None, run_id: str) -> str:
    """A run's sort key in RUNS_BY_START_TIME (also where a cursor resumes)."""
    return f"{encode_int(start_time or 0)}{SEP}{invert_hex(run_id)}"


def run_list_time_bound(start_time: int) -> str:
    """The GSI1SK prefix of runs started at ``start_time``: ``GSI1SK < bound(t + 1)`` selects
    the runs started at or before t, ``GSI1SK >= bound(t)`` those started at or after t."""
    return encode_int(start_time)


PARAM_PREFIX = f"PARAM{SEP}"
RUN_TAG_PREFIX = f"TAG{SEP}"
RUN_INPUT_PREFIX = f"INPUT{SEP}"
RUN_MODEL_INPUT_PREFIX = f"MODELIN{SEP}"
RUN_OUTPUT_PREFIX = f"OUTPUT{SEP}"
# The latest-value/rank item of a (run, metric key) shares the history partition; history
# sort keys start with a digit, so "LATEST" sorts after every point.
METRIC_LATEST_SK = "LATEST"
# Blocks of several points of one (run, key) sort after every point ("B" > digits) and
# before LATEST, so one range reads points and blocks, another only the blocks.
METRIC_BLOCK_PREFIX = f"B{SEP}"
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
    """RUNS_BY_METRIC (GSI2) on latest-metric items: an experiment's runs ranked by one
    metric's value (NaN sorts after +inf)."""
    return indexes.RUNS_BY_METRIC.keys(
        f"{experiment_pk(experiment_id)}{SEP}M{SEP}{key}", f"{encode_float(value)}{SEP}{run_id}"
    )


def metric_rank_pk(experiment_id: str, key: str) -> str:
    """GSI2PK of one experiment's ranking of runs by one metric (see metric_rank_keys)."""
    return metric_rank_keys(experiment_id, key, 0.0, "")[indexes.RUNS_BY_METRIC.pk]


def metric_rank_value_prefix(value: float) -> str:
    """The GSI2SK prefix of the ranks whose value is ``value`` (for NaN: of every NaN)."""
    return indexes.RUNS_BY_METRIC.sort_key(metric_rank_keys("", "", value, ""))


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


def metric_block_key(run_id: str, key: str, digest: str) -> dict[str, str]:
    """A block of history points logged together (see repositories/metrics.py); the digest
    of its content names it, so writing the same block again is the same item."""
    return {"PK": metric_history_pk(run_id, key), "SK": f"{METRIC_BLOCK_PREFIX}{digest}"}


def decode_metric_history_sk(sk: str) -> tuple[int, int, float]:
    """(timestamp, step, value) of a history point's sort key."""
    timestamp, step, encoded, *nan = sk.split(SEP)
    value = math.nan if nan else decode_float(encoded)
    return decode_int(timestamp), decode_int(step), value


def run_input_key(run_id: str, input_id: str) -> dict[str, str]:
    """A dataset input of a run; ``input_id`` is derived from the dataset's (name, digest)."""
    return {"PK": run_pk(run_id), "SK": f"{RUN_INPUT_PREFIX}{input_id}"}


RUN_INPUT_PART_MARK = f"{SEP}PART{SEP}"


def run_input_part_key(run_id: str, input_id: str, part: int) -> dict[str, str]:
    """One binary part of a dataset input too big for one item; sorts after its input."""
    base = run_input_key(run_id, input_id)
    return {"PK": base["PK"], "SK": f"{base['SK']}{RUN_INPUT_PART_MARK}{part:05d}"}


def run_input_sk_of_part(part_sk: str) -> str | None:
    """The sort key of the input a part belongs to, or None if ``part_sk`` is no part."""
    if not part_sk.startswith(RUN_INPUT_PREFIX) or RUN_INPUT_PART_MARK not in part_sk:
        return None
    return part_sk.split(RUN_INPUT_PART_MARK)[0]


def run_model_input_key(run_id: str, model_id: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": f"{RUN_MODEL_INPUT_PREFIX}{model_id}"}


def run_output_key(run_id: str, model_id: str) -> dict[str, str]:
    return {"PK": run_pk(run_id), "SK": f"{RUN_OUTPUT_PREFIX}{model_id}"}


# ---- model registry ------------------------------------------------------------------
# A registered model has a stable internal id: its versions, tags and aliases live under
# ``RM#<id>``, so a rename rewrites only the META item and the name guard.
def registered_model_pk(model_id: str) -> str:
    return f"RM{SEP}{model_id}"


def registered_model_key(model_id: str) -> dict[str, str]:
    return {"PK": registered_model_pk(model_id), "SK": META}


def registered_model_name_key(workspace: str, name: str) -> dict[str, str]:
    """Uniqueness guard and name -> id lookup: one item per (workspace, model name)."""
    return {"PK": workspace_pk(workspace), "SK": f"RMNAME{SEP}{name}"}


def registered_models_gsi1pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}RMS"


def registered_model_list_keys(workspace: str, name: str) -> dict[str, str]:
    """REGISTERED_MODELS_BY_NAME (GSI1): a workspace's registered models, by name."""
    return indexes.REGISTERED_MODELS_BY_NAME.keys(registered_models_gsi1pk(workspace), name)


MODEL_VERSION_PREFIX = f"V{SEP}"


def model_version_key(model_id: str, version: int) -> dict[str, str]:
    """Versions sit in their model's partition, in version order (fixed-width numbers)."""
    return {
        "PK": registered_model_pk(model_id),
        "SK": f"{MODEL_VERSION_PREFIX}{encode_int(version)}",
    }


def model_versions_gsi1pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}MVS"


# MODEL_VERSIONS_BY_WORKSPACE's sort keys (version-number order): version_number_keys.py


def model_versions_by_run_gsi2pk(workspace: str, run_id: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}MVRUN{SEP}{run_id}"


def model_version_run_keys(workspace: str, run_id: str, model_id: str, version: int) -> dict:
    """MODEL_VERSIONS_BY_RUN (GSI2): the versions registered from one run
    (``run_id = '...'`` searches)."""
    return indexes.MODEL_VERSIONS_BY_RUN.keys(
        model_versions_by_run_gsi2pk(workspace, run_id), f"{model_id}{SEP}{encode_int(version)}"
    )


def webhook_key(webhook_id: str) -> dict[str, str]:
    return {"PK": f"WH{SEP}{webhook_id}", "SK": META}


def webhooks_gsi1pk(workspace: str, *, deleted: bool = False) -> str:
    """Live webhooks under one key, soft-deleted ones under another (kept, as the SQL store
    keeps their rows, and findable when their workspace is deleted)."""
    return f"{workspace_pk(workspace)}{SEP}WHS" + (f"{SEP}deleted" if deleted else "")


def webhook_list_keys(
    workspace: str, creation_time: int, webhook_id: str, *, deleted: bool = False
) -> dict[str, str]:
    """WEBHOOKS_BY_CREATION (GSI1): a workspace's live (or deleted) webhooks by creation time
    (read backwards: newest first)."""
    return indexes.WEBHOOKS_BY_CREATION.keys(
        webhooks_gsi1pk(workspace, deleted=deleted),
        f"{encode_int(creation_time)}{SEP}{webhook_id}",
    )


def webhook_secret_key_key() -> dict[str, str]:
    """The table's fallback Fernet key for webhook secrets (used only when
    MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY is unset, so that every server can decrypt)."""
    return {"PK": CONFIG_PK, "SK": "WEBHOOK_SECRET_KEY"}


# ---- traces --------------------------------------------------------------------------
# One partition per trace: its META item (info, tags, metadata, assessments), then its
# spans. Nothing under a trace key grows with the experiment.
TRACE_SPAN_PREFIX = f"SPAN{SEP}"
TRACE_SPAN_CHUNK_PREFIX = f"SPANC{SEP}"
# Sort keys below this bound are the trace's META item (spans start with "SPAN").
TRACE_INFO_SK_BOUND = "SPAN"


def trace_pk(trace_id: str) -> str:
    return f"TRACE{SEP}{trace_id}"


def trace_key(trace_id: str) -> dict[str, str]:
    return {"PK": trace_pk(trace_id), "SK": META}


def traces_gsi3pk(experiment_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}TRACES"


def trace_list_sk(timestamp_ms: int, trace_id: str) -> str:
    """Read forwards, GSI3 gives MLflow's default trace order (timestamp_ms DESC, trace id
    ASC): the timestamp is negated, the id kept as is."""
    return f"{encode_int(-int(timestamp_ms))}{SEP}{trace_id}"


def trace_list_sk_bound(timestamp_ms: int) -> str:
    """The sort key prefix shared by every trace of one timestamp (for range conditions)."""
    return encode_int(-int(timestamp_ms))


def trace_list_keys(experiment_id: str, timestamp_ms: int, trace_id: str) -> dict[str, str]:
    """TRACES_BY_TIMESTAMP (GSI3): an experiment's traces, newest first."""
    return indexes.TRACES_BY_TIMESTAMP.keys(
        traces_gsi3pk(experiment_id), trace_list_sk(timestamp_ms, trace_id)
    )


def span_key(trace_id: str, span_id: str) -> dict[str, str]:
    """A span's head item: its columns and the first chunk of its (compressed) content."""
    return {"PK": trace_pk(trace_id), "SK": f"{TRACE_SPAN_PREFIX}{span_id}"}


def span_chunk_key(trace_id: str, span_id: str, generation: str, index: int) -> dict[str, str]:
    """Further chunks of a large span's content. ``generation`` is fixed per write of the span,
    so a re-logged span never mixes its chunks with an earlier version's."""
    return {
        "PK": trace_pk(trace_id),
        "SK": f"{TRACE_SPAN_CHUNK_PREFIX}{span_id}{SEP}{generation}{SEP}{index:06d}",
    }


# ---- logged models -------------------------------------------------------------------
# One partition per logged model: META (attributes, tags and params maps) and its metric
# rows. An experiment's models are listed through GSI4, never by a key that holds them all.
LOGGED_MODEL_METRIC_PREFIX = f"METRIC{SEP}"


def logged_model_pk(model_id: str) -> str:
    return f"LM{SEP}{model_id}"


def logged_model_key(model_id: str) -> dict[str, str]:
    return {"PK": logged_model_pk(model_id), "SK": META}


def logged_models_gsi4pk(experiment_id: str) -> str:
    return f"{experiment_pk(experiment_id)}{SEP}LMS"


def logged_model_list_prefix(lifecycle_stage: str) -> str:
    """The GSI4SK prefix of an experiment's models in one lifecycle stage."""
    return f"{lifecycle_stage}{SEP}"


def logged_model_list_keys(
    experiment_id: str, lifecycle_stage: str, creation_timestamp: int, model_id: str
) -> dict[str, str]:
    """LOGGED_MODELS_BY_EXPERIMENT (GSI4): an experiment's models by lifecycle stage, then
    newest first and model id ascending (MLflow's default order) when read forwards."""
    return indexes.LOGGED_MODELS_BY_EXPERIMENT.keys(
        logged_models_gsi4pk(experiment_id),
        f"{logged_model_list_prefix(lifecycle_stage)}"
        f"{encode_int(-int(creation_timestamp))}{SEP}{model_id}",
    )


def logged_model_metric_key(
    model_id: str, name: str, timestamp: int, step: int, run_id: str
) -> dict[str, str]:
    """One metric row of a model, unique per (name, timestamp, step, run) as the SQL store's
    logged_model_metrics primary key. Metric names cannot contain ``#``."""
    return {
        "PK": logged_model_pk(model_id),
        "SK": f"{LOGGED_MODEL_METRIC_PREFIX}{name}{SEP}{encode_int(timestamp)}{SEP}"
        f"{encode_int(step)}{SEP}{run_id}",
    }


def dataset_summaries_pk(experiment_id: str) -> str:
    """The distinct (dataset, context) pairs logged as inputs to an experiment's runs, for
    the UI's dataset list; bounded by the experiment's distinct datasets, not its runs."""
    return f"{experiment_pk(experiment_id)}{SEP}DATASETS"


def dataset_summary_key(experiment_id: str, summary_id: str) -> dict[str, str]:
    return {"PK": dataset_summaries_pk(experiment_id), "SK": summary_id}


def datasets_pk(experiment_id: str) -> str:
    """The datasets an experiment's runs logged, one item per (name, digest): the first
    logging fixes source and schema for every later one, as the SQL store's dataset rows."""
    return f"{experiment_pk(experiment_id)}{SEP}DATASET_IDS"


def dataset_key(experiment_id: str, dataset_id: str) -> dict[str, str]:
    return {"PK": datasets_pk(experiment_id), "SK": dataset_id}


# ---- auth (the dynamodb-auth app) ----------------------------------------------------
# MLflow 3.17's basic-auth model: users, roles (per workspace) holding permissions on
# (resource type, resource pattern), and user-role assignments. A user's direct grants live
# on a hidden per-(user, workspace) role named ``__user_<id>__``, as in the SQL store.
# User-given key parts (user names, role names, resource patterns) are written as
# ``=<value>`` while short and as ``~<sha256>`` beyond AUTH_KEY_PART_BYTES (DynamoDB caps
# sort keys at 1,024 bytes); the item keeps the value itself, and readers compare it.
AUTH_KEY_PART_BYTES = 512
AUTH_USERS_GSI1PK = "AUTH#USERS"
AUTH_ROLES_GSI1PK = "AUTH#ROLES"
AUTH_PERMISSION_PREFIX = f"P{SEP}"
AUTH_ROLE_MEMBER_PREFIX = f"U{SEP}"
AUTH_USER_ROLE_PREFIX = f"ROLE{SEP}"


def auth_key_part(value: str) -> str:
    """A user-given value as a key part: itself while short, its digest beyond that."""
    raw = str(value)
    if len(raw.encode("utf-8")) <= AUTH_KEY_PART_BYTES:
        return f"={raw}"
    return f"~{hashlib.sha256(raw.encode('utf-8')).hexdigest()}"


def auth_user_key(username: str) -> dict[str, str]:
    """The user record, found by name (every request authenticates by name); writing it with
    ``attribute_not_exists(PK)`` makes names unique."""
    return {"PK": f"USERNAME{SEP}{auth_key_part(username)}", "SK": META}


def auth_user_list_keys(user_id: int) -> dict[str, str]:
    """AUTH_USERS_BY_ID (GSI1): every user, by id (list_users)."""
    return indexes.AUTH_USERS_BY_ID.keys(AUTH_USERS_GSI1PK, encode_int(user_id))


def auth_user_pk(user_id: int) -> str:
    """A user's own partition: the id item and the user's role assignments."""
    return f"USER{SEP}{int(user_id)}"


def auth_user_id_key(user_id: int) -> dict[str, str]:
    return {"PK": auth_user_pk(user_id), "SK": META}


def auth_user_role_prefix(workspace: str | None = None) -> str:
    """Sort key prefix of a user's assignments (in one workspace, when given)."""
    if workspace is None:
        return AUTH_USER_ROLE_PREFIX
    return f"{AUTH_USER_ROLE_PREFIX}{workspace}{SEP}"


def auth_user_role_key(user_id: int, workspace: str, role_id: int) -> dict[str, str]:
    """The user's side of an assignment: the user's roles of one workspace are one range."""
    return {
        "PK": auth_user_pk(user_id),
        "SK": f"{auth_user_role_prefix(workspace)}{encode_int(role_id)}",
    }


def auth_role_pk(role_id: int) -> str:
    """A role's partition: META, its permissions and its members."""
    return f"ROLE{SEP}{int(role_id)}"


def auth_role_key(role_id: int) -> dict[str, str]:
    return {"PK": auth_role_pk(role_id), "SK": META}


def auth_role_list_keys(role_id: int) -> dict[str, str]:
    """AUTH_ROLES_BY_ID (GSI1): every role of every workspace, by id (list_roles)."""
    return indexes.AUTH_ROLES_BY_ID.keys(AUTH_ROLES_GSI1PK, encode_int(role_id))


def auth_role_names_pk(workspace: str) -> str:
    """A workspace's role names (not under ``WS#<ws>``: a workspace deletion removes that
    partition, and the auth app deletes the workspace's roles itself)."""
    return f"ROLES{SEP}{workspace}"


def auth_role_name_key(workspace: str, name: str) -> dict[str, str]:
    """Uniqueness guard and name -> id lookup: one item per (workspace, role name)."""
    return {"PK": auth_role_names_pk(workspace), "SK": f"NAME{SEP}{auth_key_part(name)}"}


def auth_permission_prefix(resource_type: str | None = None) -> str:
    """Sort key prefix of a role's permissions (of one resource type, when given)."""
    if resource_type is None:
        return AUTH_PERMISSION_PREFIX
    return f"{AUTH_PERMISSION_PREFIX}{resource_type}{SEP}"


def auth_permission_key(role_id: int, resource_type: str, pattern: str) -> dict[str, str]:
    """One permission of a role; the key is the SQL store's unique (role, type, pattern)."""
    return {
        "PK": auth_role_pk(role_id),
        "SK": f"{auth_permission_prefix(resource_type)}{auth_key_part(pattern)}",
    }


def auth_permission_id_key(permission_id: int) -> dict[str, str]:
    """Role permission id -> (role, permission sort key): MLflow addresses them by id."""
    return {"PK": f"RPERM{SEP}{int(permission_id)}", "SK": META}


def auth_role_member_key(role_id: int, user_id: int) -> dict[str, str]:
    """The role's side of an assignment (list_role_users, delete_role)."""
    return {"PK": auth_role_pk(role_id), "SK": f"{AUTH_ROLE_MEMBER_PREFIX}{encode_int(user_id)}"}


def auth_grants_pk(resource_type: str, pattern: str) -> str:
    """Every per-user (``__user_<id>__`` role) grant on one resource, for deleting or
    renaming them with the resource without a Scan."""
    return f"GRANTS{SEP}{resource_type}{SEP}{auth_key_part(pattern)}"


def auth_grant_ref_prefix(workspace: str | None = None) -> str:
    return "" if workspace is None else f"{workspace}{SEP}"


def auth_grant_ref_key(
    resource_type: str, pattern: str, workspace: str, role_id: int
) -> dict[str, str]:
    return {
        "PK": auth_grants_pk(resource_type, pattern),
        "SK": f"{auth_grant_ref_prefix(workspace)}{encode_int(role_id)}",
    }
