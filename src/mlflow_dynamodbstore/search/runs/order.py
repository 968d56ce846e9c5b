"""search_runs ordering with the exact semantics of MLflow's SQL store (_get_orderby_clauses).

For each ``order_by`` clause the SQL store sorts first by a presence flag, ascending, then
by the value in the requested direction, so missing values come last in both directions;
for metrics the flag is 0 = a value, 1 = NaN (stored as 0, so NaNs tie), 2 = no such
metric. It then appends ``start_time DESC`` (unless start_time was ordered on) and
``run_uuid ASC``. ``RunOrder.key`` reproduces that as a Python sort key; ``token_key`` /
``key_from_token`` round-trip a key through a page token.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.utils.search_utils import SearchUtils

from mlflow_dynamodbstore.search.runs.filter import ATTRIBUTE, METRIC, PARAM, TAG
from mlflow_dynamodbstore.search.runs.view import RunView

PRESENT, NAN, MISSING = 0, 1, 2  # presence flags; non-metrics use PRESENT and NAN(=NULL)


@functools.total_ordering
class Desc:
    """Wraps a value so that it sorts in descending order inside a tuple key."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Desc) and self.value == other.value

    def __lt__(self, other: Desc) -> bool:
        return other.value < self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"Desc({self.value!r})"


@dataclass(frozen=True)
class OrderClause:
    kind: str  # METRIC, PARAM, TAG or ATTRIBUTE
    key: str
    ascending: bool

    def raw(self, view: RunView) -> tuple[int, Any]:
        """(presence flag, value) as SQL sees it; the value is 0 when absent so that
        absent entries tie."""
        if self.kind == METRIC:
            metric = view.metrics.get(self.key)
            if metric is None:
                return MISSING, 0
            return (NAN, 0) if metric.is_nan else (PRESENT, metric.value)
        if self.kind == PARAM:
            value = view.params.get(self.key)
        elif self.kind == TAG:
            value = view.tags.get(self.key)
        else:
            value = view.attribute(self.key)
        return (NAN, 0) if value is None else (PRESENT, value)


@dataclass(frozen=True)
class RunOrder:
    clauses: tuple[OrderClause, ...]

    @property
    def orders_by_start_time(self) -> bool:
        return any(c.kind == ATTRIBUTE and c.key == "start_time" for c in self.clauses)

    @property
    def is_default(self) -> bool:
        """Exactly MLflow's default order: start_time DESC, run_id ASC."""
        return not self.clauses or self.clauses == (OrderClause(ATTRIBUTE, "start_time", False),)

    def key(self, view: RunView) -> tuple:
        return self.key_from_token(self.token_key(view))

    def token_key(self, view: RunView) -> list:
        """The JSON-serialisable raw sort values of a run (what a page token stores)."""
        raw: list = [list(c.raw(view)) for c in self.clauses]
        if not self.orders_by_start_time:
            raw.append(view.start_time)
        raw.append(view.run_id)
        return raw

    def key_from_token(self, raw: list) -> tuple:
        parts: list = []
        for clause, (flag, value) in zip(self.clauses, raw[: len(self.clauses)], strict=True):
            parts.append(flag)
            parts.append(value if clause.ascending else Desc(value))
        if not self.orders_by_start_time:
            start_time = raw[len(self.clauses)]
            # SQLite sorts NULL lowest, so DESC puts a NULL start_time last
            parts.append(1 if start_time is None else 0)
            parts.append(Desc(start_time or 0))
        parts.append(raw[-1])
        return tuple(parts)

    def fingerprint(self) -> str:
        """Identifies the order in page tokens, so a token is not resumed under another."""
        text = json.dumps([[c.kind, c.key, c.ascending] for c in self.clauses])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_run_order(order_by: list[str] | None) -> RunOrder:
    """Parse ``order_by`` with SearchUtils, with the SQL store's checks and messages."""
    clauses: list[OrderClause] = []
    seen: set[tuple[str, str]] = set()
    for text in order_by or []:
        key_type, key, ascending = SearchUtils.parse_order_by_for_search_runs(text)
        key = SearchUtils.translate_key_alias(key)
        if SearchUtils.is_string_attribute(key_type, key, "=") or SearchUtils.is_numeric_attribute(
            key_type, key, "="
        ):
            kind = ATTRIBUTE
        elif SearchUtils.is_metric(key_type, "="):
            kind = METRIC
        elif SearchUtils.is_tag(key_type, "="):
            kind = TAG
        elif SearchUtils.is_param(key_type, "="):
            kind = PARAM
        else:
            raise MlflowException(
                f"Invalid identifier type '{key_type}'", error_code=INVALID_PARAMETER_VALUE
            )
        if (kind, key) in seen:
            # The SQL store raises this without an error code (a 500); bad input is a 400 here.
            raise MlflowException(
                f"`order_by` contains duplicate fields: {order_by}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        seen.add((kind, key))
        clauses.append(OrderClause(kind, key, ascending))
    return RunOrder(tuple(clauses))
