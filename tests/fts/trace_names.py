"""Trace names are opt-in in the trigram index (docs/full-text-search.md): tests that
exercise their postings switch them on the way a user does (the settings env var at the
server's start), then build the (empty) index with the backfill, without its wait."""

from __future__ import annotations

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV


def enable_trace_names(monkeypatch) -> None:
    """Call before the store is created: its connection reconciles the env at start."""
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, "trace_name")


def build_trace_name_index(store) -> None:
    """The backfill a user runs after switching trace names on (no servers to wait for)."""
    backfill_fts(store._conn.gateway, settle_seconds=0)
