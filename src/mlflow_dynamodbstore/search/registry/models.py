"""search_registered_models.

Plan:

- ``name = '...'``: that one model (2 GetItems).
- ``name LIKE / ILIKE`` with a literal of 3+ characters: the candidates the trigram index
  names (``fts/``: posting lists, then one BatchGetItem per 100 models), paged below as the
  walks would page them.
- Name order (the default, ``name ASC``, or ``name DESC`` first): the workspace's model index
  (GSI1 ``WS#<ws>#RMS``, META items with tags and aliases inline) is in that order; it is
  walked from the page token's cursor (the last name returned) and reading stops after the
  page plus one match. Paging through the whole collection reads it about once.
- Last update order (``last_updated_timestamp`` first): the workspace's models by last
  update (GSI2 ``WS#<ws>#RMUPD``, schema/registry_order_keys.py), walked from the token's
  cursor (the last row's time and name); models updated in the same millisecond are sorted
  by name in memory (the SQL store's tie-break). Keyset tokens (search/registry/keyset.py).
  On a table whose listing is not backfilled yet (``registry_order`` readiness), every
  model is read, filtered and sorted in memory, with the SQL store's offset tokens.

Filtering uses the SQL store's semantics in memory; the latest version per stage of the
returned page comes from one BatchGetItem per 100.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry import SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD
from mlflow.utils.search_utils import SearchModelUtils, SearchUtils

from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.postings import MODEL_NAME
from mlflow_dynamodbstore.fts.trigrams import required_trigrams
from mlflow_dynamodbstore.repositories.registry import order_state
from mlflow_dynamodbstore.repositories.registry.entities import (
    latest_version_keys,
    order_like_search,
    to_model_version,
    to_registered_model,
)
from mlflow_dynamodbstore.repositories.registry.model_versions import ModelVersionRepository
from mlflow_dynamodbstore.repositories.registry.order_state import time_of_entry
from mlflow_dynamodbstore.repositories.registry.registered_models import RegisteredModelRepository
from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.fts_keys import WORKSPACE_SCOPE
from mlflow_dynamodbstore.search import tag_values
from mlflow_dynamodbstore.search.registry import keyset
from mlflow_dynamodbstore.search.registry.common import (
    check_max_results_not_negative,
    check_tag_comparator,
    compare,
    decode_name_token,
    duplicate_order_by,
    encode_name_token,
    invalid_token,
    is_prompt_tags,
    page,
    parse_filter,
    sort_rows,
    split_prompt_clauses,
)

Item = dict[str, Any]

_ATTRIBUTE_COMPARATORS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")


def _check_clauses(clauses: list[dict]) -> None:
    for c in clauses:
        if c["type"] == "attribute":
            if c["key"] != "name":
                raise MlflowException(
                    f"Invalid attribute name: {c['key']}", error_code=INVALID_PARAMETER_VALUE
                )
            if c["comparator"] not in _ATTRIBUTE_COMPARATORS:
                raise MlflowException(
                    f"Invalid comparator for attribute: {c['comparator']}",
                    error_code=INVALID_PARAMETER_VALUE,
                )
        elif c["type"] == "tag":
            check_tag_comparator(c)
        else:
            raise invalid_token(c)


def _order_fields(order_by: list[str] | None) -> list[tuple[str, bool]]:
    terms: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for clause in order_by or []:
        token, ascending = SearchUtils.parse_order_by_for_search_registered_models(clause)
        if token == "name":
            field = "name"
        elif token in SearchUtils.VALID_TIMESTAMP_ORDER_BY_KEYS:
            field = "last_updated_time"
        else:
            raise MlflowException(
                f"Invalid order by key '{token}' specified.Valid keys are "
                f"'{SearchUtils.RECOMMENDED_ORDER_BY_KEYS_REGISTERED_MODELS}'",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if field in seen:
            raise duplicate_order_by(order_by)
        seen.add(field)
        terms.append((field, ascending))
    if "name" not in seen:
        terms.append(("name", True))
    return terms


def _getter(field: str):
    if field == "name":
        return lambda m: m["name"]
    return lambda m: None if m.get(field) is None else int(m[field])


def _matches(meta: Item, clauses: list[dict]) -> bool:
    for c in clauses:
        tags = meta.get("tags") or {}
        lhs = meta["name"] if c["type"] == "attribute" else tags.get(c["key"])
        if not compare(c["comparator"], lhs, c["value"]):
            return False
    return True


def indexed_model_ids(
    fts: TrigramIndex | None, workspace: str, clauses: list[dict]
) -> set[str] | None:
    """Ids of the models the trigram index names for the ``name LIKE / ILIKE`` clauses, or
    None when the index cannot narrow the search."""
    name_clauses = [
        (str(c["comparator"]).upper(), c["value"])
        for c in clauses
        if c["type"] == "attribute" and c["key"] == "name" and c["comparator"] != "="
    ]
    required = required_trigrams(name_clauses)
    if not required or fts is None or not fts.usable(MODEL_NAME):
        return None
    return fts.candidates(workspace, MODEL_NAME, WORKSPACE_SCOPE, required, _name_accepts(clauses))


def _name_accepts(clauses: list[dict]) -> Callable[[str], bool]:
    """Whether a model name satisfies the filter's clauses on ``name`` (a version's name is
    its model's): checks the name a trigram posting carries, with the walks' ``compare``."""
    checks = [
        (c["comparator"], c["value"])
        for c in clauses
        if c["type"] == "attribute"
        and c["key"] == "name"
        and c["comparator"] in ("=", "!=", "LIKE", "ILIKE")
        and isinstance(c["value"], str)
    ]
    return lambda name: all(compare(comparator, name, value) for comparator, value in checks)


def search_registered_models(
    models: RegisteredModelRepository,
    versions: ModelVersionRepository,
    workspace: str,
    *,
    filter_string: str | None,
    max_results: int,
    order_by: list[str] | None,
    page_token: str | None,
    fts: TrigramIndex | None = None,
) -> PagedList:
    # Checks in the SQL store's order, so the same bad input gets the same error.
    if isinstance(max_results, int) and max_results > SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD:
        raise MlflowException(
            "Invalid value for request parameter max_results. It must be at most "
            f"{SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD}, but got value {max_results}",
            INVALID_PARAMETER_VALUE,
        )
    check_max_results_not_negative(max_results)
    clauses = parse_filter(SearchModelUtils, filter_string)
    fields = _order_fields(order_by)
    terms = [(_getter(f), asc) for f, asc in fields]
    after = decode_name_token(page_token, fields)
    if keyset.is_ours(page_token):  # refuses a token of another search, order or filter
        keyset.decode(page_token, _SEARCH, fields, filter_string, _FIELD_TYPES)
    ours = after is not None or keyset.is_ours(page_token)
    offset = 0 if ours else SearchUtils.parse_start_offset_from_page_token(page_token)
    _check_clauses(clauses)

    querying_prompts, clauses = split_prompt_clauses(clauses)

    def wanted(meta: Item) -> bool:
        if not querying_prompts and is_prompt_tags(meta.get("tags")):
            return False
        return _matches(meta, clauses)

    exact = [c["value"] for c in clauses if c["type"] == "attribute" and c["comparator"] == "="]
    named = None if exact else indexed_model_ids(fts, workspace, clauses)
    if named is None and not exact:  # tag values (model_tag_value), when configured
        named = tag_values.model_candidates(fts, workspace, clauses)
    if exact:
        found = models.find(workspace, exact[0])
        matching = [found] if found and wanted(found) else []
        rows, token = page(sort_rows(matching, terms), offset, max_results)
    elif fields[0][0] == "name" and offset == 0:
        if named is not None:  # the trigram index's candidates, in name order
            walked = sorted(models.get_many(sorted(named)), key=lambda m: m["name"])
            if not fields[0][1]:
                walked.reverse()
            rows, token = _page_after(walked, fields, wanted, max_results, after)
        else:
            rows, token = _walk_by_name(models, workspace, fields, wanted, max_results, after)
    elif ours or (offset == 0 and order_state.READINESS.is_ready(versions.gateway)):
        # last update order: keyset tokens (the token is checked against this search)
        cursor_values = keyset.decode(page_token, _SEARCH, fields, filter_string, _FIELD_TYPES)
        if ours and after is not None:
            raise MlflowException(
                "Invalid page token: it was issued for a search in name order",
                INVALID_PARAMETER_VALUE,
            )
        if named is not None:  # the trigram index's candidates (few), sorted here
            listed = [m for m in models.get_many(sorted(named)) if wanted(m)]
            rows, token = _keyset_page(
                listed, fields, cursor_values, max_results, page_token, filter_string
            )
        else:  # the workspace's models by last update (GSI2), ties by name in memory
            rows, token = _walk_by_update(
                models,
                workspace,
                fields,
                wanted,
                max_results,
                cursor_values,
                page_token,
                filter_string,
            )
    else:
        if after is not None:
            raise MlflowException(
                "Invalid page token: it was issued for a search in name order",
                INVALID_PARAMETER_VALUE,
            )
        # A table whose update listing is not backfilled yet: read every model, sort, cut
        # the page (the SQL store's offset tokens).
        listed = models.get_many(sorted(named)) if named is not None else None
        if listed is None:
            listed = models.list_in_workspace(workspace)
        matching = [m for m in listed if wanted(m)]
        rows, token = page(sort_rows(matching, terms), offset, max_results)
    return PagedList(_with_latest_versions(versions, rows), token)


_SEARCH = "search_registered_models"
_FIELD_TYPES = {"last_updated_time": int, "name": str}


def _walk_by_update(
    models: RegisteredModelRepository,
    workspace: str,
    fields: list[tuple[str, bool]],
    wanted,
    max_results: int,
    after: list | None,
    page_token: str | None,
    filter_string: str | None,
) -> tuple[list[Item], str | None]:
    """Last update order is GSI2's (REGISTERED_MODELS_BY_LAST_UPDATE): walk from the
    cursor's time, models of equal time sorted by name in memory (the SQL store's
    tie-break), stop after max_results + 1 matches."""
    listing = indexes.REGISTERED_MODELS_BY_LAST_UPDATE

    def filed_at(meta: Item) -> int:
        return time_of_entry(listing, meta)

    def rows_of(group: list[Item]) -> list[Item]:
        # its place in the listing decides its order (equal to last_updated_time)
        return [{**m, "last_updated_time": filed_at(m)} for m in group if wanted(m)]

    rows = keyset.grouped_walk(
        models.walk_by_update(
            workspace,
            descending=not fields[0][1],
            start=None if after is None else int(after[0]),
            first_page=max_results + 3,  # the cursor, the page, one more, one to close a group
        ),
        filed_at,
        rows_of,
        _sort_key(fields),
        None if after is None else keyset.sort_key(after, fields),
        max_results + 1,
    )
    return _cut(rows, fields, max_results, page_token, filter_string)


def _sort_key(fields: list[tuple[str, bool]]):
    getters = [_getter(f) for f, _ in fields]
    return lambda meta: keyset.sort_key([get(meta) for get in getters], fields)


def _keyset_page(
    listed: list[Item],
    fields: list[tuple[str, bool]],
    after: list | None,
    max_results: int,
    page_token: str | None,
    filter_string: str | None,
) -> tuple[list[Item], str | None]:
    cursor = None if after is None else keyset.sort_key(after, fields)
    rows = keyset.after_cursor(listed, _sort_key(fields), cursor)[: max_results + 1]
    return _cut(rows, fields, max_results, page_token, filter_string)


def _cut(
    rows: list[Item],
    fields: list[tuple[str, bool]],
    max_results: int,
    page_token: str | None,
    filter_string: str | None,
) -> tuple[list[Item], str | None]:
    """The page and, when one more row matched, the token after its last row."""
    if len(rows) <= max_results:
        return rows, None
    page_rows = rows[:max_results]
    if not page_rows:  # max_results = 0: an empty page, and a token when a match exists
        return page_rows, page_token or SearchUtils.create_page_token(0)
    last = page_rows[-1]
    values = [_getter(f)(last) for f, _ in fields]
    return page_rows, keyset.encode(_SEARCH, fields, filter_string, values)


def _walk_by_name(
    models: RegisteredModelRepository,
    workspace: str,
    fields: list[tuple[str, bool]],
    wanted,
    max_results: int,
    after: str | None,
) -> tuple[list[Item], str | None]:
    """Name order is GSI1's order (names are unique in a workspace, so the name alone
    decides the order): walk from the cursor, stop after max_results + 1 matches. A page
    costs the models walked past, not the workspace."""
    ascending = fields[0][1]
    walked = models.walk_by_name(
        workspace, descending=not ascending, start=after, first_page=max_results + 2
    )
    return _page_after(walked, fields, wanted, max_results, after)


def _page_after(
    walked, fields: list[tuple[str, bool]], wanted, max_results: int, after: str | None
) -> tuple[list[Item], str | None]:
    """The page of ``walked`` (models in the search's name order) after the cursor: the
    first max_results models ``wanted``, and a name token when one more matches."""
    ascending = fields[0][1]
    rows: list[Item] = []
    for meta in walked:
        name = meta["name"]
        if after is not None and (name <= after if ascending else name >= after):
            continue  # the cursor itself (the walk starts at it, inclusive)
        if not wanted(meta):
            continue
        if len(rows) == max_results:
            # max_results = 0: an empty page, and (as in the SQL store) a token when a
            # match exists; it resumes where this one did
            last = rows[-1]["name"] if rows else (after or "")
            return rows, encode_name_token(last, fields)
        rows.append(meta)
    return rows, None


def _with_latest_versions(versions: ModelVersionRepository, rows: list[Item]) -> list:
    """Entities of the page's models with their latest versions per stage (one
    BatchGetItem per 100 versions)."""
    wanted = [k for m in rows for k in latest_version_keys(m)]
    by_key = {(v["model_id"], int(v["version"])): v for v in versions.get_many(wanted)}
    result = []
    for meta in rows:
        latest = [
            to_model_version(by_key[k], meta) for k in latest_version_keys(meta) if k in by_key
        ]
        result.append(to_registered_model(meta, order_like_search(latest)))
    return result
