"""The opt-in switching mechanism beyond what each field's tests cover (these used trace
names while they were opt-in; trace names are now always on, docs/full-text-search.md):
the backfill's wait for every server, an opt-in field's ready cache expiring, and trace
names refusing removal like the other always-on fields."""

from __future__ import annotations

from mlflow_dynamodbstore.backfills.fts import SETTLE_MARGIN, wait_for_servers
from mlflow_dynamodbstore.config.settings import ALWAYS_TRIGRAM_FIELDS, OPT_IN_TRIGRAM_FIELDS
from mlflow_dynamodbstore.config.source import MAX_REFRESH_SECONDS
from mlflow_dynamodbstore.fts import lookup
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.fts.postings import TRACE_NAME
from mlflow_dynamodbstore.schema import fts_keys
from tests.fts.helpers import run_cli

FIELD = "run_tag_value"


def test_trace_name_is_always_on():
    assert TRACE_NAME in ALWAYS_TRIGRAM_FIELDS and TRACE_NAME not in OPT_IN_TRIGRAM_FIELDS


def test_a_new_table_is_ready_for_trace_names_and_refuses_their_removal(store, store_uri):
    assert READINESS.is_ready(store.gateway.unscoped, TRACE_NAME)
    removed = run_cli("fts", "remove", store_uri, TRACE_NAME, "--json", ok=None)
    assert removed.exit_code != 0 and "cannot be removed" in removed.output


def test_the_backfill_waits_for_every_server_after_a_switch(store, store_uri):
    gateway = store.gateway.unscoped
    run_cli("fts", "add", store_uri, FIELD, "--json")
    slept: list[float] = []
    assert wait_for_servers(gateway, sleep=slept.append) > MAX_REFRESH_SECONDS - 5
    assert slept and MAX_REFRESH_SECONDS - 5 < slept[0] <= MAX_REFRESH_SECONDS + SETTLE_MARGIN


def test_an_opt_in_fields_ready_cache_expires(store, monkeypatch):
    """A process that cached an opt-in field as ready sees it unready (switched off and on
    again) after RECHECK_SECONDS; an always-on field's ready stays cached."""
    gateway = store.gateway.unscoped
    READINESS.mark(gateway, FIELD, True)
    assert READINESS.is_ready(gateway, FIELD)
    gateway.put_item({**fts_keys.ready_key(FIELD), "complete": False})
    assert READINESS.is_ready(gateway, FIELD)  # cached
    monkeypatch.setattr(lookup, "RECHECK_SECONDS", 0.0)
    assert not READINESS.is_ready(gateway, FIELD)
    assert READINESS.is_ready(gateway, "experiment_name")
    assert READINESS.is_ready(gateway, TRACE_NAME)
