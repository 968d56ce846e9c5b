"""View rollup keys and summaries without a table: keys parse back to their labels (long or
'#'-holding text digested and carried), a META item's summary groups spans and valid
assessments, and what cannot be summed exactly is flagged."""

from __future__ import annotations

import json

from mlflow_dynamodbstore.repositories.traces import view_rollups
from mlflow_dynamodbstore.schema import view_rollup_keys
from mlflow_dynamodbstore.schema.view_rollup_keys import ASSESSMENTS, SPANS

HOUR = 3600 * 1000
T = 1_700_000_000_000


def test_cell_keys_parse_back_to_their_labels():
    long_name = "n" * 300
    for kind, labels in (
        (SPANS, (T - T % HOUR, "TOOL", "OK", "search")),
        (SPANS, (T - T % HOUR, None, "ERROR", long_name)),
        (ASSESSMENTS, ("feedback", "a#b", '"yes"')),
        (ASSESSMENTS, ("feedback", "correct", None)),
    ):
        key, carried = view_rollup_keys.view_cell_key(kind, "7", T + 5, 2, labels)
        assert len(key["SK"].encode()) < 1024
        assert view_rollup_keys.parse_view_cell({**key, **carried}) == (kind, T - T % HOUR, labels)
    key, carried = view_rollup_keys.view_cell_key(SPANS, "7", T, 1, None)
    assert carried == {} and view_rollup_keys.parse_view_cell(key) == (SPANS, T - T % HOUR, None)


def _meta(facts, assessments=None):
    return {"span_facts": facts, "assessments": assessments or {}, "timestamp_ms": T}


def test_summary_groups_spans_and_valid_assessments():
    facts = {
        "a": ["search", "TOOL", "OK", T, 10],
        "b": ["search", "TOOL", "OK", T + 1, 30],
        "c": ["calc", "TOOL", "ERROR", T + HOUR, None],
    }
    assessments = {
        "x": {"name": "correct", "assessment_type": "feedback", "value": "true",
              "aggregate_value": "1.0"},
        "y": {"name": "correct", "assessment_type": "feedback", "value": "true",
              "aggregate_value": "1.0", "valid": False},
        "z": {"name": "rating", "assessment_type": "feedback", "value": "4",
              "aggregate_value": "4.0"},
    }  # fmt: skip
    summary = json.loads(view_rollups.projection(_meta(facts, assessments))[view_rollups.VIEWS])
    hour = T - T % HOUR
    # Start hours as hours after the trace's.
    assert sorted(map(tuple, summary["s"])) == [
        (0, "TOOL", "OK", "search", 2, 40, 2),
        (1, "TOOL", "ERROR", "calc", 1, 0, 0),
    ]
    stats = {"experiment_id": "1", "timestamp_ms": T, "trace_id": "tr-1", **_projection(facts)}
    spans = view_rollups.contribution(stats).spans
    assert sorted(spans)[0][:4] == (hour, "TOOL", "OK", "search")
    assert sorted(map(tuple, summary["a"])) == [
        ("feedback", "correct", "true", 1, 1, 1),
        ("feedback", "rating", "4", 1, 4, 1),
    ]


def test_what_cannot_be_summed_exactly_is_flagged():
    old_facts = {"a": ["search", "TOOL", "OK"]}
    fractional = {"x": {"name": "s", "assessment_type": "feedback", "value": "0.25",
                        "aggregate_value": "0.25"}}  # fmt: skip
    many = {str(i): [f"tool{i}", "TOOL", "OK", T, 1] for i in range(31)}
    overflow = {"span_facts_overflow": True, "timestamp_ms": T}
    for meta in (_meta(old_facts, fractional), _meta(many), overflow):
        summary = json.loads(view_rollups.projection(meta)[view_rollups.VIEWS])
        assert summary["s"] is None
    assert json.loads(view_rollups.projection(_meta({}, fractional))["vr"])["a"] is None


def _projection(facts):
    return view_rollups.projection(_meta(facts))
