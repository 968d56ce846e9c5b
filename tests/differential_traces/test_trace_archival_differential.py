"""Trace archival against SqlAlchemyStore (SQLite): the same traces archived, the same counts,
the same errors for bad input, and afterwards the same traces read back (spans from the
archive location), the same refusals of span writes, the same deletions and experiment tags.

Each store archives to its own local directory; results are compared after both directories
(and the artifact root) are masked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracing.constant import TraceExperimentTagKey, TraceTagKey

from tests.differential.conftest import FAKE_CLOCK_START
from tests.differential.harness import Normaliser, attempt, to_plain
from tests.differential_traces.builders import (
    BASE_MS,
    info,
    infos_plain,
    simple_trace,
    span,
    tid,
    trace_plain,
)

HOUR = 3_600_000
DAY = 24 * HOUR
# Span times are offsets from BASE_MS; these put a span that long before the fake clock.
NOW_OFFSET = FAKE_CLOCK_START - BASE_MS


def ago(ms: int) -> int:
    """A span start offset that many ms before the fake clock's start."""
    return NOW_OFFSET - ms


def retention(value: str) -> str:
    return json.dumps({"type": "duration", "value": value})


def _populate(store) -> dict[str, str]:
    exps = {
        name: store.create_experiment(name)
        for name in ("plain", "short", "long", "allowed", "urgent", "urgent_old")
    }
    store.set_experiment_tag(
        exps["short"], _tag(TraceExperimentTagKey.ARCHIVAL_RETENTION, retention("1h"))
    )
    store.set_experiment_tag(
        exps["long"], _tag(TraceExperimentTagKey.ARCHIVAL_RETENTION, retention("30d"))
    )
    store.set_experiment_tag(
        exps["allowed"], _tag(TraceExperimentTagKey.ARCHIVAL_RETENTION, retention("30d"))
    )
    store.set_experiment_tag(exps["urgent"], _tag(TraceExperimentTagKey.ARCHIVE_NOW, "{}"))
    store.set_experiment_tag(
        exps["urgent_old"],
        _tag(TraceExperimentTagKey.ARCHIVE_NOW, json.dumps({"older_than": "3h"})),
    )
    n = 1
    plan = {
        # experiment: span start offsets (ms before now)
        "plain": [30 * DAY, 2 * DAY, 2 * DAY, 2 * HOUR],
        "short": [2 * HOUR, 30 * 60_000],
        "long": [3 * DAY, 2 * HOUR],
        "allowed": [3 * DAY, 40 * DAY],
        "urgent": [5 * 60_000, 2 * DAY],
        "urgent_old": [5 * HOUR, HOUR],
    }
    for name, offsets in plan.items():
        for offset in offsets:
            store.log_spans(exps[name], simple_trace(n, ago(offset), 20, q=f"q{n}"))
            n += 1
    # Old but not archivable: a trace without spans, and one still in progress.
    store.start_trace(info(tid(100), exps["plain"], BASE_MS + ago(40 * DAY)))
    store.log_spans(exps["plain"], [span(101, 1, None, "open", ago(40 * DAY), None)])
    return exps


def _tag(key: str, value: str):
    from mlflow.entities import ExperimentTag

    return ExperimentTag(key, value)


def _read_back(store, exps: dict[str, str], trace_ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # (allow_partial: the trace without spans and the one in progress would be retried)
    out["get_trace"] = {
        t: attempt(lambda t=t: trace_plain(store.get_trace(t, allow_partial=True)))
        for t in trace_ids
    }
    out["batch_get_traces"] = attempt(
        lambda: [trace_plain(t) for t in store.batch_get_traces(trace_ids)]
    )
    out["search_span_name"] = attempt(
        lambda: [
            i.trace_id
            for i in store.search_traces(
                locations=[exps["plain"]], filter_string="span.name = 'child'", max_results=50
            )[0]
        ]
    )
    out["experiment_tags"] = {
        name: dict(store.get_experiment(e).tags) for name, e in sorted(exps.items())
    }
    return out


def _scenario(store, location: str) -> dict[str, Any]:
    exps = _populate(store)
    all_ids = [tid(n) for n in range(1, 15)] + [tid(100), tid(101)]
    result: dict[str, Any] = {}
    result["first_pass"] = attempt(
        lambda: store.archive_traces(
            resolved_trace_archival_location=location,
            broader_retention="1d",
            long_retention_allowlist=[exps["allowed"]],
            max_traces_per_pass=3,
        )
    )
    result["archived_after_first"] = _archived(store, all_ids)
    result["second_pass"] = attempt(
        lambda: store.archive_traces(
            resolved_trace_archival_location=location,
            broader_retention="1d",
            long_retention_allowlist={exps["allowed"]},
        )
    )
    result["archived_after_second"] = _archived(store, all_ids)
    result["third_pass"] = attempt(
        lambda: store.archive_traces(
            resolved_trace_archival_location=location, broader_retention="1d"
        )
    )
    result["fourth_pass"] = attempt(
        lambda: store.archive_traces(
            resolved_trace_archival_location=location, broader_retention="1d"
        )
    )
    result["read_back"] = _read_back(store, exps, all_ids)
    result["infos"] = infos_plain(store.batch_get_trace_infos(all_ids))
    # Writes to archived traces.
    result["log_spans_archived"] = attempt(
        lambda: store.log_spans(exps["plain"], simple_trace(1, ago(30 * DAY), 20))
    )
    result["start_trace_archived"] = attempt(
        lambda: store.start_trace(info(tid(1), exps["plain"], BASE_MS + ago(30 * DAY)))
    )
    result["after_refusals"] = attempt(lambda: trace_plain(store.get_trace(tid(1))))
    # Deleting archived traces deletes their payloads too.
    result["delete"] = attempt(
        lambda: store.delete_traces(exps["plain"], max_timestamp_millis=BASE_MS + ago(DAY))
    )
    result["left"] = [i.trace_id for i in store.search_traces(locations=[exps["plain"]])[0]]
    result["payloads_left"] = sorted(
        str(p.relative_to(location.removeprefix("file://")).parent.parent.name)
        for p in Path(location.removeprefix("file://")).rglob("traces.pb")
    )
    return result


def _archived(store, trace_ids: list[str]) -> list[str]:
    infos = store.batch_get_trace_infos(trace_ids)
    return sorted(
        i.trace_id for i in infos if i.tags.get(TraceTagKey.SPANS_LOCATION) == "ARCHIVE_REPO"
    )


def _normalised(value: Any, roots: list[str]) -> Any:
    return Normaliser(roots, True)(to_plain(value))


def test_archival_same_as_sqlalchemy_store(sql_store, dynamo_store, artifact_root, tmp_path):
    sql_location = f"file://{tmp_path / 'sql-archive'}"
    ddb_location = f"file://{tmp_path / 'ddb-archive'}"
    expected = _normalised(_scenario(sql_store, sql_location), [artifact_root, sql_location])
    actual = _normalised(_scenario(dynamo_store, ddb_location), [artifact_root, ddb_location])
    assert actual == expected
    # The scenario archived something in every way it can.
    assert expected["first_pass"] == 3
    assert expected["second_pass"] > 0
    assert len(expected["archived_after_first"]) == 3
    assert expected["third_pass"] == 1  # "allowed" left the allowlist
    # Archived traces come back whole, from the archive.
    archived_read = expected["read_back"]["get_trace"][tid(1)]
    assert len(archived_read["spans"]) == 2
    assert archived_read["info"]["tags"][TraceTagKey.SPANS_LOCATION] == "ARCHIVE_REPO"
    assert expected["log_spans_archived"]["error"] == "INVALID_STATE"
    assert expected["fourth_pass"] == 0


BAD_INPUT = [
    {"resolved_trace_archival_location": "file:///tmp/a", "broader_retention": "1d",
     "max_traces_per_pass": 0},
    {"resolved_trace_archival_location": "file:///tmp/a", "broader_retention": "1d",
     "max_traces_per_pass": -3},
    {"resolved_trace_archival_location": "", "broader_retention": "1d"},
    {"resolved_trace_archival_location": "no-scheme/path", "broader_retention": "1d"},
    {"resolved_trace_archival_location": "mlflow-artifacts:/x", "broader_retention": "1d"},
    {"resolved_trace_archival_location": 5, "broader_retention": "1d"},
    {"resolved_trace_archival_location": "file:///tmp/a", "broader_retention": ""},
    {"resolved_trace_archival_location": "file:///tmp/a", "broader_retention": "1y"},
    {"resolved_trace_archival_location": "file:///tmp/a", "broader_retention": "0d"},
    {"resolved_trace_archival_location": "file:///tmp/a", "broader_retention": "abc"},
]  # fmt: skip


@pytest.mark.parametrize("kwargs", BAD_INPUT, ids=[str(i) for i in range(len(BAD_INPUT))])
def test_bad_input_same_errors(sql_store, dynamo_store, kwargs):
    expected = to_plain(attempt(lambda: sql_store.archive_traces(**kwargs)))
    actual = to_plain(attempt(lambda: dynamo_store.archive_traces(**kwargs)))
    assert actual == expected
    assert "error" in expected


def test_archived_trace_reads_survive_a_missing_payload(sql_store, dynamo_store, tmp_path):
    """A payload deleted behind the store's back: both answer the trace with no spans."""

    def run(store, location: Path) -> Any:
        exp = store.create_experiment("e")
        store.log_spans(exp, simple_trace(1, 0, 20))
        store.archive_traces(
            resolved_trace_archival_location=f"file://{location}", broader_retention="1d"
        )
        for payload in location.rglob("traces.pb"):
            payload.unlink()
        return {
            "get": trace_plain(store.get_trace(tid(1))),
            "batch": [trace_plain(t) for t in store.batch_get_traces([tid(1)])],
        }

    expected = run(sql_store, tmp_path / "sql")
    actual = run(dynamo_store, tmp_path / "ddb")
    assert actual["get"]["spans"] == expected["get"]["spans"] == []
    assert [b["spans"] for b in actual["batch"]] == [b["spans"] for b in expected["batch"]]
