"""The settings features read, and the environment variables that set them.

Env names are the public 0.1.0 package's. A feature never reads ``os.environ`` itself: it
asks its connection's ``settings.current()``, so a value changed in the table (see the
config items) reaches every server without a restart.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

DENORMALIZE_TAGS_ENV = "MLFLOW_DYNAMODB_DENORMALIZE_TAGS"
FTS_TRIGRAM_FIELDS_ENV = "MLFLOW_DYNAMODB_FTS_TRIGRAM_FIELDS"
SOFT_DELETED_RETENTION_ENV = "MLFLOW_DYNAMODB_SOFT_DELETED_RETENTION_DAYS"
TRACE_RETENTION_DAYS_ENV = "MLFLOW_DYNAMODB_TRACE_RETENTION_DAYS"
METRIC_HISTORY_RETENTION_ENV = "MLFLOW_DYNAMODB_METRIC_HISTORY_RETENTION_DAYS"
# Spans read lazily from AWS X-Ray (docs/xray.md); a store URI's ?xray= overrides it.
XRAY_ENV = "MLFLOW_DYNAMODB_XRAY"

# Tags under these globs always get an index entry; users add more, never remove these.
ALWAYS_DENORMALIZED_TAGS: tuple[str, ...] = ("mlflow.*",)
# Names are always trigram-indexed; other fields (e.g. run_param_value, trace_tag_value,
# experiment_description) only when configured.
ALWAYS_TRIGRAM_FIELDS: tuple[str, ...] = (
    "experiment_name",
    "run_name",
    "model_name",
    "logged_model_name",
    # Indexed once per distinct (experiment, name), not per trace: a trace write costs
    # nothing extra once its name is known (docs/full-text-search.md, "Trace names").
    "trace_name",
)

# Built by this version but only when configured (opt-in): each costs writes on every
# write of what it indexes, for searches only some users run: tag and param values
# (fts/field_postings.py). One mechanism
# for all of them, however switched (env at a server's start or ``fts add``/``fts remove``):
# the switch marks the field unready (config/items.py), searches take the exact path until
# ``fts backfill`` has built its postings and marked it ready.
OPT_IN_TRIGRAM_FIELDS: tuple[str, ...] = (
    "run_tag_value",
    "run_param_value",
    "experiment_tag_value",
    "model_tag_value",
    "model_version_tag_value",
    "trace_tag_value",
    "trace_metadata_value",
)

# The fields this version indexes (docs/full-text-search.md). Other field names are kept in
# the settings for a later version, but nothing indexes them and no search uses them;
# ``fts list`` / ``fts add`` and the server's start say so.
BUILT_TRIGRAM_FIELDS: tuple[str, ...] = (*ALWAYS_TRIGRAM_FIELDS, *OPT_IN_TRIGRAM_FIELDS)


def unbuilt_trigram_fields(fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f for f in fields if f not in BUILT_TRIGRAM_FIELDS)


DEFAULT_SOFT_DELETED_RETENTION_DAYS = 90


@dataclass(frozen=True)
class RetentionPolicy:
    """Days before items expire through DynamoDB TTL; 0 keeps them forever. Only what a
    user deleted expires by default (unlike the public 0.1.0 package)."""

    soft_deleted_retention_days: int = DEFAULT_SOFT_DELETED_RETENTION_DAYS
    trace_retention_days: int = 0
    metric_history_retention_days: int = 0


@dataclass(frozen=True)
class StoreSettings:
    denormalize_tags: tuple[str, ...] = ALWAYS_DENORMALIZED_TAGS
    fts_trigram_fields: tuple[str, ...] = ALWAYS_TRIGRAM_FIELDS
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    # Extra tag globs of single experiments: ((experiment_id, (glob, ...)), ...).
    experiment_denormalize_tags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Bumped by every change written to the table; 0 for settings never stored.
    version: int = 0
    # Spans of traces without stored spans come from AWS X-Ray (docs/xray.md).
    xray: bool = False

    def tag_patterns_for(self, experiment_id: str | None) -> tuple[str, ...]:
        """The table's tag globs plus the experiment's own."""
        own = dict(self.experiment_denormalize_tags).get(experiment_id or "", ())
        return _union(self.denormalize_tags, own)

    def indexes_trigrams(self, field: str) -> bool:
        """Whether ``field``'s postings are written (and may be searched)."""
        return field in self.fts_trigram_fields

    def indexes_tag(self, experiment_id: str | None, key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, glob) for glob in self.tag_patterns_for(experiment_id))


class SettingsSource(Protocol):
    def current(self) -> StoreSettings:
        """The settings in force now: cheap (no request per call)."""


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _union(base: tuple[str, ...], extra: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*base, *extra)))


def _days(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        days = int(raw)
    except ValueError:
        days = -1
    if days < 0:
        raise MlflowException(
            f"{name} must be a whole number of days (0 disables the policy), got {raw!r}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return days


def settings_from_env(environ: Mapping[str, str] | None = None) -> StoreSettings:
    env = os.environ if environ is None else environ
    return StoreSettings(
        denormalize_tags=_union(ALWAYS_DENORMALIZED_TAGS, _csv(env.get(DENORMALIZE_TAGS_ENV))),
        fts_trigram_fields=_union(ALWAYS_TRIGRAM_FIELDS, _csv(env.get(FTS_TRIGRAM_FIELDS_ENV))),
        retention=RetentionPolicy(
            soft_deleted_retention_days=_days(
                env, SOFT_DELETED_RETENTION_ENV, DEFAULT_SOFT_DELETED_RETENTION_DAYS
            ),
            trace_retention_days=_days(env, TRACE_RETENTION_DAYS_ENV, 0),
            metric_history_retention_days=_days(env, METRIC_HISTORY_RETENTION_ENV, 0),
        ),
        xray=_flag(env, XRAY_ENV),
    )


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if raw in ("", "false", "0", "no", "off"):
        return False
    if raw in ("true", "1", "yes", "on"):
        return True
    raise MlflowException(
        f"{name} must be true or false, got {environ.get(name)!r}",
        error_code=INVALID_PARAMETER_VALUE,
    )


class EnvSettingsSource:
    """Settings from the environment alone, read once: no table (connections serve
    ``source.TableSettingsSource``; this one is for code and tests without a table)."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self._settings = settings_from_env(environ)

    def current(self) -> StoreSettings:
        return self._settings
