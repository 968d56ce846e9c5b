"""Trace archival on DynamoDB Local: the requests of a pass, a pass that fails at any request
(and a rerun that completes it), a span write racing the archival, workspaces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow.entities.workspace import Workspace
from mlflow.exceptions import MlflowException
from mlflow.tracing.constant import SpansLocation, TraceTagKey
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.gateway.faults import FaultInjector
from mlflow_dynamodbstore.repositories.traces import archival
from mlflow_dynamodbstore.schema import indexes, keys, trace_archival_keys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential_traces.builders import BASE_MS, info, simple_trace, span, tid


@pytest.fixture
def store(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def _big_trace(n: int) -> list:
    """A root span of ~600 KB of attributes (a head item plus chunk items) and a child."""
    return [
        span(n, 1, None, "big", 0, 50, {"blob": os.urandom(300_000).hex()}),
        span(n, 2, 1, "child", 1, 40),
    ]


def _archive(store, location: Path, **kwargs) -> int:
    return store.archive_traces(
        resolved_trace_archival_location=f"file://{location}", broader_retention="1d", **kwargs
    )


def _span_items(store, trace_id: str) -> list[dict]:
    return store.trace_archival.read(trace_id)[1]


def _assert_archived_and_stripped(store, trace_id: str, spans_before: list[dict]) -> None:
    meta, items = store.trace_archival.read(trace_id)
    assert archival.is_archived(meta) and archival.STRIP_PENDING not in meta
    assert not [i for i in items if i["SK"].startswith(keys.TRACE_SPAN_CHUNK_PREFIX)]
    heads = [i for i in items if i["SK"].startswith(keys.TRACE_SPAN_PREFIX)]
    assert heads and all(bytes(h["z"]) == b"" for h in heads)  # columns kept, content gone
    trace = store.get_trace(trace_id)
    assert [s.to_dict() for s in trace.data.spans] == spans_before


# ---- requests of a pass -------------------------------------------------------------------
def test_a_pass_costs_reads_per_experiment_and_a_few_writes_per_trace(store, tmp_path):
    exp = store.create_experiment("e")
    for n in range(1, 4):
        store.log_spans(exp, simple_trace(n, n * 10, 5))
    store.log_spans(exp, _big_trace(4))
    stats = store.gateway.stats
    stats.reset()
    assert _archive(store, tmp_path / "archive") == 4
    # The experiments listing (1 Query), each experiment's archival listing (2: experiment
    # 0 and ours); per trace: its partition (1 Query), the flip and the strip mark's removal
    # (2 PutItem), the strip (1 BatchWriteItem per 25 span heads, +1 for chunk deletes).
    # Once per experiment and process: its listing state (1 GetItem); the first pass ever
    # over an experiment walks its trace listing (1 Query) and records the state (1 PutItem).
    assert stats.requests("Query") == 1 + 2 + 4 + 2
    assert stats.requests("PutItem") == 2 * 4 + 2
    assert stats.requests("GetItem") == 2
    assert stats.requests("BatchWriteItem") == 4 + 1
    assert stats.total_requests == 9 + 10 + 2 + 5
    # A pass with nothing to do reads only the listings.
    stats.reset()
    assert _archive(store, tmp_path / "archive") == 0
    assert stats.total_requests == stats.requests("Query") == 3
    # The archived partitions are small: heads without content, no chunk items.
    assert all("z" in i and bytes(i["z"]) == b"" for i in _span_items(store, tid(4)))


class _ItemsRead:
    """Items DynamoDB read for the Query requests of one client (``ScannedCount``)."""

    def __init__(self, store):
        self.events = store._conn.client.meta.events
        self.items = 0
        self.events.register("after-call.dynamodb.Query", self)

    def __call__(self, parsed, **_):
        self.items += int(parsed.get("ScannedCount", 0))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.events.unregister("after-call.dynamodb.Query", self)


def test_a_pass_reads_only_the_traces_it_has_not_archived(store, tmp_path):
    """Archived traces leave archival's listing: the next pass reads the new traces only,
    not every trace up to the cutoff again."""
    exp = store.create_experiment("e")
    for n in range(1, 31):
        store.log_spans(exp, simple_trace(n, n * 10, 5))
    store.start_trace(info(tid(99), exp, BASE_MS))  # no spans (nothing to archive): listed
    assert _archive(store, tmp_path / "archive") == 30
    stats = store.gateway.stats
    for n in range(31, 33):
        store.log_spans(exp, simple_trace(n, n * 10, 5))
    stats.reset()
    with _ItemsRead(store) as read:
        assert _archive(store, tmp_path / "archive") == 2
    # Listings: 2 experiments + the trace without spans + the 2 new ones (not the 30 archived);
    # then each new trace's partition (META, its stats item, 2 spans).
    assert read.items == 2 + 1 + 2 + 2 * 4
    assert stats.requests("Query") == 3 + 2
    stats.reset()
    with _ItemsRead(store) as read:
        assert _archive(store, tmp_path / "archive") == 0
    assert read.items == 2 + 1
    assert stats.total_requests == stats.requests("Query") == 3


def test_traces_stored_before_the_listing_are_listed_by_the_first_pass(store, tmp_path):
    """An experiment whose traces predate archival's listing (no listing keys, no state
    item): the first pass walks its trace listing once, lists the traces archival still has
    work on, archives them; later passes read the listing only."""
    exp = store.create_experiment("e")
    for n in range(1, 4):
        store.log_spans(exp, simple_trace(n, n * 10, 5))
    gateway = store._conn.gateway
    for n in range(1, 4):  # as a table written by an older release
        gateway.update_item(keys.trace_key(tid(n)), indexes.TRACES_NOT_ARCHIVED.remove_clause)
    for experiment_id in ("0", exp):
        gateway.delete_item(trace_archival_keys.index_state_key(experiment_id))
    fresh = DynamoDBTrackingStore(store.store_uri, str(tmp_path / "artifacts"))
    assert _archive(fresh, tmp_path / "archive") == 3
    assert gateway.get_item(trace_archival_keys.index_state_key(exp)) is not None
    stats = fresh.gateway.stats
    stats.reset()
    assert _archive(fresh, tmp_path / "archive") == 0
    assert stats.total_requests == stats.requests("Query") == 3


# ---- crash safety -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["internal_error", "lost_response"])
def test_a_pass_failing_at_any_request_is_completed_by_a_rerun(
    store_uri, tmp_path, monkeypatch, kind
):
    monkeypatch.setenv("MLFLOW_DYNAMODB_MAX_ATTEMPTS", "1")
    store = DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))
    faults = FaultInjector(store._conn.client)
    location = tmp_path / "archive"
    k = 0
    while True:
        exp = store.create_experiment(f"e{k}")
        first, second = 10 * k + 1, 10 * k + 2
        store.log_spans(exp, simple_trace(first, 0, 5))
        store.log_spans(exp, _big_trace(second))
        before = {
            t: [s.to_dict() for s in store.get_trace(t).data.spans]
            for t in (tid(first), tid(second))
        }
        # Fail request k of the pass (both attempts: botocore retries once here).
        fault = faults.inject(kind, 1 if kind == "lost_response" else 2, skip=k)
        try:
            _archive(store, location)
        except MlflowException as exc:
            assert exc.error_code == "TEMPORARILY_UNAVAILABLE"
        hit = fault.injected > 0
        faults.clear()
        # The rerun finishes whatever the failed pass left.
        _archive(store, location)
        for trace_id, spans in before.items():
            _assert_archived_and_stripped(store, trace_id, spans)
        payloads = {p.parent.parent.name for p in location.rglob("traces.pb")}
        assert {tid(first), tid(second)} <= payloads
        # Out of the next passes (they list active experiments only): each iteration's
        # pass then makes the same requests, and request k moves through all of them.
        store.delete_experiment(exp)
        if not hit:
            break
        k += 1
    assert k > 8  # the sweep went through every request of a pass


def test_a_flip_without_its_strip_is_finished_by_the_next_pass(store, tmp_path):
    exp = store.create_experiment("e")
    store.log_spans(exp, _big_trace(1))
    spans = [s.to_dict() for s in store.get_trace(tid(1)).data.spans]
    meta, items = store.trace_archival.read(tid(1))
    # A pass that died right after its flip: META points at the archive, items keep content.
    location = tmp_path / "archive"
    from mlflow_dynamodbstore.archival import payload

    uri = payload.payload_uri(f"file://{location}", exp, tid(1))
    payload.upload(uri, payload.serialize(store.trace_archival.span_rows(items)))
    flipped = store.trace_archival.flip(tid(1), uri, archival.payload_gen(meta))
    assert flipped[archival.STRIP_PENDING] is True
    assert [s.to_dict() for s in store.get_trace(tid(1)).data.spans] == spans
    assert _archive(store, location) == 0  # nothing new to archive...
    _assert_archived_and_stripped(store, tid(1), spans)  # ...but the strip is done


# ---- races with span writers --------------------------------------------------------------
def test_spans_written_after_archival_read_its_trace_cancel_the_flip(store, tmp_path):
    exp = store.create_experiment("e")
    store.log_spans(exp, simple_trace(1, 0, 50))
    meta, _ = store.trace_archival.read(tid(1))
    store.log_spans(exp, [span(1, 3, 1, "late", 5, 10)])  # between archival's read and flip
    assert store.trace_archival.flip(tid(1), "file:///x", archival.payload_gen(meta)) is None
    # Tag changes do not cancel it (the flip re-reads and finds the same span generation).
    meta, _ = store.trace_archival.read(tid(1))
    store.set_trace_tag(tid(1), "k", "v")
    assert store.trace_archival.flip(tid(1), "file:///x", archival.payload_gen(meta)) is not None


def test_a_span_writer_that_loses_to_the_flip_is_refused_and_leaves_no_content(
    store, tmp_path, monkeypatch
):
    exp = store.create_experiment("e")
    store.log_spans(exp, simple_trace(1, 0, 50))
    location = tmp_path / "archive"
    real_apply = store._apply_span_batch

    def archive_first(*args, **kwargs):
        # The archival pass completes between this writer's span write and its META write.
        assert _archive(store, location) == 1
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(store, "_apply_span_batch", archive_first)
    with pytest.raises(MlflowException, match="Cannot log spans to archived traces") as exc:
        store.log_spans(exp, _big_trace(1))
    assert exc.value.error_code == "INVALID_STATE"
    items = _span_items(store, tid(1))
    assert not [i for i in items if i["SK"].startswith(keys.TRACE_SPAN_CHUNK_PREFIX)]
    assert all(bytes(i["z"]) == b"" for i in items)
    assert len(store.get_trace(tid(1)).data.spans) == 2  # the archived spans


# ---- workspaces ---------------------------------------------------------------------------
def test_a_pass_archives_only_its_workspace_and_resolves_its_config(
    store_uri, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    own = f"file://{tmp_path / 'team-archive'}"
    provider.create_workspace(
        Workspace(name="team", trace_archival_location=own, trace_archival_retention="2h")
    )
    provider.create_workspace(Workspace(name="other"))
    store = DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))
    for ws in ("team", "other"):
        with WorkspaceContext(ws):
            exp = store.create_experiment(f"e-{ws}")
            store.log_spans(exp, simple_trace(1 if ws == "team" else 2, 0, 5))
    with WorkspaceContext("team"):
        resolved = store.resolve_trace_archival_config(
            default_trace_archival_location="file:///default", default_retention="30d"
        )
        assert (resolved.config.location, resolved.config.retention) == (own, "2h")
        assert resolved.append_workspace_prefix is False
        assert (
            store.archive_traces(resolved_trace_archival_location=own, broader_retention="2h") == 1
        )
    with WorkspaceContext("other"):
        resolved = store.resolve_trace_archival_config(
            default_trace_archival_location="file:///default", default_retention="30d"
        )
        assert (resolved.config.location, resolved.config.retention) == ("file:///default", "30d")
        assert resolved.append_workspace_prefix is True
        info = store.get_trace_info(tid(2))
        assert info.tags[TraceTagKey.SPANS_LOCATION] == SpansLocation.TRACKING_STORE.value
    with WorkspaceContext("team"):
        info = store.get_trace_info(tid(1))
        assert info.tags[TraceTagKey.SPANS_LOCATION] == SpansLocation.ARCHIVE_REPO.value
        assert info.tags[TraceTagKey.ARCHIVE_LOCATION].startswith(own)


def test_the_store_says_it_supports_archival(store):
    assert store.supports_trace_archival is True
    resolved = store.resolve_trace_archival_config(
        default_trace_archival_location="file:///d", default_retention="7d"
    )
    assert (resolved.config.location, resolved.config.retention) == ("file:///d", "7d")
    assert resolved.append_workspace_prefix is False


# ---- MLflow's scheduler -------------------------------------------------------------------
def test_mlflow_scheduler_runs_a_pass_on_the_store(store, tmp_path, monkeypatch):
    """What the server's periodic task runs (mlflow.tracing.trace_archival_service), in
    process: MLflow's config file, its support check, its scope resolution, our pass."""
    from mlflow.server.handlers import _verify_tracking_store_trace_archival_support
    from mlflow.tracing.trace_archival_service import (
        _get_trace_archival_scheduler_settings,
        _run_trace_archival_scheduler,
    )

    exp = store.create_experiment("e")
    store.log_spans(exp, simple_trace(1, 0, 20))
    spans = [s.to_dict() for s in store.get_trace(tid(1)).data.spans]
    archive = tmp_path / "archive"
    config = tmp_path / "archival.yaml"
    config.write_text(
        f"trace_archival:\n  enabled: true\n  location: file://{archive}\n  retention: 1d\n"
    )
    monkeypatch.setenv("MLFLOW_TRACE_ARCHIVAL_CONFIG", str(config))
    _verify_tracking_store_trace_archival_support(store)  # the server's start-up check
    settings = _get_trace_archival_scheduler_settings()
    assert _run_trace_archival_scheduler(store, settings=settings) == 1
    _assert_archived_and_stripped(store, tid(1), spans)
    assert (
        store.get_trace_info(tid(1))
        .tags[TraceTagKey.ARCHIVE_LOCATION]
        .startswith(f"file://{archive}/")
    )
