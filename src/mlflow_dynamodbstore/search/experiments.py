"""search_experiments over GSI1 (one partition per workspace and lifecycle stage, sorted in
MLflow's default order). In the default order the stages are walked lazily and merged, and
a page costs the experiments walked past; any other order reads the stages whole (a few
hundred bytes per experiment) and sorts in memory.

The filter string is parsed by MLflow's SearchExperimentsUtils; each parsed clause is then
checked and evaluated with the SQL store's semantics over SQLite (see
``_get_search_experiments_filter_clauses`` in MLflow's sqlalchemy_store.py): experiment ids
compare as integers, numeric attributes reject float literals, LIKE is case-sensitive
(MLflow sets ``PRAGMA case_sensitive_like``) and ILIKE lowers ASCII letters only (SQLite's
``lower()``), tag comparisons need the tag to exist.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import json
import operator
import re
from collections.abc import Callable
from typing import Any

from mlflow.entities import Experiment, LifecycleStage
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils

from mlflow_dynamodbstore.compat.validation import _parse_experiment_id
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.postings import EXPERIMENT_NAME
from mlflow_dynamodbstore.fts.trigrams import required_trigrams
from mlflow_dynamodbstore.repositories.experiments import ExperimentRepository, to_experiment
from mlflow_dynamodbstore.repositories.tag_index import TagIndexReader, narrows
from mlflow_dynamodbstore.schema.fts_keys import WORKSPACE_SCOPE
from mlflow_dynamodbstore.search.tag_values import experiment_candidates
from mlflow_dynamodbstore.search.validation import integer_attribute_value, validate_max_results

_DEFAULT_ORDER = ["creation_time DESC", "experiment_id ASC"]
_COMPARE = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

Predicate = Callable[[Experiment], bool]


def sql_like(value: str, pattern: str, *, case_sensitive: bool = True) -> bool:
    """SQLite's LIKE without an ESCAPE clause: ``%`` any run, ``_`` one character, nothing
    else special. ILIKE is ``lower(x) LIKE lower(y)`` and SQLite lowers ASCII only."""
    if not case_sensitive:
        value, pattern = value.translate(_ASCII_LOWER), pattern.translate(_ASCII_LOWER)
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _string_predicate(comparator: str, value: str) -> Callable[[str], bool]:
    if comparator == "LIKE":
        return lambda lhs: sql_like(lhs, value)
    if comparator == "ILIKE":
        return lambda lhs: sql_like(lhs, value, case_sensitive=False)
    compare = _COMPARE[comparator]
    return lambda lhs: compare(lhs, value)


def name_accepts(clauses: list[tuple[str, Any]]) -> Callable[[str], bool]:
    """Whether a name satisfies every (comparator, value) clause on it: checks the name a
    trigram posting carries (fts/lookup.py) with the same predicate as the full path."""
    checks = [
        _string_predicate(comparator, value)
        for comparator, value in clauses
        if comparator in ("=", "!=", "LIKE", "ILIKE") and isinstance(value, str)
    ]
    return lambda name: all(check(name) for check in checks)


def _clause_predicate(clause: dict[str, Any]) -> Predicate:
    """One parsed clause to a predicate, raising as the SQL store does on bad input."""
    type_, key, comparator, value = (
        clause["type"],
        clause["key"],
        clause["comparator"],
        clause["value"],
    )
    if type_ == "attribute":
        if key == "experiment_id":
            if comparator not in ("=", "!=", "IN", "NOT IN"):
                raise MlflowException.invalid_parameter_value(
                    f"Invalid comparator for experiment_id: {comparator}"
                )
            if isinstance(value, tuple):
                ids = {_parse_experiment_id(v) for v in value}
                inside = comparator == "IN"
                return lambda e: (int(e.experiment_id) in ids) == inside
            wanted = _parse_experiment_id(value)
            compare = _COMPARE[comparator]
            return lambda e: compare(int(e.experiment_id), wanted)
        # SQL asks MLflow's own checks first (their message for e.g. a lowercase "like")
        if SearchExperimentsUtils.is_string_attribute(type_, key, comparator):
            if comparator not in ("=", "!=", "LIKE", "ILIKE"):
                raise MlflowException.invalid_parameter_value(
                    f"Invalid comparator for string attribute: {comparator}"
                )
            matches = _string_predicate(comparator, value)
            return lambda e: matches(getattr(e, key))
        if SearchExperimentsUtils.is_numeric_attribute(type_, key, comparator):
            if comparator not in _COMPARE:
                raise MlflowException.invalid_parameter_value(
                    f"Invalid comparator for numeric attribute: {comparator}"
                )
            number = integer_attribute_value(key, value)
            compare = _COMPARE[comparator]
            return lambda e: (v := getattr(e, key)) is not None and compare(v, number)
    if type_ == "tag":
        if comparator == "IS NULL":
            return lambda e: key not in e.tags
        if comparator == "IS NOT NULL":
            return lambda e: key in e.tags
        if comparator not in ("=", "!=", "LIKE", "ILIKE"):
            raise MlflowException.invalid_parameter_value(
                f"Invalid comparator for tag: {comparator}"
            )
        matches = _string_predicate(comparator, value)
        # A join on the tag table in SQL: an experiment without the tag never matches.
        return lambda e: key in e.tags and matches(e.tags[key])
    raise MlflowException.invalid_parameter_value(f"Invalid token type: {type_}")


def parse_filter(filter_string: str | None) -> Predicate:
    predicates = [
        _clause_predicate(c) for c in SearchExperimentsUtils.parse_search_filter(filter_string)
    ]
    return lambda e: all(p(e) for p in predicates)


def _order_key(order_by: list[str] | None):
    clauses = []
    for type_, key, ascending in map(
        SearchExperimentsUtils.parse_order_by_for_search_experiments, order_by or _DEFAULT_ORDER
    ):
        if type_ != "attribute":
            raise MlflowException.invalid_parameter_value(f"Invalid order_by entity: {type_}")
        clauses.append((key, ascending))
    if not any(key == "experiment_id" for key, _ in clauses):
        clauses.append(("experiment_id", False))  # the SQL store's tie-breaker

    def value(experiment: Experiment, key: str):
        raw = getattr(experiment, key)
        # experiment ids are integers in the SQL store and sort numerically there
        return int(raw) if key == "experiment_id" else raw

    # None of these attributes is ever NULL here, so no NULL placement rule is needed.
    def key_fn(experiment: Experiment):
        return tuple(_Ordered(value(experiment, key), asc) for key, asc in clauses)

    return key_fn


class _Ordered:
    __slots__ = ("ascending", "value")

    def __init__(self, value, ascending: bool):
        self.value = value
        self.ascending = ascending

    def __eq__(self, other) -> bool:
        return self.value == other.value

    def __lt__(self, other) -> bool:
        return self.value < other.value if self.ascending else other.value < self.value


def _is_default_order(order_by: list[str] | None) -> bool:
    if not order_by:
        return True
    parsed = [SearchExperimentsUtils.parse_order_by_for_search_experiments(o) for o in order_by]
    return parsed == [("attribute", "creation_time", False), ("attribute", "experiment_id", True)]


# ---- page tokens -----------------------------------------------------------------------
# Opaque to clients. A walk in the default order resumes after the last experiment shown
# ({"after": [creation_time, id]}); any other order pages by offset, in the SQL store's own
# token format ({"offset": n}).
def _keyset_token(experiment: Experiment) -> bytes:
    after = [int(experiment.creation_time), str(experiment.experiment_id)]
    return base64.b64encode(json.dumps({"after": after}).encode("utf-8"))


def _decode_token(page_token) -> tuple[int, tuple[int, str] | None]:
    """(offset, keyset position); bad tokens raise as the SQL store does."""
    if page_token:
        with contextlib.suppress(ValueError, TypeError):
            data = json.loads(base64.b64decode(page_token))
            after = data.get("after") if isinstance(data, dict) else None
            if (
                isinstance(after, list)
                and len(after) == 2
                and isinstance(after[0], int)
                and -(2**63) <= after[0] < 2**63
                and str(after[1]).isdigit()
                and int(after[1]) < 2**63
            ):
                return 0, (after[0], str(after[1]))
    return SearchUtils.parse_start_offset_from_page_token(page_token), None


def search_experiments_in_memory(
    repository: ExperimentRepository,
    workspace: str,
    *,
    view_type: int,
    max_results: int,
    filter_string: str | None,
    order_by: list[str] | None,
    page_token: str | None,
    fts: TrigramIndex | None = None,
    tag_index: TagIndexReader | None = None,
    tag_ready: Callable[[str], bool] | None = None,
) -> PagedList[Experiment]:
    # Same order of checks as the SQL store, all before any read.
    validate_max_results(max_results)
    matches = parse_filter(filter_string)
    sort_key = _order_key(order_by)
    offset, after = _decode_token(page_token)
    stages = LifecycleStage.view_type_to_stages(view_type)
    # An index names the only experiments that can match (the trigram index for name
    # clauses, else the tag index for tag clauses): read those, verify them here.
    candidates = _indexed_candidates(repository, workspace, fts, filter_string)
    if candidates is None and tag_index is not None:
        indexed = _indexed_clause(filter_string, tag_ready)
        if indexed is not None:
            key, comparator, value = indexed
            ids = tag_index.experiment_ids(workspace, key, comparator, value)
            candidates = [to_experiment(item) for item in repository.get_many(sorted(ids))]
    if candidates is None:
        ids = experiment_candidates(fts, workspace, filter_string)  # experiment_tag_value
        if ids is not None:
            candidates = [to_experiment(item) for item in repository.get_many(sorted(ids))]
    if candidates is not None:
        found = [e for e in candidates if e.lifecycle_stage in stages and matches(e)]
        return _page_of(found, order_by, sort_key, offset, after, max_results)

    if _is_default_order(order_by) and offset == 0:
        return _walk_default_order(repository, workspace, stages, matches, max_results, after)
    if after is not None:
        raise MlflowException.invalid_parameter_value(
            "Invalid page token: it belongs to a search in the default order"
        )
    # Any other order needs every experiment of the stages: read them all (GSI1), then
    # filter, sort and cut the page here.
    experiments = [
        e
        for stage in stages
        for e in map(to_experiment, repository.list_in_workspace(workspace, stage))
        if matches(e)
    ]
    experiments.sort(key=sort_key)
    page = experiments[offset : offset + max_results]
    token = None
    if offset + max_results < len(experiments):
        token = SearchUtils.create_page_token(offset + max_results)
    return PagedList(page, token)


def _indexed_candidates(
    repository: ExperimentRepository,
    workspace: str,
    fts: TrigramIndex | None,
    filter_string: str | None,
) -> list[Experiment] | None:
    """The experiments the trigram index names for the filter's name clauses (read by
    BatchGetItem), or None when the index cannot narrow this search."""
    if fts is None or not filter_string:
        return None
    clauses = [
        (c["comparator"], c["value"])
        for c in SearchExperimentsUtils.parse_search_filter(filter_string)
        if c["type"] == "attribute" and c["key"] == "name"
    ]
    required = required_trigrams(clauses)
    if not required or not fts.usable(EXPERIMENT_NAME):
        return None
    ids = fts.candidates(
        workspace, EXPERIMENT_NAME, WORKSPACE_SCOPE, required, name_accepts(clauses)
    )
    if ids is None:
        return None
    return [to_experiment(item) for item in repository.get_many(sorted(ids))]


def _indexed_clause(
    filter_string: str | None, tag_ready: Callable[[str], bool] | None
) -> tuple[str, str, Any] | None:
    """(key, comparator, value) of a tag clause the tag index can narrow (``=`` first, then
    a LIKE with a literal prefix) on a key whose entries are complete, or None."""
    if tag_ready is None:
        return None
    usable = [
        (0 if c["comparator"] == "=" else 1, c["key"], c["comparator"], c["value"])
        for c in SearchExperimentsUtils.parse_search_filter(filter_string)
        if c["type"] == "tag" and narrows(c["comparator"], c["value"]) and tag_ready(c["key"])
    ]
    if not usable:
        return None
    _, key, comparator, value = min(usable, key=lambda u: u[0])
    return key, comparator, value


def _page_of(
    candidates: list[Experiment],
    order_by: list[str] | None,
    sort_key,
    offset: int,
    after: tuple[int, str] | None,
    max_results: int,
) -> PagedList[Experiment]:
    """The page of candidates already read (an index named them), with the same tokens as the
    listing paths: keyset in the default order, offsets otherwise."""
    candidates.sort(key=sort_key)
    if _is_default_order(order_by) and offset == 0:
        if after is not None:
            position = (-after[0], int(after[1]))
            candidates = [
                e for e in candidates if (-int(e.creation_time), int(e.experiment_id)) > position
            ]
        page = candidates[:max_results]
        more = len(candidates) > max_results and max_results > 0
        return PagedList(page, _keyset_token(page[-1]) if more and page else None)
    if after is not None:
        raise MlflowException.invalid_parameter_value(
            "Invalid page token: it belongs to a search in the default order"
        )
    page = candidates[offset : offset + max_results]
    token = None
    if offset + max_results < len(candidates):
        token = SearchUtils.create_page_token(offset + max_results)
    return PagedList(page, token)


def _walk_default_order(
    repository: ExperimentRepository,
    workspace: str,
    stages: list[str],
    matches: Predicate,
    max_results: int,
    after: tuple[int, str] | None,
) -> PagedList[Experiment]:
    """GSI1 is sorted in the default order within each stage: merge the stages' lazy walks
    and stop after max_results + 1 matches (the extra one says whether a next page exists).
    Cost: the experiments walked past, not the whole workspace."""
    walks = [
        map(
            to_experiment,
            repository.newest_first(workspace, s, after=after, first_page=max_results + 1),
        )
        for s in stages
    ]
    merged = heapq.merge(*walks, key=lambda e: (-int(e.creation_time), int(e.experiment_id)))
    page: list[Experiment] = []
    for experiment in filter(matches, merged):
        if len(page) == max_results:
            return PagedList(page, _keyset_token(page[-1]))
        page.append(experiment)
    return PagedList(page, None)
