"""search_datasets: MLflow's filter and order_by grammar for evaluation datasets
(``SearchEvaluationDatasetsUtils``), checked as ``_get_search_datasets_filter_clauses`` /
``_get_search_datasets_order_by_clauses`` in MLflow's sqlalchemy_store.py check them, and
evaluated in memory with SQLite's semantics (case-sensitive LIKE, ASCII-only ILIKE, NULL
matches nothing, a tag clause needs the tag).

Candidates come from one listing: the workspace's datasets (DATASETS_BY_CREATION, read
newest first, which is the SQL store's default order, so a default-order page stops after
``offset + max_results + 1`` matches), or, with experiment ids, the datasets linked to
those experiments (DATASETS_BY_EXPERIMENT). In the default order without experiment ids
the page token is a keyset cursor (the last dataset's creation time and id) and the next
page's walk starts right after it, so paging reads the listing about once; otherwise page
tokens are the SQL store's offsets (and the SQL store's offset tokens are accepted).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import operator
from collections.abc import Callable, Iterable
from typing import Any

from mlflow.entities.evaluation_dataset import EvaluationDataset
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.search_utils import SearchEvaluationDatasetsUtils, SearchUtils

from mlflow_dynamodbstore.repositories.datasets.codec import decode_tags, to_dataset
from mlflow_dynamodbstore.search.experiments import sql_like
from mlflow_dynamodbstore.search.validation import integer_attribute_value, validate_max_results

Predicate = Callable[[dict[str, Any]], bool]
_COMPARE = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_DEFAULT_ORDER = [("created_time", False)]


class DatasetQuery:
    """A checked search: predicate, order and offset (bad input raises before any read)."""

    def __init__(
        self,
        filter_string: str | None,
        max_results: int,
        order_by: list[str] | None,
        page_token: str | None,
    ):
        validate_max_results(max_results)
        self.max_results = max_results
        self.after = _decode_keyset_token(page_token)
        self.offset = 0
        if self.after is None:
            self.offset = SearchUtils.parse_start_offset_from_page_token(page_token)
        clauses = (
            SearchEvaluationDatasetsUtils.parse_search_filter(filter_string)
            if filter_string
            else []
        )
        self.predicates = [_predicate(c) for c in clauses]
        self.order = _parse_order(order_by)
        if self.after is not None and not self.is_default_order:
            raise MlflowException.invalid_parameter_value(
                "Invalid page token: it belongs to a search in the default order"
            )

    @property
    def first_page(self) -> int:
        """Items a default-order walk needs at least: the offset, the page and one more
        (to know whether a next page exists)."""
        return max(1, min(self.offset + self.max_results + 1, 1000))

    @property
    def is_default_order(self) -> bool:
        return self.order == _DEFAULT_ORDER

    def matches(self, item: dict[str, Any]) -> bool:
        return all(p(item) for p in self.predicates)

    def page(self, items: Iterable[dict[str, Any]], *, presorted: bool) -> PagedList:
        """The page of ``items`` (already in this order when ``presorted``: then reading
        stops after the page and one more match)."""
        if presorted:
            wanted = self.offset + self.max_results + 1
            matched: list[dict[str, Any]] = []
            for item in items:
                if self.matches(item):
                    matched.append(item)
                    if len(matched) >= wanted:
                        break
        else:
            matched = _sorted([i for i in items if self.matches(i)], self.order)
        window = matched[self.offset : self.offset + self.max_results + 1]
        token = None
        if len(window) > self.max_results:
            window = window[: self.max_results]
            if presorted and self.offset == 0 and window:
                # resumes right after the last dataset shown: the next page's walk starts
                # there instead of re-reading this one (keyset, not offset)
                last = window[-1]
                token = _encode_keyset_token(int(last["created_time"]), last["dataset_id"])
            else:
                token = SearchUtils.create_page_token(self.offset + self.max_results)
        return PagedList([to_dataset(i) for i in window], token)


def _encode_keyset_token(created_time: int, dataset_id: str) -> str:
    payload = {"after": [created_time, dataset_id]}
    return base64.b64encode(json.dumps(payload).encode("utf-8")).decode("ascii")


def _decode_keyset_token(page_token: str | None) -> tuple[int, str] | None:
    """(created_time, dataset_id) of the last dataset of the previous default-order page,
    or None (no token, or one of the SQL store's offset tokens)."""
    if not page_token:
        return None
    with contextlib.suppress(ValueError, TypeError, binascii.Error, UnicodeError):
        data = json.loads(base64.b64decode(page_token))
        after = data.get("after") if isinstance(data, dict) else None
        if (
            isinstance(after, list)
            and len(after) == 2
            and isinstance(after[0], int)
            and not isinstance(after[0], bool)
            and 0 <= after[0] < 2**63
            and isinstance(after[1], str)
            and 0 < len(after[1]) <= 256
        ):
            return after[0], after[1]
    return None


def _parse_order(order_by: list[str] | None) -> list[tuple[str, bool]]:
    order = []
    for clause in order_by or ["created_time DESC"]:
        type_, key, ascending = (
            SearchEvaluationDatasetsUtils.parse_order_by_for_search_evaluation_datasets(clause)
        )
        if type_ != "attribute":
            raise MlflowException.invalid_parameter_value(f"Invalid order_by entity: {type_}")
        order.append((key, ascending))
    return order


def _sorted(items: list[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict]:
    """SQL's ORDER BY with the tie-breaker ``dataset_id DESC``: stable sorts, last key first."""
    result = sorted(items, key=lambda i: i["dataset_id"], reverse=True)
    for key, ascending in reversed(order):
        result.sort(key=lambda i, k=key: _value(i, k), reverse=not ascending)
    return result


def _value(item: dict[str, Any], key: str) -> Any:
    value = item.get(key)
    return int(value) if key in SearchEvaluationDatasetsUtils.NUMERIC_ATTRIBUTES else value


def _predicate(clause: dict[str, Any]) -> Predicate:
    type_, key, comparator, value = (
        clause["type"],
        clause["key"],
        clause["comparator"],
        clause["value"],
    )
    if type_ == "attribute":
        if (
            SearchEvaluationDatasetsUtils.is_string_attribute(type_, key, comparator)
            and comparator not in ("=", "!=", "LIKE", "ILIKE")
            and not (key == "name" and comparator == "IN")
        ):
            raise MlflowException.invalid_parameter_value(
                f"Invalid comparator for string attribute: {comparator}"
            )
        if key in SearchEvaluationDatasetsUtils.NUMERIC_ATTRIBUTES:
            if comparator not in SearchEvaluationDatasetsUtils.VALID_NUMERIC_ATTRIBUTE_COMPARATORS:
                raise MlflowException.invalid_parameter_value(
                    f"Invalid comparator for numeric attribute: {comparator}"
                )
            value = integer_attribute_value(key, value)
            test = _compare(comparator, value)
            return lambda item: test(int(item[key]))
        test = _compare(comparator, value)
        return lambda item: item.get(key) is not None and test(item[key])
    if type_ == "tag":
        if comparator not in ("=", "!=", "LIKE", "ILIKE"):
            raise MlflowException.invalid_parameter_value(
                f"Invalid comparator for tag: {comparator}"
            )
        test = _compare(comparator, value)

        def tag_matches(item: dict[str, Any]) -> bool:
            tags = decode_tags(item.get("tags"))
            return tags.get(key) is not None and test(tags[key])

        return tag_matches
    raise MlflowException.invalid_parameter_value(f"Invalid token type: {type_}")


def _compare(comparator: str, value: Any) -> Callable[[Any], bool]:
    if comparator == "LIKE":
        return lambda lhs: sql_like(str(lhs), value)
    if comparator == "ILIKE":
        return lambda lhs: sql_like(str(lhs), value, case_sensitive=False)
    if comparator == "IN":
        values = set(value)
        return lambda lhs: lhs in values
    if comparator == "NOT IN":
        values = set(value)
        return lambda lhs: lhs not in values
    compare = _COMPARE[comparator]
    return lambda lhs: compare(lhs, value)


def search_items(
    query: DatasetQuery, candidates: Iterable[dict[str, Any]], *, presorted: bool
) -> PagedList[EvaluationDataset]:
    return query.page(candidates, presorted=presorted and query.is_default_order)
