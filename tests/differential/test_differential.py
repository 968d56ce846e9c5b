"""Every registered scenario, run against SqlAlchemyStore (SQLite) and DynamoDBTrackingStore:
the normalised outcomes must be equal."""

from __future__ import annotations

import difflib
import json

import pytest

from tests.compat import requires_mlflow
from tests.differential.harness import SCENARIOS, Scenario, outcome
from tests.differential.scenarios import load_all

load_all()


def _params():
    for s in SCENARIOS:
        marks = [pytest.mark.xfail(strict=True, reason=s.xfail)] if s.xfail else []
        if s.reference_since:
            marks.append(requires_mlflow(*s.reference_since))
        yield pytest.param(s, id=s.id, marks=marks)


def _pretty(value) -> list[str]:
    return json.dumps(value, indent=1, sort_keys=True, default=repr).splitlines()


@pytest.mark.parametrize("scenario", list(_params()))
def test_same_outcome_as_sqlalchemy_store(scenario: Scenario, artifact_root, request):
    prefix = "ws_" if scenario.workspaces else ""
    sql_store = request.getfixturevalue(f"{prefix}sql_store")
    dynamo_store = request.getfixturevalue(f"{prefix}dynamo_store")
    expected = outcome(scenario, sql_store, [artifact_root], reference=True)
    actual = outcome(scenario, dynamo_store, [artifact_root])
    if actual != expected:
        diff = difflib.unified_diff(
            _pretty(expected), _pretty(actual), "SqlAlchemyStore", "DynamoDBTrackingStore", n=4
        )
        pytest.fail("outcomes differ:\n" + "\n".join(diff), pytrace=False)
