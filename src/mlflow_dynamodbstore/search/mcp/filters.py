"""Filter strings of the MCP registry searches, parsed by MLflow's own parsers
(``SearchMCPServerUtils`` and friends, as in MLflow 3.17 on every release: compat/mcp_search.py)
and evaluated in memory with SQLite's semantics (case-sensitive LIKE, NULL never matching,
SemVer precedence for version ranges)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.utils.semver_utils import encode_prerelease_sort_key, parse_semver

from mlflow_dynamodbstore.compat.mcp_search import (
    SearchMCPAccessEndpointUtils,
    SearchMCPServerUtils,
    SearchMCPServerVersionUtils,
)
from mlflow_dynamodbstore.search.logged_models.match import compare

VALID_COMPARATORS = {"=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE", "IN", "NOT IN"}
NUMERIC = {"created_at", "last_updated_at"}
Predicate = Callable[[Any], bool]
Getter = Callable[[Any, str], Any]


def _check_comparator(clause: dict, what: str) -> None:
    if clause["comparator"] not in VALID_COMPARATORS:
        raise MlflowException(
            f"Invalid comparator '{clause['comparator']}' for {what} '{clause['key']}'.",
            error_code=INVALID_PARAMETER_VALUE,
        )


def _invalid_type(clause: dict) -> MlflowException:
    return MlflowException(
        f"Invalid filter type '{clause['type']}'.", error_code=INVALID_PARAMETER_VALUE
    )


def _matches(lhs: Any, clause: dict) -> bool:
    return compare(lhs, clause["comparator"], clause["value"], integer=clause["key"] in NUMERIC)


def _all(predicates: list[Predicate]) -> Predicate:
    return lambda row: all(p(row) for p in predicates)


def _attribute(clause: dict, get: Getter) -> Predicate:
    return lambda row: _matches(get(row, clause["key"]), clause)


# ---- servers -------------------------------------------------------------------------------
def server_filter(
    filter_string: str | None,
    attribute: Getter,
    tag: Callable[[Any, str], tuple[bool, Any]],
    has_endpoints: Callable[[Any], bool],
) -> tuple[Predicate, bool]:
    """(predicate over a server row, whether it needs the server's partition: status,
    endpoints or tags). ``attribute(row, key)``: name, display_name, status, created_at,
    last_updated_at; ``tag(row, key)``: (present, value)."""
    predicates: list[Predicate] = []
    needs_partition = False
    for clause in SearchMCPServerUtils.parse_search_filter(filter_string):
        if clause["type"] == "attribute":
            _check_comparator(clause, "attribute")
            key = clause["key"]
            if key == "has_access_endpoints":
                value = clause["value"]
                if clause["comparator"] != "=" or str(value).lower() not in ("true", "false"):
                    raise MlflowException(
                        "has_access_endpoints only supports '= true' or '= false'",
                        error_code=INVALID_PARAMETER_VALUE,
                    )
                wanted = str(value).lower() == "true"
                predicates.append(lambda row, wanted=wanted: has_endpoints(row) == wanted)
                needs_partition = True
            else:
                predicates.append(_attribute(clause, attribute))
                needs_partition = needs_partition or key == "status"
        elif clause["type"] == "tag":
            _check_comparator(clause, "tag")
            predicates.append(_tag(clause, tag))
            needs_partition = True
        else:
            raise _invalid_type(clause)
    return _all(predicates), needs_partition


def _tag(clause: dict, tag: Callable[[Any, str], tuple[bool, Any]]) -> Predicate:
    def matches(row: Any) -> bool:
        present, value = tag(row, clause["key"])
        return present and _matches(value, clause)

    return matches


# ---- versions ------------------------------------------------------------------------------
def semver_tuple(version: str) -> tuple:
    parsed = parse_semver(version, param_name="filter_string version")
    return (parsed.major, parsed.minor, parsed.patch, encode_prerelease_sort_key(parsed))


def version_filter(
    filter_string: str | None, attribute: Getter, semver: Callable[[Any], tuple]
) -> Predicate:
    predicates: list[Predicate] = []
    for clause in SearchMCPServerVersionUtils.parse_search_filter(filter_string):
        if clause["type"] != "attribute":
            raise _invalid_type(clause)
        _check_comparator(clause, "attribute")
        if clause["key"] == "version":
            predicates.append(_version_clause(clause, attribute, semver))
        else:
            predicates.append(_attribute(clause, attribute))
    return _all(predicates)


def _version_clause(clause: dict, attribute: Getter, semver: Callable[[Any], tuple]) -> Predicate:
    """Equality on the raw version string, ranges by SemVer precedence (the SQL store's
    ``_get_semver_version_filter_expression``)."""
    comparator, value = clause["comparator"], clause["value"]
    if comparator not in {"=", "!=", "<", "<=", ">", ">="}:
        raise MlflowException.invalid_parameter_value(
            "version only supports semantic comparators '=', '!=', '<', '<=', '>', and '>='"
        )
    if comparator in ("=", "!="):
        return _attribute(clause, attribute)
    target = semver_tuple(value)
    ops: dict[str, Callable[[tuple, tuple], bool]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    op = ops[comparator]
    return lambda row: op(semver(row), target)


# ---- access endpoints ----------------------------------------------------------------------
def endpoint_filter(filter_string: str | None, attribute: Getter) -> Predicate:
    predicates: list[Predicate] = []
    for clause in SearchMCPAccessEndpointUtils.parse_search_filter(filter_string):
        if clause["type"] != "attribute":
            raise _invalid_type(clause)
        _check_comparator(clause, "attribute")
        predicates.append(_attribute(clause, attribute))
    return _all(predicates)
