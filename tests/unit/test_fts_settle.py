"""How long ``fts backfill`` waits for every server to see an opt-in field's switch (one
mechanism for env and CLI switches, backfills/fts.py)."""

from __future__ import annotations

import pytest

from mlflow_dynamodbstore.backfills.fts import SETTLE_MARGIN, seconds_to_settle
from mlflow_dynamodbstore.config.settings import (
    BUILT_TRIGRAM_FIELDS,
    OPT_IN_TRIGRAM_FIELDS,
    unbuilt_trigram_fields,
)

NOW = 1_000_000.0


def test_waits_from_the_latest_switch_of_a_field_not_ready():
    markers = {
        "trace_name": {"complete": False, "changed_at": NOW - 10},
        "run_tag_value": {"complete": False, "changed_at": NOW - 50},
    }
    assert seconds_to_settle(markers, 60, NOW) == pytest.approx(50 + SETTLE_MARGIN)


def test_ready_fields_and_unrecorded_switches_are_not_waited_for():
    markers = {
        "trace_name": {"complete": True, "changed_at": NOW},
        "run_tag_value": {"complete": False},  # configured before switches were recorded
        "run_param_value": {},
    }
    assert seconds_to_settle(markers, 60, NOW) == 0.0


def test_the_earlier_cli_record_counts_as_the_switch_and_zero_settle_has_no_margin():
    markers = {"run_param_value": {"complete": False, "configured_at": NOW - 20}}
    assert seconds_to_settle(markers, 60, NOW) == pytest.approx(40 + SETTLE_MARGIN)
    assert seconds_to_settle(markers, 0, NOW) == 0.0


def test_every_opt_in_field_is_built_and_the_rest_are_not():
    assert set(OPT_IN_TRIGRAM_FIELDS) <= set(BUILT_TRIGRAM_FIELDS)
    assert {
        "experiment_tag_value",
        "model_tag_value",
        "model_version_tag_value",
        "trace_tag_value",
        "trace_metadata_value",
    } <= set(OPT_IN_TRIGRAM_FIELDS)
    assert unbuilt_trigram_fields(("experiment_description", "trace_tag_value")) == (
        "experiment_description",
    )
