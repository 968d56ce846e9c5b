"""search_runs filters: parsed by MLflow's SearchUtils, evaluated in memory on RunViews with
the semantics of MLflow's SQL store on SQLite.

SearchUtils.filter (what FileStore uses) is close but not exact, so the comparison of one
clause is written here:

- ``attributes.run_name`` is matched against the ``mlflow.runName`` tag, as the SQL store
  does (a run without that tag matches nothing), not against the run_name attribute;
- LIKE follows SQLite with ``PRAGMA case_sensitive_like = true`` (MLflow sets it): ``%`` and
  ``_`` also match newlines, and ILIKE (``lower(x) LIKE lower(y)``) folds ASCII letters only;
- metrics compare as stored in SQL: NaN satisfies only ``!=``, +-inf compare as the largest
  finite double.

Everything else (NULL never matches, IN/NOT IN on run ids, numeric attribute comparison)
agrees with ``SearchUtils.get_comparison_func``, which is reused.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
from mlflow.utils.search_utils import SearchUtils

from mlflow_dynamodbstore.compat.search import numeric_literal
from mlflow_dynamodbstore.search.runs.view import RunView

Predicate = Callable[[RunView], bool]

METRIC = "metric"
PARAM = "param"
TAG = "tag"
ATTRIBUTE = "attribute"
DATASET = "dataset"


@dataclass(frozen=True)
class Clause:
    kind: str  # one of METRIC, PARAM, TAG, ATTRIBUTE, DATASET
    key: str  # alias-translated (``created`` -> ``start_time``)
    comparator: str  # upper case
    value: Any


@dataclass(frozen=True)
class RunFilter:
    clauses: tuple[Clause, ...]

    @property
    def needs_datasets(self) -> bool:
        return any(c.kind == DATASET for c in self.clauses)

    def keys_of(self, kind: str) -> set[str]:
        return {c.key for c in self.clauses if c.kind == kind}

    def matches(self, view: RunView) -> bool:
        return all(_matches(clause, view) for clause in self.clauses)


def parse_run_filter(filter_string: str | None) -> RunFilter:
    """Parse and validate a filter with SearchUtils; raise the SQL store's errors for bad
    input (INVALID_PARAMETER_VALUE) before anything is read."""
    return RunFilter(tuple(_classify(s) for s in SearchUtils.parse_search_filter(filter_string)))


def _classify(statement: dict) -> Clause:
    # Same checks, in the same order, as the SQL store's _get_sqlalchemy_filter_clauses.
    key_type = statement.get("type")
    key = SearchUtils.translate_key_alias(statement.get("key"))
    comparator = statement.get("comparator").upper()
    value = statement.get("value")
    if SearchUtils.is_string_attribute(key_type, key, comparator):
        return Clause(ATTRIBUTE, key, comparator, value)
    if SearchUtils.is_numeric_attribute(key_type, key, comparator):
        return Clause(ATTRIBUTE, key, comparator, numeric_literal(value))
    if SearchUtils.is_metric(key_type, comparator):
        return Clause(METRIC, key, comparator, float(value))
    if SearchUtils.is_param(key_type, comparator):
        return Clause(PARAM, key, comparator, value)
    if SearchUtils.is_tag(key_type, comparator):
        return Clause(TAG, key, comparator, value)
    if SearchUtils.is_dataset(key_type, comparator):
        return Clause(DATASET, key, comparator, value)
    raise MlflowException(
        f"Invalid search expression type '{key_type}'", error_code=INVALID_PARAMETER_VALUE
    )


def _matches(clause: Clause, view: RunView) -> bool:
    kind, key, comparator, value = clause.kind, clause.key, clause.comparator, clause.value
    if kind == METRIC:
        metric = view.metrics.get(key)
        if metric is None:
            return False
        if metric.is_nan:
            return comparator == "!="  # every comparison with NaN is false except "!="
        return compare(comparator, metric.value, value)
    if kind in (PARAM, TAG):
        lhs = (view.params if kind == PARAM else view.tags).get(key)
        if comparator == "IS NULL":
            return lhs is None
        if comparator == "IS NOT NULL":
            return lhs is not None
        return lhs is not None and compare(comparator, lhs, value)
    if kind == ATTRIBUTE:
        lhs = view.tags.get(MLFLOW_RUN_NAME) if key == "run_name" else view.attribute(key)
        return lhs is not None and compare(comparator, lhs, value)
    # DATASET: the run has at least one dataset input satisfying the comparison.
    if view.datasets is None:
        raise RuntimeError("dataset filter evaluated on a run whose inputs were not loaded")
    return any(
        lhs is not None and compare(comparator, lhs, value)
        for lhs in (getattr(ref, key) for ref in view.datasets)
    )


def compare(comparator: str, lhs: Any, rhs: Any) -> bool:
    """One SQL comparison of a non-NULL value (NULLs are handled by the caller)."""
    if comparator == "LIKE":
        return sql_like(lhs, rhs)
    if comparator == "ILIKE":
        return sql_like(_ascii_lower(lhs), _ascii_lower(rhs))
    return SearchUtils.get_comparison_func(comparator)(lhs, rhs)


def sql_like(value: str, pattern: str) -> bool:
    """SQLite LIKE with case_sensitive_like on and no ESCAPE clause."""
    return _like_regex(pattern).fullmatch(value) is not None


@functools.lru_cache(maxsize=256)
def _like_regex(pattern: str) -> re.Pattern:
    parts = []
    for char in pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(text: str) -> str:
    """SQLite's lower() without ICU folds only ASCII letters."""
    return text.translate(_ASCII_LOWER)
