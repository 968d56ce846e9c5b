"""The package imports on every supported MLflow release, and the helpers compat/ copies for
older releases behave as MLflow's originals (checked where the original exists)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re

import pytest

import mlflow_dynamodbstore
from mlflow_dynamodbstore.compat import OLDEST_SUPPORTED, mlflow_at_least
from mlflow_dynamodbstore.compat.search import numeric_literal

# Features built on MLflow 3.17's own model, refused with a clear message before it (the auth
# app: auth/app.py REQUIRED_MLFLOW; the job backend: jobs/mlflow_patch.py); their modules
# import MLflow 3.17 names and are loaded only after that check.
NEEDS_3_17 = {
    "mlflow_dynamodbstore.auth.grants",
    "mlflow_dynamodbstore.auth.resource_grants",
    "mlflow_dynamodbstore.auth.store",
    "mlflow_dynamodbstore.stores.job_store",
}


def _modules() -> list[str]:
    prefix = mlflow_dynamodbstore.__name__ + "."
    return sorted(m.name for m in pkgutil.walk_packages(mlflow_dynamodbstore.__path__, prefix))


@pytest.mark.parametrize("module", _modules())
def test_every_module_imports(module):
    if module in NEEDS_3_17 and not mlflow_at_least("3.17"):
        with pytest.raises(ImportError):  # and the feature's entry refuses first (see below)
            importlib.import_module(module)
        return
    importlib.import_module(module)


def test_the_floor_is_pyprojects_and_the_one_test_compat_runs():
    import re
    import tomllib
    from pathlib import Path

    from packaging.version import Version

    root = Path(__file__).parents[2]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert f"mlflow>={OLDEST_SUPPORTED}" in pyproject["project"]["dependencies"]
    script = (root / "scripts" / "test-compat.sh").read_text()
    tested = Version(re.search(r"^OLDEST_TESTED=(\S+)", script, re.M).group(1))
    assert (tested.major, tested.minor) == (OLDEST_SUPPORTED.major, OLDEST_SUPPORTED.minor)


def test_features_needing_3_17_refuse_clearly_before_it():
    from mlflow.exceptions import MlflowException

    from mlflow_dynamodbstore.auth import app
    from mlflow_dynamodbstore.jobs import mlflow_patch

    if mlflow_at_least("3.17"):
        assert app.REQUIRED_MLFLOW == "3.17"
        return
    with pytest.raises(MlflowException, match=r"dynamodb-auth needs MLflow 3\.17 or later"):
        app.bootstrap()
    from mlflow_dynamodbstore.cli.auth import run_import

    with pytest.raises(MlflowException, match=r"auth import needs MLflow 3\.17 or later"):
        run_import("sqlite:///unused.db", "dynamodb://local/unused", dry_run=True)
    assert mlflow_patch._mlflow_minor() not in mlflow_patch.SUPPORTED_MLFLOW_MINORS


@pytest.mark.parametrize(
    ("text", "number"), [("10", 10), ("-3", -3), ("10.5", 10.5), ("1e-300", 1e-300)]
)
def test_numeric_literals_read_as_mlflow_3_17_parses_them(text, number):
    assert numeric_literal(text) == number
    assert numeric_literal(number) == number
    assert numeric_literal("abc") == "abc"


METADATA = [
    {},
    {"mlflow.trace.session": "s1"},
    {
        "mlflow.trace.tokenUsage": json.dumps(
            {"input_tokens": 3, "output_tokens": "4", "total_tokens": 7.0, "bogus": 1}
        ),
        "mlflow.trace.cost": json.dumps({"input_cost": 0.5, "total_cost": "inf"}),
    },
    {"mlflow.trace.tokenUsage": "not json", "mlflow.trace.cost": "[1]"},
    {"mlflow.trace.tokenUsage": json.dumps({"cache_creation_input_tokens_above_1hr": 2**70})},
]
VALUES = [None, True, 1, 1.5, "2", "2.5", "x", float("nan"), 10**400, "yes", " No ", [1]]


@pytest.mark.skipif(not mlflow_at_least("3.17"), reason="compares the copy with MLflow 3.17's")
def test_the_trace_analytics_copy_behaves_as_mlflow_3_17():
    from mlflow.store.tracking.utils import trace_analytics as original

    from mlflow_dynamodbstore.compat import _trace_analytics_3_17 as copy

    for name in ("TOKEN_COLUMN_BY_KEY", "COST_COLUMN_BY_KEY", "PROMOTED_TRACE_METADATA_KEYS"):
        assert getattr(copy, name) == getattr(original, name)
    for metadata in METADATA:
        assert copy.analytics_columns_from_metadata(metadata) == (
            original.analytics_columns_from_metadata(metadata)
        )
    for value in VALUES:
        for function in (
            "finite_float_or_none",
            "token_count_or_none",
            "assessment_aggregate",
            "bounded_model_dimension",
        ):
            assert getattr(copy, function)(value) == getattr(original, function)(value), (
                function,
                value,
            )


def test_the_trace_analytics_seam_works_on_this_release():
    from mlflow_dynamodbstore.compat.trace_analytics import analytics_columns_from_metadata

    columns = analytics_columns_from_metadata(METADATA[2])
    assert columns == {
        "input_tokens": 3,
        "output_tokens": 4,
        "total_tokens": 7,
        "input_cost": 0.5,
        "total_cost": None,
    }


def _clause(key: str, comparator: str, value) -> dict:
    return {"type": "attribute", "key": key, "comparator": comparator, "value": value}


LIST_ERROR = "Only {} attributes support comparison with a list of quoted string values."


@pytest.mark.parametrize(
    ("parser", "filter_string", "expected"),
    [
        # sqlparse reads `version` and `server_name` as SQL keywords: 3.17's parsers name them
        (
            "SearchMCPServerVersionUtils",
            "version >= '1.2.0-alpha.2' AND status = 'draft'",
            [_clause("version", ">=", "1.2.0-alpha.2"), _clause("status", "=", "draft")],
        ),
        # ...without touching a quoted value (the 3.15/3.16 SQL store's regex did)
        (
            "SearchMCPServerVersionUtils",
            "name = 'version = 1'",
            [_clause("name", "=", "version = 1")],
        ),
        (
            "SearchMCPServerVersionUtils",
            "status IN ('draft', 'Active')",
            [_clause("status", "IN", ("draft", "Active"))],  # before 3.17 'Active' was dropped
        ),
        ("SearchMCPServerVersionUtils", "version IN ('1.0.0')", LIST_ERROR.format("['status']")),
        (
            "SearchMCPServerUtils",
            "name IN ('com.example/S00', 'io.x/y')",
            [_clause("name", "IN", ("com.example/S00", "io.x/y"))],
        ),
        ("SearchMCPServerUtils", "display_name IN ('A')", LIST_ERROR.format("['name', 'status']")),
        (
            "SearchMCPAccessEndpointUtils",
            "server_name = 'com.example/weather' AND status = 'active'",
            [_clause("server_name", "=", "com.example/weather"), _clause("status", "=", "active")],
        ),
        (
            "SearchMCPAccessEndpointUtils",
            "server_name IN ('A/b')",
            [_clause("server_name", "IN", ("A/b",))],
        ),
    ],
)
def test_mcp_filters_parse_as_mlflow_3_17_parses_them(parser, filter_string, expected):
    from mlflow.exceptions import MlflowException

    from mlflow_dynamodbstore.compat import mcp_search

    parse = getattr(mcp_search, parser).parse_search_filter
    if isinstance(expected, str):
        with pytest.raises(MlflowException, match=re.escape(expected)) as refused:
            parse(filter_string)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    else:
        assert parse(filter_string) == expected


def test_the_mcp_parsers_are_mlflows_own_from_3_17():
    from mlflow.utils import search_utils

    from mlflow_dynamodbstore.compat import mcp_search

    for name in mcp_search.__all__:
        assert (getattr(mcp_search, name) is getattr(search_utils, name)) == mlflow_at_least("3.17")
