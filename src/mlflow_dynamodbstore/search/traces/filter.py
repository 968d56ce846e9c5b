"""MLflow's trace filter grammar evaluated on trace META items (and, for ``span.*``
clauses, on the trace's stored spans), with the SQL store's semantics.

Parsing is MLflow's (``SearchTraceUtils.parse_search_filter_for_search_traces``); the
comparisons reproduce what ``_get_filter_clauses_for_search_traces`` asks SQLite to do:
NULL never matches, LIKE is case sensitive, RLIKE is ``re.search``, span attribute clauses
match patterns against the span's stored JSON content, assessment clauses need a valid
assessment of that type and name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST, INVALID_PARAMETER_VALUE
from mlflow.tracing.constant import TraceMetadataKey, TraceTagKey
from mlflow.utils.search_utils import SearchTraceUtils, SearchUtils

from mlflow_dynamodbstore.compat.trace_analytics import (
    TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY,
    finite_float_or_none,
    token_count_or_none,
)
from mlflow_dynamodbstore.repositories.traces.codec import (
    decode_analytics,
    ordered_assessments,
)
from mlflow_dynamodbstore.repositories.traces.spans import SpanRow

Item = dict[str, Any]
SpanPredicate = Callable[[SpanRow], bool]


def compare(comparator: str, lhs: Any, rhs: Any) -> bool:
    """One SQL comparison; a NULL left-hand side never matches."""
    if lhs is None:
        return False
    if comparator == "RLIKE":
        try:
            return re.search(rhs, lhs) is not None
        except re.error:
            return False
    try:
        return bool(SearchUtils.get_comparison_func(comparator)(lhs, rhs))
    except TypeError:  # a value of another type than the column never matches
        return False


@dataclass
class TraceFilter:
    """A parsed filter: trace-level predicates, span predicates (all on one span, like the
    SQL store's single EXISTS) and the run id of a ``run_id = ...`` clause."""

    trace_predicates: list[Callable[[Item], bool]] = field(default_factory=list)
    span_predicates: list[SpanPredicate] = field(default_factory=list)
    # The span clauses as parsed, (key, comparator, value): for the X-Ray search fallback.
    span_clauses: list[tuple[str, str, Any]] = field(default_factory=list)
    # Some span clause reads span content (attributes, content): META's facts cannot answer.
    span_needs_content: bool = False
    run_id: str | None = None
    # (comparator, value) of the clauses on the trace name: the trigram index narrows them.
    name_clauses: list[tuple[str, Any]] = field(default_factory=list)
    # ("tags" | "metadata", key, comparator, value) of the clauses on tag and metadata
    # values (META's maps): the opt-in value postings narrow them (search/traces/by_value.py).
    value_clauses: list[tuple[str, str, str, Any]] = field(default_factory=list)
    # Bounds on timestamp_ms a key condition can use (inclusive).
    newest: int | None = None
    oldest: int | None = None
    # Every trace predicate reads only what a trace stats item also holds (timestamps,
    # status, name, session, token/cost columns), so stats items can stand in for META.
    stats_servable: bool = True

    @property
    def empty(self) -> bool:
        return not (self.trace_predicates or self.span_predicates or self.run_id)

    def matches_trace(self, item: Item) -> bool:
        if self.run_id:  # an empty run id filters nothing, as the SQL store's `if run_id_filter`
            linked = self.run_id in (item.get("linked_runs") or set())
            source = (item.get("metadata") or {}).get(TraceMetadataKey.SOURCE_RUN)
            if not linked and source != self.run_id:
                return False
        return all(p(item) for p in self.trace_predicates)

    def name_matches(self, name: str) -> bool:
        """Whether a trace of this name passes every clause on the name (the same
        predicates as on META: SQL LIKE / ILIKE / = semantics)."""
        item = {"trace_name": name}
        return all(_column_predicate("trace_name", c, v)(item) for c, v in self.name_clauses)

    @property
    def only_names(self) -> bool:
        """Every clause is on the trace name (a trace of a kept name matches)."""
        return (
            len(self.trace_predicates) == len(self.name_clauses)
            and not self.span_predicates
            and not self.run_id
        )

    def matches_spans(self, spans: list[SpanRow]) -> bool:
        return any(all(p(s) for p in self.span_predicates) for s in spans)


def _attribute_value(item: Item, key: str) -> Any:
    if key == "request_id":
        return item["trace_id"]
    if key in ("end_time_ms", "end_time"):
        return int(item["timestamp_ms"]) + int(item.get("execution_time_ms") or 0)
    if key == "experiment_id":
        return int(item["experiment_id"])
    value = item.get(key)
    if key in ("timestamp_ms", "execution_time_ms") and value is not None:
        return int(value)
    return value


def _analytics_metadata_predicate(key: str, comparator: str, value: Any):
    if comparator not in ("=", "!=", "IS NULL", "IS NOT NULL"):
        raise MlflowException.invalid_parameter_value(
            f"Comparator '{comparator}' is not supported for reserved metadata '{key}'. "
            "Only '=', '!=', 'IS NULL', and 'IS NOT NULL' are supported."
        )
    columns = TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY[key]
    canonical = None
    if comparator in ("=", "!="):
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError):
            parsed = None
        converter = (
            token_count_or_none if key == TraceMetadataKey.TOKEN_USAGE else finite_float_or_none
        )
        normalized = (
            {k: c for k in columns if (c := converter(parsed.get(k))) is not None}
            if isinstance(parsed, dict) and set(parsed).issubset(columns)
            else {}
        )
        if normalized and value == json.dumps(normalized):
            canonical = normalized

    def predicate(item: Item) -> bool:
        analytics = decode_analytics(item.get("analytics"))
        present = {k: analytics[c] for k, c in columns.items() if analytics[c] is not None}
        if comparator == "IS NULL":
            return not present
        if comparator == "IS NOT NULL":
            return bool(present)
        equal = canonical is not None and present == canonical
        return equal if comparator == "=" else bool(present) and not equal

    return predicate


def _assessment_predicate(key_type: str, name: str, comparator: str, value: Any):
    def candidates(item: Item) -> list[Item]:
        return [
            a
            for a in ordered_assessments(item)
            if a.get("assessment_type") == key_type and a.get("name") == name and a.get("valid")
        ]

    def value_matches(a: Item) -> bool:
        stored = a.get("value")
        if comparator in SearchTraceUtils.NUMERIC_ASSESSMENT_COMPARATORS:
            aggregate = a.get("aggregate_value")
            return bool(a.get("is_numeric_value")) and compare(
                comparator, None if aggregate is None else float(aggregate), value
            )
        if comparator in ("=", "!="):
            equal = stored in (str(value), json.dumps(value))
            return equal if comparator == "=" else not equal
        return compare(comparator, stored, value)

    if comparator == "IS NULL":
        return lambda item: not candidates(item)
    if comparator == "IS NOT NULL":
        return lambda item: bool(candidates(item))
    return lambda item: any(value_matches(a) for a in candidates(item))


def _span_predicate(key: str, comparator: str, value: Any) -> SpanPredicate:
    if key.startswith("attributes."):
        attr = SearchTraceUtils._trim_backticks(key[len("attributes.") :])
        if comparator in ("IN", "NOT IN"):
            # The SQL store turns this into an invalid SQL expression (BAD_REQUEST).
            raise MlflowException(
                f"span.attributes.{attr} cannot be compared with {comparator}; "
                "use =, !=, LIKE, ILIKE or RLIKE.",
                BAD_REQUEST,
            )
        if comparator == "RLIKE":
            pattern = value
            prefix, suffix = '"\\\\".*', ""
            if pattern.startswith("^"):
                pattern, prefix = pattern[1:], '"\\\\"'
            if pattern.endswith("$"):
                pattern, suffix = pattern[:-1], '\\\\"'
            rhs: Any = f'"{attr}": {prefix}{pattern}{suffix}'
        else:
            rhs = f'%"{attr}"{value}%'
        return lambda s: compare(comparator, s.content, rhs)
    column = {"name": "name", "type": "span_type", "status": "status", "content": "content"}[key]
    return lambda s: compare(comparator, getattr(s, column), value)


def parse_trace_filter(filter_string: str | None) -> TraceFilter:
    """Turn a filter string into predicates (errors as the SQL store raises them)."""
    result = TraceFilter()
    if not filter_string:
        return result
    for clause in SearchTraceUtils.parse_search_filter_for_search_traces(filter_string):
        key_type, key, value = clause.get("type"), clause.get("key"), clause.get("value")
        comparator = clause.get("comparator").upper()
        if SearchTraceUtils.is_issue(key_type, key, comparator):
            result.trace_predicates.append(_issue_predicate(value))
            result.stats_servable = False
        elif SearchTraceUtils.is_attribute(key_type, key, comparator):
            _add_attribute(result, key, comparator, value)
            result.stats_servable &= key in _STATS_ATTRIBUTES
        elif SearchTraceUtils.is_tag(key_type, comparator) and key == TraceTagKey.TRACE_NAME:
            result.trace_predicates.append(_column_predicate("trace_name", comparator, value))
            result.name_clauses.append((comparator, value))
        elif (
            SearchTraceUtils.is_request_metadata(key_type, comparator)
            and key == TraceMetadataKey.TRACE_SESSION
        ):
            result.trace_predicates.append(_session_predicate(comparator, value))
        elif (
            SearchTraceUtils.is_request_metadata(key_type, comparator)
            and key in TRACE_ANALYTICS_COLUMNS_BY_METADATA_KEY
        ):
            result.trace_predicates.append(_analytics_metadata_predicate(key, comparator, value))
        elif SearchTraceUtils.is_span(key_type, key, comparator):
            result.span_predicates.append(_span_predicate(key, comparator, value))
            result.span_clauses.append((key, comparator, value))
            result.span_needs_content |= key not in _FACT_KEYS
        else:
            result.stats_servable = False
            _add_meta_clause(result, key_type, key, comparator, value)
    return result


def _add_meta_clause(
    result: TraceFilter, key_type: str, key: str, comparator: str, value: Any
) -> None:
    """A clause on what only the META item holds (tags, metadata, runs, assessments)."""
    if (
        SearchTraceUtils.is_request_metadata(key_type, comparator)
        and key == TraceMetadataKey.SOURCE_RUN
        and comparator == "="
    ):
        result.run_id = value
    elif SearchTraceUtils.is_tag(key_type, comparator):
        if key == TraceTagKey.LINKED_PROMPTS:
            result.trace_predicates.append(_linked_prompt_predicate(comparator, value))
        else:
            result.trace_predicates.append(_map_predicate("tags", key, comparator, value))
            result.value_clauses.append(("tags", key, comparator, value))
    elif SearchTraceUtils.is_request_metadata(key_type, comparator):
        result.trace_predicates.append(_map_predicate("metadata", key, comparator, value))
        result.value_clauses.append(("metadata", key, comparator, value))
    elif SearchTraceUtils.is_assessment(key_type, key, comparator):
        result.trace_predicates.append(_assessment_predicate(key_type, key, comparator, value))
    else:
        raise MlflowException(
            f"Invalid search expression type '{key_type}'",
            error_code=INVALID_PARAMETER_VALUE,
        )


# Span clauses META's span facts answer (span_facts.py).
_FACT_KEYS = frozenset({"name", "type", "status"})
# Attributes a stats item answers as META does (request_id is its trace_id).
_STATS_ATTRIBUTES = frozenset(
    {"request_id", "timestamp_ms", "execution_time_ms", "end_time_ms", "status", "experiment_id"}
)
_NUMERIC_ATTRIBUTES = frozenset({"timestamp_ms", "execution_time_ms", "end_time_ms"})


def _sqlite_number(text: str) -> int | float | None:
    """The number SQLite's numeric affinity makes of a text literal compared with an integer
    column, or None when it stays text."""
    for kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            continue
    return None


def _add_attribute(result: TraceFilter, key: str, comparator: str, value: Any) -> None:
    if key in _NUMERIC_ATTRIBUTES and isinstance(value, str):
        number = _sqlite_number(value)
        if number is None:
            # SQLite orders every number before every text value.
            outcome = comparator in ("<", "<=", "!=")
            result.trace_predicates.append(
                lambda item: _attribute_value(item, key) is not None and outcome
            )
            return
        value = number
    result.trace_predicates.append(
        lambda item: compare(comparator, _attribute_value(item, key), value)
    )
    if key == "timestamp_ms" and isinstance(value, (int, float)) and not isinstance(value, bool):
        # Integer timestamp bounds for the GSI3 key condition (the predicate stays exact).
        newest = {"<": math.ceil(value) - 1, "<=": math.floor(value), "=": math.floor(value)}
        oldest = {">": math.floor(value) + 1, ">=": math.ceil(value), "=": math.ceil(value)}
        if (bound := newest.get(comparator)) is not None:
            result.newest = bound if result.newest is None else min(result.newest, bound)
        if (bound := oldest.get(comparator)) is not None:
            result.oldest = bound if result.oldest is None else max(result.oldest, bound)


def _column_predicate(column: str, comparator: str, value: Any):
    if comparator == "IS NULL":
        return lambda item: item.get(column) is None
    if comparator == "IS NOT NULL":
        return lambda item: item.get(column) is not None
    return lambda item: compare(comparator, item.get(column), value)


def _session_predicate(comparator: str, value: Any):
    def session(item: Item) -> Any:
        return decode_analytics(item.get("analytics"))["session_id"]

    if comparator == "IS NULL":
        return lambda item: session(item) is None
    if comparator == "IS NOT NULL":
        return lambda item: session(item) is not None
    return lambda item: compare(comparator, session(item), value)


def _map_predicate(attribute: str, key: str, comparator: str, value: Any):
    def lookup(item: Item) -> Any:
        return (item.get(attribute) or {}).get(key)

    if comparator == "IS NULL":
        return lambda item: key not in (item.get(attribute) or {})
    if comparator == "IS NOT NULL":
        return lambda item: key in (item.get(attribute) or {})
    return lambda item: compare(comparator, lookup(item), value)


def _linked_prompt_predicate(comparator: str, value: Any):
    """``tags.mlflow.linkedPrompts = "name/version"``: the trace was linked to that prompt
    version by link_prompts_to_trace (META's ``linked_prompts``), as the SQL store's
    association table; only '=' and one '/' are accepted, with its messages."""
    if comparator != "=":
        raise MlflowException(
            f"Invalid comparator '{comparator}' for prompts filter. "
            "Only '=' is supported with format: prompt = \"name/version\"",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if value.count("/") != 1:
        raise MlflowException(
            f"Invalid prompts filter value '{value}'. Expected format: prompt = \"name/version\"",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return lambda item: value in (item.get("linked_prompts") or ())


def _issue_predicate(issue_id: str):
    return lambda item: any(
        a.get("assessment_type") == "issue" and a.get("name") == issue_id
        for a in ordered_assessments(item)
    )
