"""How a server's environment meets the table's settings at start-up.

Lists (tag globs, trigram fields) are unions: a server adds what its environment names and
never removes what the table has, so servers started with different variables do not undo
each other. Retention days and the X-Ray switch are overrides: a variable that is set wins
and is persisted; an unset one leaves the table's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from mlflow_dynamodbstore.config.settings import (
    DENORMALIZE_TAGS_ENV,
    FTS_TRIGRAM_FIELDS_ENV,
    METRIC_HISTORY_RETENTION_ENV,
    SOFT_DELETED_RETENTION_ENV,
    TRACE_RETENTION_DAYS_ENV,
    XRAY_ENV,
    StoreSettings,
    _csv,
    _days,
    _flag,
    _union,
)

# RetentionPolicy field -> the variable that overrides it.
RETENTION_ENV: dict[str, str] = {
    "soft_deleted_retention_days": SOFT_DELETED_RETENTION_ENV,
    "trace_retention_days": TRACE_RETENTION_DAYS_ENV,
    "metric_history_retention_days": METRIC_HISTORY_RETENTION_ENV,
}


@dataclass(frozen=True)
class EnvOverlay:
    """What one process's environment asks of the table's settings."""

    denormalize_tags: tuple[str, ...] = ()
    fts_trigram_fields: tuple[str, ...] = ()
    # Only the retention variables that are set: RetentionPolicy field -> days.
    retention: tuple[tuple[str, int], ...] = ()
    # MLFLOW_DYNAMODB_XRAY when set (docs/xray.md); None leaves the table's value.
    xray: bool | None = None

    def apply(self, stored: StoreSettings) -> StoreSettings:
        """``stored`` with this environment reconciled into it (same version)."""
        return replace(
            stored,
            denormalize_tags=_union(stored.denormalize_tags, self.denormalize_tags),
            fts_trigram_fields=_union(stored.fts_trigram_fields, self.fts_trigram_fields),
            retention=replace(stored.retention, **dict(self.retention)),
            xray=stored.xray if self.xray is None else self.xray,
        )


def env_overlay(environ: Mapping[str, str]) -> EnvOverlay:
    """Parse the variables; a bad retention value raises MlflowException (as at 0.1.0)."""
    retention = tuple(
        (name, _days(environ, variable, 0))
        for name, variable in RETENTION_ENV.items()
        if (environ.get(variable) or "").strip()
    )
    return EnvOverlay(
        denormalize_tags=_csv(environ.get(DENORMALIZE_TAGS_ENV)),
        fts_trigram_fields=_csv(environ.get(FTS_TRIGRAM_FIELDS_ENV)),
        retention=retention,
        xray=_flag(environ, XRAY_ENV) if (environ.get(XRAY_ENV) or "").strip() else None,
    )
