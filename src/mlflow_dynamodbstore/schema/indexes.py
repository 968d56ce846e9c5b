"""Access patterns: which secondary index serves which listing, under which key attributes.

Callers outside ``schema/`` name the access pattern (``indexes.RUNS_BY_START_TIME``), never an
index or an index key attribute: the pattern knows its index, its partition and sort key
attributes, and builds key conditions, index keys and ``REMOVE`` clauses from them. Key
*values* are still built by ``schema/keys.py`` (which places items in an index through
``AccessPattern.keys``), so key builders and readers agree on the attribute names.

The physical indexes (GSI1..GSI5, LSI1..LSI5) are declared once, in ``schema/table.py``;
several patterns share ("overload") one index through distinct partition key values.
docs/schema.md lists which family uses which index and which indexes are reserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, Key

from mlflow_dynamodbstore.schema import table


@dataclass(frozen=True)
class AccessPattern:
    """One listing read through a secondary index: its index and key attributes."""

    name: str  # what the pattern lists, for reprs and docs
    index: str
    pk: str
    sk: str

    @classmethod
    def on_gsi(cls, n: int, name: str) -> AccessPattern:
        """A pattern over the table's global index ``n`` (declared in schema/table.py)."""
        if not 1 <= n <= table.GSI_COUNT:
            raise ValueError(f"the table declares GSI1..GSI{table.GSI_COUNT}, not {n}")
        return cls(name, table.gsi_name(n), table.gsi_pk(n), table.gsi_sk(n))

    @classmethod
    def on_lsi(cls, n: int, name: str) -> AccessPattern:
        """A pattern over the table's local index ``n``: the table's partition key, another
        sort key; unlike a GSI it can be read strongly consistently."""
        if not 1 <= n <= table.LSI_COUNT:
            raise ValueError(f"the table declares LSI1..LSI{table.LSI_COUNT}, not {n}")
        return cls(name, table.lsi_name(n), table.PK, table.lsi_sk(n))

    @property
    def key_attributes(self) -> tuple[str, str]:
        return (self.pk, self.sk)

    @property
    def remove_clause(self) -> str:
        """``REMOVE <pk>, <sk>``: an update clause that takes the item out of the index."""
        return f"REMOVE {self.pk}, {self.sk}"

    def keys(self, pk_value: str, sk_value: str) -> dict[str, str]:
        """The attributes that place an item in this index."""
        return {self.pk: pk_value, self.sk: sk_value}

    def sort_key(self, item: dict[str, Any]) -> str:
        """The item's sort key value in this index (for merges, cursors, page tokens)."""
        return item[self.sk]

    def pk_eq(self, pk_value: str) -> ConditionBase:
        """Key condition: every item under one partition key value of the index."""
        return Key(self.pk).eq(pk_value)

    def key_condition(
        self,
        pk_value: str,
        *,
        lower: str | None = None,
        upper: str | None = None,
        below: str | None = None,
        prefix: str | None = None,
    ) -> ConditionBase:
        """Key condition on one partition key value and at most one sort key range:
        ``lower <= sk <= upper`` (inclusive; either may be None), ``sk < below`` or
        ``begins_with(sk, prefix)``. With no range it is ``pk_eq``."""
        condition = self.pk_eq(pk_value)
        sk = Key(self.sk)
        given = (lower is not None or upper is not None, below is not None, prefix is not None)
        if sum(given) > 1:
            raise ValueError("a key condition has at most one sort key range")
        if lower is not None and upper is not None:
            return condition & sk.between(lower, upper)
        if lower is not None:
            return condition & sk.gte(lower)
        if upper is not None:
            return condition & sk.lte(upper)
        if below is not None:
            return condition & sk.lt(below)
        if prefix is not None:
            return condition & sk.begins_with(prefix)
        return condition


# ---- GSI1: the per-workspace / per-experiment listings --------------------------------
WORKSPACES_BY_NAME = AccessPattern.on_gsi(1, "every workspace, by name")
EXPERIMENTS_BY_CREATION = AccessPattern.on_gsi(
    1, "a workspace's experiments of one lifecycle stage, by creation time"
)
RUNS_BY_START_TIME = AccessPattern.on_gsi(1, "an experiment's runs, by start time")
REGISTERED_MODELS_BY_NAME = AccessPattern.on_gsi(1, "a workspace's registered models, by name")
MODEL_VERSIONS_BY_WORKSPACE = AccessPattern.on_gsi(
    1, "a workspace's model versions: live ones by number and model name, then deleted ones"
)
WEBHOOKS_BY_CREATION = AccessPattern.on_gsi(
    1, "a workspace's webhooks, live or deleted (two keys), by creation time"
)
AUTH_USERS_BY_ID = AccessPattern.on_gsi(1, "every auth user, by id")
AUTH_ROLES_BY_ID = AccessPattern.on_gsi(1, "every auth role of every workspace, by id")
LABEL_SCHEMAS_BY_CREATION = AccessPattern.on_gsi(1, "an experiment's label schemas, newest first")
REVIEW_QUEUES_BY_CREATION = AccessPattern.on_gsi(1, "an experiment's review queues, newest first")
ISSUES_BY_EXPERIMENT = AccessPattern.on_gsi(
    1, "an experiment's issues, by severity, creation time and id"
)
SCORERS_BY_WORKSPACE = AccessPattern.on_gsi(
    1, "a workspace's scorers (their head items), by experiment id"
)
ACTIVE_ONLINE_SCORERS = AccessPattern.on_gsi(
    1, "a workspace's online scoring configs with sample_rate > 0, by last upsert"
)
DATASETS_BY_CREATION = AccessPattern.on_gsi(
    1, "a workspace's evaluation datasets, by creation time and id"
)
JOBS_BY_CREATION = AccessPattern.on_gsi(
    1, "a workspace's jobs (MLflow's job backend), by creation time"
)

# ---- GSI1 (overloaded): trace META items by name (schema/trace_name_keys.py) -------------
TRACES_BY_NAME = AccessPattern.on_gsi(
    1, "an experiment's traces of one name, newest first (the trace-name dictionary)"
)
# ---- GSI1 (overloaded): trace META items without a name (schema/trace_name_order_keys.py)
TRACES_WITHOUT_NAME = AccessPattern.on_gsi(
    1, "an experiment's traces without a name, newest first (the name order's NULLs)"
)

# ---- GSI2: rankings and reverse lookups ------------------------------------------------
RUNS_BY_METRIC = AccessPattern.on_gsi(2, "an experiment's runs ranked by one metric's latest value")
MODEL_VERSIONS_BY_RUN = AccessPattern.on_gsi(
    2, "a workspace's live model versions registered from one run"
)
DATASETS_BY_EXPERIMENT = AccessPattern.on_gsi(
    2, "the evaluation datasets linked to one experiment, by dataset id"
)
REVIEW_QUEUE_ITEMS_BY_CREATION = AccessPattern.on_gsi(2, "a review queue's items, newest first")
ISSUES_BY_WORKSPACE = AccessPattern.on_gsi(
    2, "a workspace's issues, by severity, creation time and id"
)
JOBS_BY_STATUS = AccessPattern.on_gsi(
    2, "a workspace's jobs of one status (MLflow's job backend), by creation time"
)
RUNS_BY_TAG = AccessPattern.on_gsi(
    2, "an experiment's runs with one indexed tag, by the tag's value (tag index)"
)
EXPERIMENTS_BY_TAG = AccessPattern.on_gsi(
    2, "a workspace's experiments with one indexed tag, by the tag's value (tag index)"
)

# ---- GSI2 (overloaded): the registry's update order (schema/registry_order_keys.py) -------
REGISTERED_MODELS_BY_LAST_UPDATE = AccessPattern.on_gsi(
    2, "a workspace's registered models, by last update time"
)

# ---- GSI2 (overloaded): traces by execution time (schema/trace_order_keys.py) ----------
TRACES_BY_EXECUTION_TIME = AccessPattern.on_gsi(
    2, "an experiment's traces by execution time (traces without one apart, newest first)"
)

# ---- GSI3: traces ----------------------------------------------------------------------
TRACES_BY_TIMESTAMP = AccessPattern.on_gsi(3, "an experiment's traces, newest first")
REVIEW_QUEUE_ITEMS_BY_STATUS = AccessPattern.on_gsi(
    3, "a review queue's items of one status, newest first"
)

# ---- GSI3 (overloaded): model versions by last update (schema/registry_order_keys.py) ----
MODEL_VERSIONS_BY_LAST_UPDATE = AccessPattern.on_gsi(
    3, "a workspace's live model versions, by last update time"
)

# ---- GSI4: logged models ---------------------------------------------------------------
LOGGED_MODELS_BY_EXPERIMENT = AccessPattern.on_gsi(
    4, "an experiment's logged models of one lifecycle stage, newest first"
)

# ---- GSI4 (overloaded): model versions by creation (schema/registry_order_keys.py) ------
MODEL_VERSIONS_BY_CREATION = AccessPattern.on_gsi(
    4, "a workspace's live model versions, by creation time"
)

# ---- GSI4 (overloaded): trace analytics -------------------------------------------------
TRACE_STATS_BY_TIME = AccessPattern.on_gsi(
    4, "an experiment's trace stats items of one period and shard, by timestamp"
)

# ---- GSI4 (overloaded): trace sessions by their last trace (schema/session_keys.py) -------
SESSIONS_BY_LAST_TRACE = AccessPattern.on_gsi(
    4, "an experiment's trace sessions of one period and shard, by last trace timestamp"
)

# ---- GSI4 (overloaded): the AI gateway's trace costs (budget policies) ----------------------
GATEWAY_TRACE_COSTS_BY_TIME = AccessPattern.on_gsi(
    4, "every workspace's gateway trace cost items of one period and shard, by timestamp"
)

# ---- GSI4 (overloaded, sparse): trace archival's candidates (schema/trace_archival_keys.py)
TRACES_NOT_ARCHIVED = AccessPattern.on_gsi(
    4, "an experiment's traces whose spans are still in the table, newest first"
)

# ---- LSI3: an evaluation dataset's records in the SQL store's order -------------------------
# Records are keyed by their inputs (deduplication is a conditional write on that key) but
# paged by (created_time, record id); a local index gives that order inside the dataset's
# partition with strongly consistent reads, so a merge is visible to the next page read.
DATASET_RECORDS_BY_CREATION = AccessPattern.on_lsi(
    3, "an evaluation dataset's records, by creation time and record id"
)

# GSI5, LSI1, LSI2, LSI4 and LSI5 are declared by the table but serve no pattern yet:
# docs/schema.md, "Reserved indexes", says what each is kept for.

ACCESS_PATTERNS: tuple[AccessPattern, ...] = (
    WORKSPACES_BY_NAME,
    EXPERIMENTS_BY_CREATION,
    RUNS_BY_START_TIME,
    REGISTERED_MODELS_BY_NAME,
    MODEL_VERSIONS_BY_WORKSPACE,
    WEBHOOKS_BY_CREATION,
    AUTH_USERS_BY_ID,
    AUTH_ROLES_BY_ID,
    LABEL_SCHEMAS_BY_CREATION,
    REVIEW_QUEUES_BY_CREATION,
    ISSUES_BY_EXPERIMENT,
    SCORERS_BY_WORKSPACE,
    ACTIVE_ONLINE_SCORERS,
    DATASETS_BY_CREATION,
    RUNS_BY_METRIC,
    MODEL_VERSIONS_BY_RUN,
    REVIEW_QUEUE_ITEMS_BY_CREATION,
    ISSUES_BY_WORKSPACE,
    TRACES_BY_TIMESTAMP,
    REVIEW_QUEUE_ITEMS_BY_STATUS,
    LOGGED_MODELS_BY_EXPERIMENT,
    DATASETS_BY_EXPERIMENT,
    DATASET_RECORDS_BY_CREATION,
    TRACE_STATS_BY_TIME,
    SESSIONS_BY_LAST_TRACE,
    GATEWAY_TRACE_COSTS_BY_TIME,
    TRACES_NOT_ARCHIVED,
    JOBS_BY_CREATION,
    JOBS_BY_STATUS,
    RUNS_BY_TAG,
    EXPERIMENTS_BY_TAG,
    REGISTERED_MODELS_BY_LAST_UPDATE,
    MODEL_VERSIONS_BY_LAST_UPDATE,
    MODEL_VERSIONS_BY_CREATION,
    TRACES_BY_EXECUTION_TIME,
    TRACES_BY_NAME,
    TRACES_WITHOUT_NAME,
)
