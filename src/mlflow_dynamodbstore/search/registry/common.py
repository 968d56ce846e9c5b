"""Pieces shared by search_registered_models and search_model_versions: clause checks,
in-memory matching, prompt handling, ordering and offset paging, all with the SQL store's
semantics (case-sensitive LIKE, a missing tag never matches, prompts hidden unless asked for).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any

from mlflow.entities.model_registry.prompt_version import IS_PROMPT_TAG_KEY
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.utils.search_utils import SearchUtils

from mlflow_dynamodbstore.search.runs.filter import compare as sql_compare

Clause = dict[str, Any]


def parse_filter(utils: type[SearchUtils], filter_string: str | None) -> list[Clause]:
    """MLflow's parser; a filter it cannot take apart (``name IS NULL`` makes it raise a
    bare ValueError, a 500 in the SQL store) is reported as bad input."""
    try:
        return utils.parse_search_filter(filter_string)
    except MlflowException:
        raise
    except Exception:
        raise MlflowException(
            f"Invalid filter '{filter_string}'. Could not be parsed.", INVALID_PARAMETER_VALUE
        ) from None


def check_tag_comparator(clause: Clause) -> None:
    if clause["comparator"] not in ("=", "!=", "LIKE", "ILIKE"):
        raise MlflowException.invalid_parameter_value(
            f"Invalid comparator for tag: {clause['comparator']}"
        )


def invalid_token(clause: Clause) -> MlflowException:
    return MlflowException(f"Invalid token type: {clause['type']}", INVALID_PARAMETER_VALUE)


def is_querying_prompt(clauses: list[Clause]) -> bool:
    """The SQL store's rule: only the first clause on the prompt tag decides."""
    for c in clauses:
        if c["type"] != "tag" or c["key"] != IS_PROMPT_TAG_KEY:
            continue
        return (c["comparator"] == "=" and c["value"].lower() == "true") or (
            c["comparator"] == "!=" and c["value"].lower() == "false"
        )
    return False


def split_prompt_clauses(clauses: list[Clause]) -> tuple[bool, list[Clause]]:
    """(querying prompts?, clauses to apply). When not querying prompts the SQL store drops
    every clause on the prompt tag and excludes prompts instead."""
    querying = is_querying_prompt(clauses)
    if querying:
        return True, clauses
    return False, [c for c in clauses if not (c["type"] == "tag" and c["key"] == IS_PROMPT_TAG_KEY)]


def is_prompt_tags(tags: dict[str, str] | None) -> bool:
    return (tags or {}).get(IS_PROMPT_TAG_KEY) == "true"


def compare(comparator: str, lhs: Any, value: Any) -> bool:
    if lhs is None:
        return False  # SQL: NULL never satisfies a comparison; a missing tag has no row
    if comparator in ("LIKE", "ILIKE") and isinstance(lhs, str) and isinstance(value, str):
        # SQLite's LIKE, not SearchUtils' regex: ILIKE folds ASCII letters only (SQLite's
        # lower()), ``_`` and ``%`` match newlines too
        return sql_compare(comparator, lhs, value)
    return bool(SearchUtils.get_comparison_func(comparator)(lhs, value))


class _Key:
    """One ORDER BY term; None sorts first ascending and last descending, like SQLite."""

    __slots__ = ("ascending", "value")

    def __init__(self, value: Any, ascending: bool):
        self.value = value
        self.ascending = ascending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.value == other.value

    def __lt__(self, other: _Key) -> bool:
        a, b = (self.value, other.value) if self.ascending else (other.value, self.value)
        if a is None:
            return b is not None
        if b is None:
            return False
        return a < b

    def __gt__(self, other: _Key) -> bool:
        return other < self

    def __le__(self, other: _Key) -> bool:
        return not other < self

    def __ge__(self, other: _Key) -> bool:
        return not self < other


def sort_rows(rows: list, terms: Sequence[tuple[Callable[[Any], Any], bool]]) -> list:
    return sorted(rows, key=lambda r: tuple(_Key(get(r), asc) for get, asc in terms))


def duplicate_order_by(order_by: list[str]) -> MlflowException:
    # The SQL store raises this without an error code (a 500); it is bad input, so 400 here.
    return MlflowException(
        f"`order_by` contains duplicate fields: {order_by}", INVALID_PARAMETER_VALUE
    )


def page(rows: list, offset: int, max_results: int) -> tuple[list, str | None]:
    """Offset paging exactly as the SQL store does it: LIMIT max_results + 1 OFFSET offset,
    and a next-page token whenever the extra row came back."""
    fetched = rows[offset : offset + max_results + 1]
    token = None
    if len(fetched) == max_results + 1:
        token = SearchUtils.create_page_token(offset + max_results)
    return fetched[:max_results], token


def check_max_results_not_negative(max_results: Any) -> None:
    # SQLite treats a negative LIMIT as no limit; refuse it instead of guessing.
    if not isinstance(max_results, int) or max_results < 0:
        raise MlflowException(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results}",
            INVALID_PARAMETER_VALUE,
        )


# ---- keyset page tokens for name-ordered walks ----------------------------------------
# {"after": <last name>, "order": [[field, ascending], ...]}: opaque to clients; MLflow's
# offset tokens ({"offset": n}) are still accepted (they page the way the SQL store does).
def encode_name_token(last_name: str, fields: list[tuple[str, bool]]) -> str:
    payload = {"after": last_name, "order": [list(f) for f in fields]}
    return base64.b64encode(json.dumps(payload).encode("utf-8")).decode("ascii")


def decode_name_token(page_token: str | None, fields: list[tuple[str, bool]]) -> str | None:
    """The name to resume after, or None (no token, or an offset token)."""
    if not page_token:
        return None
    try:
        data = json.loads(base64.b64decode(page_token))
    except (binascii.Error, ValueError, TypeError, UnicodeError):
        return None  # not ours: the offset parser reports it as the SQL store does
    if not isinstance(data, dict) or "after" not in data or "search" in data:
        return None  # no name token (a "search" names search/registry/keyset.py's tokens)
    if not isinstance(data["after"], str) or data.get("order") != [list(f) for f in fields]:
        raise MlflowException(
            "Invalid page token: it was issued for a search with a different order_by",
            INVALID_PARAMETER_VALUE,
        )
    return data["after"]
