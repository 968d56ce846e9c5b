"""Index names and index key attributes live in schema/: callers name access patterns.

- No string literal outside ``schema/`` names an index (``GSI1``) or an index key attribute
  (``GSI2PK``, ``LSI1SK``): a source scan of the package.
- Every access pattern in ``schema/indexes.py`` refers to an index the table declares, with
  that index's key attributes, and the key builders place items under those attributes.
- Every declared index no pattern uses is listed as reserved in docs/schema.md.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.schema import (
    analytics_keys,
    dataset_keys,
    gateway_cost_keys,
    indexes,
    job_keys,
    keys,
    labeling_keys,
    registry_order_keys,
    scorer_keys,
    session_keys,
    tag_index_keys,
    trace_archival_keys,
    trace_name_keys,
    trace_name_order_keys,
    trace_order_keys,
    version_number_keys,
)
from mlflow_dynamodbstore.schema.table import create_table_request

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "mlflow_dynamodbstore"
SCHEMA = PACKAGE / "schema"
# An index name or index key attribute as a word of its own: GSI1, GSI1PK, GSI5SK, LSI3SK...
INDEX_WORD = re.compile(r"\b[GL]SI\d+(?:PK|SK)?\b")


def _documentation_strings(tree: ast.AST) -> set[int]:
    """ids of string constants that are statements of their own (docstrings and other bare
    strings): prose, free to mention an index."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def index_literals(source: str) -> list[tuple[int, str]]:
    """(line, literal) of every string literal in ``source`` naming an index or index key
    attribute, f-string parts included, docstrings and comments excluded."""
    tree = ast.parse(source)
    prose = _documentation_strings(tree)
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in prose
        and INDEX_WORD.search(node.value)
    )


def test_the_scan_finds_index_literals_and_ignores_prose():
    source = '''
"""Module docstring about GSI1."""
# a comment about GSI2PK
def f(gateway, x):
    """Reads GSI3."""
    gateway.query(cond, index="GSI1")
    expr = "SET a = :a REMOVE GSI2PK, GSI2SK"
    names = {"#u_pk": "GSI1PK"}
    sk = item[f"LSI{x}SK"]  # not a whole word: built, not named (schema/table.py does it)
    other = f"{x} GSI4SK"
    fine = ("GSI", "PK", "WORKSPACES_GSI1PK", "META")
'''
    found = index_literals(source)
    assert [line for line, _ in found] == [6, 7, 8, 10]


def test_no_index_literal_outside_schema():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if SCHEMA in path.parents:
            continue
        for line, literal in index_literals(path.read_text()):
            offenders.append(f"{path.relative_to(REPO)}:{line}: {literal!r}")
    assert not offenders, (
        "index names and index key attributes belong to schema/ (name the access pattern "
        "from schema/indexes.py instead):\n" + "\n".join(offenders)
    )


def _declared_indexes() -> dict[str, tuple[str, str]]:
    """{index name: (partition key attribute, sort key attribute)} as the table declares."""
    request = create_table_request("t")
    declared = {}
    for index in request["GlobalSecondaryIndexes"] + request["LocalSecondaryIndexes"]:
        schema = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
        declared[index["IndexName"]] = (schema["HASH"], schema["RANGE"])
    return declared


def _module_patterns() -> list[indexes.AccessPattern]:
    return [v for v in vars(indexes).values() if isinstance(v, indexes.AccessPattern)]


def test_every_access_pattern_is_listed():
    assert set(_module_patterns()) == set(indexes.ACCESS_PATTERNS)
    assert len({p.name for p in indexes.ACCESS_PATTERNS}) == len(indexes.ACCESS_PATTERNS)


@pytest.mark.parametrize("pattern", indexes.ACCESS_PATTERNS, ids=lambda p: p.name)
def test_access_pattern_refers_to_a_declared_index(pattern):
    declared = _declared_indexes()
    assert pattern.index in declared, f"{pattern.index} is not declared in schema/table.py"
    assert (pattern.pk, pattern.sk) == declared[pattern.index]


def test_patterns_only_on_declared_gsis():
    with pytest.raises(ValueError):
        indexes.AccessPattern.on_gsi(6, "beyond the table")
    with pytest.raises(ValueError):
        indexes.AccessPattern.on_gsi(0, "before the table")


# What the key builders of schema/keys.py write for each pattern (one case per pattern).
PLACED = {
    indexes.WORKSPACES_BY_NAME: keys.workspace_list_keys("ws"),
    indexes.EXPERIMENTS_BY_CREATION: keys.experiment_list_keys("ws", "active", "1", 5),
    indexes.RUNS_BY_START_TIME: keys.run_list_keys("1", 5, "ab"),
    indexes.RUNS_BY_METRIC: keys.metric_rank_keys("1", "m", 0.5, "ab"),
    indexes.REGISTERED_MODELS_BY_NAME: keys.registered_model_list_keys("ws", "m"),
    indexes.MODEL_VERSIONS_BY_WORKSPACE: version_number_keys.live_version_keys("ws", 1, "m"),
    indexes.MODEL_VERSIONS_BY_RUN: keys.model_version_run_keys("ws", "r", "id", 1),
    indexes.WEBHOOKS_BY_CREATION: keys.webhook_list_keys("ws", 5, "w"),
    indexes.AUTH_USERS_BY_ID: keys.auth_user_list_keys(1),
    indexes.AUTH_ROLES_BY_ID: keys.auth_role_list_keys(1),
    indexes.SCORERS_BY_WORKSPACE: scorer_keys.scorer_list_keys("ws", "1", "s"),
    indexes.ACTIVE_ONLINE_SCORERS: scorer_keys.active_online_scorer_list_keys("ws", 5, "c"),
    indexes.TRACES_BY_TIMESTAMP: keys.trace_list_keys("1", 5, "tr-1"),
    indexes.LOGGED_MODELS_BY_EXPERIMENT: keys.logged_model_list_keys("1", "active", 5, "m"),
    indexes.DATASETS_BY_CREATION: dataset_keys.dataset_list_keys("ws", 5, "d-1"),
    indexes.DATASETS_BY_EXPERIMENT: dataset_keys.dataset_link_list_keys("1", "d-1"),
    indexes.DATASET_RECORDS_BY_CREATION: dataset_keys.dataset_record_order_keys("d-1", 5, "dr-1"),
    indexes.LABEL_SCHEMAS_BY_CREATION: labeling_keys.label_schema_list_keys("1", 5, "ls-1"),
    indexes.REVIEW_QUEUES_BY_CREATION: labeling_keys.review_queue_list_keys("1", 5, "rq-1"),
    indexes.REVIEW_QUEUE_ITEMS_BY_CREATION: labeling_keys.review_queue_item_list_keys(
        "rq-1", 5, "tr-1"
    ),
    indexes.REVIEW_QUEUE_ITEMS_BY_STATUS: labeling_keys.review_queue_item_status_keys(
        "rq-1", "pending", 5, "tr-1"
    ),
    indexes.ISSUES_BY_EXPERIMENT: dict(
        list(labeling_keys.issue_list_keys("1", "ws", 2, 5, "iss-1").items())[:2]
    ),
    indexes.ISSUES_BY_WORKSPACE: dict(
        list(labeling_keys.issue_list_keys("1", "ws", 2, 5, "iss-1").items())[2:]
    ),
    indexes.TRACE_STATS_BY_TIME: analytics_keys.trace_stats_list_keys("1", 5, "tr-1"),
    indexes.GATEWAY_TRACE_COSTS_BY_TIME: gateway_cost_keys.gateway_cost_list_keys(5, "tr-1"),
    indexes.TRACES_NOT_ARCHIVED: trace_archival_keys.unarchived_list_keys("1", 5, "tr-1"),
    indexes.JOBS_BY_CREATION: job_keys.job_list_keys("ws", 5, "job-1"),
    indexes.JOBS_BY_STATUS: job_keys.job_status_keys("ws", "PENDING", 5, "job-1"),
    indexes.RUNS_BY_TAG: tag_index_keys.run_tag_index_keys("r1", "1", "mlflow.user", "u"),
    indexes.EXPERIMENTS_BY_TAG: tag_index_keys.experiment_tag_index_keys("ws", "1", "k", "v"),
    indexes.REGISTERED_MODELS_BY_LAST_UPDATE: registry_order_keys.model_update_keys("ws", 5, "id"),
    indexes.MODEL_VERSIONS_BY_LAST_UPDATE: registry_order_keys.version_update_keys(
        "ws", 5, "id", 1
    ),
    indexes.MODEL_VERSIONS_BY_CREATION: registry_order_keys.version_creation_keys("ws", 5, "id", 1),
    indexes.TRACES_BY_EXECUTION_TIME: trace_order_keys.execution_time_keys("1", 7, 5, "tr-1"),
    indexes.SESSIONS_BY_LAST_TRACE: session_keys.by_last_keys("1", "s-1", 1_000),
    indexes.TRACES_BY_NAME: trace_name_keys.by_name_keys("1", "predict", 5, "tr-1"),
    indexes.TRACES_WITHOUT_NAME: trace_name_order_keys.nameless_keys("1", 5, "tr-1"),
}


def test_every_pattern_has_a_key_builder_case():
    assert set(PLACED) == set(indexes.ACCESS_PATTERNS)


@pytest.mark.parametrize("pattern", list(PLACED), ids=lambda p: p.name)
def test_key_builders_place_items_under_the_pattern_attributes(pattern):
    placed = PLACED[pattern]
    assert tuple(placed) == pattern.key_attributes
    assert pattern.sort_key(placed) == placed[pattern.sk]


def test_key_conditions_are_the_plain_boto3_conditions():
    """The helpers build exactly the conditions callers used to write by hand, so requests
    (and their cost) do not change."""
    p = indexes.RUNS_BY_START_TIME
    pk, sk = Key(p.pk), Key(p.sk)
    assert p.pk_eq("x") == pk.eq("x")
    assert p.key_condition("x") == pk.eq("x")
    assert p.key_condition("x", lower="a", upper="b") == pk.eq("x") & sk.between("a", "b")
    assert p.key_condition("x", lower="a") == pk.eq("x") & sk.gte("a")
    assert p.key_condition("x", upper="b") == pk.eq("x") & sk.lte("b")
    assert p.key_condition("x", below="b") == pk.eq("x") & sk.lt("b")
    assert p.key_condition("x", prefix="a#") == pk.eq("x") & sk.begins_with("a#")
    with pytest.raises(ValueError):
        p.key_condition("x", lower="a", prefix="a#")
    with pytest.raises(ValueError):
        p.key_condition("x", upper="a", below="b")


def test_remove_clause_takes_an_item_out_of_the_index():
    assert indexes.MODEL_VERSIONS_BY_RUN.remove_clause == "REMOVE GSI2PK, GSI2SK"
    assert indexes.WEBHOOKS_BY_CREATION.remove_clause == "REMOVE GSI1PK, GSI1SK"


def test_declared_indexes_without_a_pattern_are_documented_as_reserved():
    used = {p.index for p in indexes.ACCESS_PATTERNS}
    unused = sorted(set(_declared_indexes()) - used)
    text = (REPO / "docs" / "schema.md").read_text()
    reserved = text.split("## Reserved indexes", 1)
    assert len(reserved) == 2, "docs/schema.md has no 'Reserved indexes' section"
    section = reserved[1].split("\n## ", 1)[0]
    missing = [name for name in unused if f"`{name}`" not in section]
    assert not missing, f"declared but unused, and not documented as reserved: {missing}"
