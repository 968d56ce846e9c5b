"""search_model_versions.

Plan, from the cheapest read the filter allows:

- ``name = '...'`` / ``name IN (...)``: those models' partitions (1 Query each, META and all
  versions together);
- ``run_id = '...'`` / ``run_id IN (...)``: GSI2 ``WS#<ws>#MVRUN#<run>`` per run, then the
  partitions of the few models found;
- ``name LIKE / ILIKE`` with a literal of 3+ characters: the models the trigram index
  names (``fts/``, the registered models' name postings), when at most
  ``_MAX_INDEXED_MODELS``: their partitions (1 Query each);
- ``tags.<key> LIKE / ILIKE / =`` with a literal of 3+ characters, when
  ``model_version_tag_value`` is configured and ready: the versions its postings name
  (search/tag_values.py) and their models' META (BatchGetItem each);

  these few rows are sorted in memory and paged with keyset tokens;
- otherwise a walk in the order's first field (version_walks.py), from the token's cursor
  on, that stops after the page plus one match, so paging through the whole collection
  reads it about once:

  - ``last_updated_timestamp`` (the default order) or ``creation_timestamp``: the
    workspace's live versions by that time (GSI3 ``WS#<ws>#MVUPD`` / GSI4
    ``WS#<ws>#MVCRE``), ties sorted in memory;
  - ``name``: the workspace's models by name (GSI1 ``WS#<ws>#RMS``) and each model's
    versions from its partition;
  - ``version_number``: the workspace's live versions by number and model name (GSI1
    ``WS#<ws>#MVS``, version_number_walk.py);
  - a table whose listings are not backfilled yet: every version of the workspace (GSI1
    ``WS#<ws>#MVS``) and every model META (GSI1 ``WS#<ws>#RMS``), sorted in memory, with
    the SQL store's offset tokens.

Semantics are the SQL store's, in memory: deleted versions dropped; unless the filter asks
for prompts, every version of a model any of whose versions (deleted ones included) has the
prompt tag is excluded (the SQL store's anti-join on version tags by model name; walks read
it from META's ``prompt_versions``); order (default ``last_updated_timestamp DESC, name ASC,
version_number DESC``).
"""

from __future__ import annotations

from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry import SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD
from mlflow.utils.search_utils import SearchModelVersionUtils, SearchUtils

from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.repositories.registry import order_state, version_number_order
from mlflow_dynamodbstore.repositories.registry.entities import to_model_version
from mlflow_dynamodbstore.repositories.registry.model_versions import (
    ModelVersionRepository,
    indexable_run_id,
    is_live,
)
from mlflow_dynamodbstore.repositories.registry.registered_models import RegisteredModelRepository
from mlflow_dynamodbstore.search.registry import keyset, version_number_walk, version_walks
from mlflow_dynamodbstore.search.registry.common import (
    check_tag_comparator,
    compare,
    duplicate_order_by,
    invalid_token,
    is_prompt_tags,
    page,
    parse_filter,
    sort_rows,
    split_prompt_clauses,
)
from mlflow_dynamodbstore.search.registry.models import indexed_model_ids
from mlflow_dynamodbstore.search.registry.version_walks import is_prompt_model
from mlflow_dynamodbstore.search.tag_values import version_candidates

Item = dict[str, Any]

# Beyond this many candidate models one Query per model costs more than the listings.
_MAX_INDEXED_MODELS = 100
_DEFAULT_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]
_SEARCH = "search_model_versions"
_FIELD_TYPES = {
    "last_updated_timestamp": int,
    "creation_timestamp": int,
    "name": str,
    "version": int,
}
_ORDER_FIELDS = {
    "version_number": "version",
    "creation_timestamp": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
    "name": "name",
}


def _check_clauses(clauses: list[dict]) -> None:
    """The SQL store's per-clause checks; numeric values are converted to int in place."""
    utils = SearchModelVersionUtils
    for c in clauses:
        key, comparator, value = c["key"], c["comparator"], c["value"]
        if c["type"] == "attribute":
            if key not in utils.VALID_SEARCH_ATTRIBUTE_KEYS:
                raise MlflowException(
                    f"Invalid attribute name: {key}", error_code=INVALID_PARAMETER_VALUE
                )
            if key in utils.NUMERIC_ATTRIBUTES:
                if comparator not in utils.VALID_NUMERIC_ATTRIBUTE_COMPARATORS:
                    raise MlflowException(
                        f"Invalid comparator for attribute {key}: {comparator}",
                        error_code=INVALID_PARAMETER_VALUE,
                    )
                if isinstance(value, float):
                    raise MlflowException.invalid_parameter_value(
                        f"Invalid value for numeric attribute '{key}': {value!r}"
                    )
                try:
                    c["value"] = int(value)
                except (TypeError, ValueError):
                    raise MlflowException.invalid_parameter_value(
                        f"Invalid value for numeric attribute '{key}': {value!r}"
                    ) from None
            elif comparator not in utils.VALID_STRING_ATTRIBUTE_COMPARATORS or (
                comparator in ("IN", "NOT IN") and key not in ("run_id", "name")
            ):
                raise MlflowException(
                    f"Invalid comparator for attribute: {comparator}",
                    error_code=INVALID_PARAMETER_VALUE,
                )
        elif c["type"] == "tag":
            check_tag_comparator(c)
        else:
            raise invalid_token(c)


def _order_fields(order_by: list[str]) -> list[tuple[str, bool]]:
    """The SQL store's ORDER BY: the given fields, then ``name ASC`` and ``version DESC``
    unless given."""
    terms: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for clause in order_by:
        _, key, ascending = SearchModelVersionUtils.parse_order_by_for_search_model_versions(clause)
        if key not in SearchModelVersionUtils.VALID_ORDER_BY_ATTRIBUTE_KEYS:
            raise MlflowException(
                f"Invalid order by key '{key}' specified. Valid keys are "
                f"{SearchModelVersionUtils.VALID_ORDER_BY_ATTRIBUTE_KEYS}",
                error_code=INVALID_PARAMETER_VALUE,
            )
        field = _ORDER_FIELDS[key]
        if field in seen:
            raise duplicate_order_by(order_by)
        seen.add(field)
        terms.append((field, ascending))
    if "name" not in seen:
        terms.append(("name", True))
    if "version" not in seen:
        terms.append(("version", False))
    return terms


def _order_terms(fields: list[tuple[str, bool]]) -> list[tuple[Any, bool]]:
    return [(_getter(f), asc) for f, asc in fields]


def _getter(field: str):
    if field == "version":
        return lambda mv: int(mv.version)
    return lambda mv: getattr(mv, field)


def _lhs(mv, clause: dict) -> Any:
    key = clause["key"]
    if clause["type"] == "tag":
        return mv.tags.get(key)
    if key == "source_path":
        return mv.source
    if key == "version_number":
        return int(mv.version)
    return getattr(mv, key)


def _matches(mv, clauses: list[dict]) -> bool:
    return all(compare(c["comparator"], _lhs(mv, c), c["value"]) for c in clauses)


def _narrowing(clauses: list[dict], key: str) -> list[str] | None:
    """Values of the first ``key = v`` / ``key IN (...)`` clause, if there is one."""
    for c in clauses:
        if c["type"] == "attribute" and c["key"] == key:
            if c["comparator"] == "=":
                return [c["value"]]
            if c["comparator"] == "IN":
                return list(c["value"])
    return None


def _load_narrowed(
    models: RegisteredModelRepository,
    versions: ModelVersionRepository,
    workspace: str,
    clauses: list[dict],
    fts: TrigramIndex | None = None,
) -> list[tuple[Item, list[Item]]] | None:
    """(META, every version item) for each model the filter can possibly match, when the
    filter names few models (by name, run or the trigram index); else None."""
    names = _narrowing(clauses, "name")
    if names is not None:
        metas = models.find_many(workspace, sorted(set(names))) if names else []
        loaded = [versions.read_model(m["model_id"]) for m in metas]
        return [(meta, vs) for meta, vs in loaded if meta is not None]  # deleted meanwhile
    named = indexed_model_ids(fts, workspace, clauses)
    if named is not None and len(named) <= _MAX_INDEXED_MODELS:
        loaded = [versions.read_model(m) for m in sorted(named)]
        return [(meta, vs) for meta, vs in loaded if meta is not None]
    run_ids = _narrowing(clauses, "run_id")
    # Versions with an empty (or huge) run id are not in GSI2: those need the workspace's
    # version listing below.
    if run_ids is not None and all(indexable_run_id(r) for r in run_ids):
        model_ids = sorted(
            {v["model_id"] for r in set(run_ids) for v in versions.list_by_run(workspace, r)}
        )
        loaded = [versions.read_model(m) for m in model_ids]
        return [(meta, vs) for meta, vs in loaded if meta is not None]
    if order_state.READINESS.is_ready(versions.gateway):  # META's prompt_versions is kept
        pairs = version_candidates(fts, workspace, clauses)
        if pairs is not None:
            return _load_candidates(models, versions, pairs)
    return None


def _load_candidates(
    models: RegisteredModelRepository,
    versions: ModelVersionRepository,
    pairs: list[tuple[str, int]],
) -> list[tuple[Item, list[Item]]]:
    """(META, the candidate version items) per model of the tag value postings' candidates:
    1 BatchGetItem per 100 versions, then per 100 models. Prompt exclusion reads META's
    ``prompt_versions`` (``_rows``), as the walks do, since not every version is read."""
    by_model: dict[str, list[Item]] = {}
    for item in versions.get_many(pairs) if pairs else []:
        by_model.setdefault(item["model_id"], []).append(item)
    metas = models.get_many(sorted(by_model)) if by_model else []
    return [(meta, by_model[meta["model_id"]]) for meta in metas]


def _load_all(
    models: RegisteredModelRepository, versions: ModelVersionRepository, workspace: str
) -> list[tuple[Item, list[Item]]]:
    """Every model META and version item of the workspace (two listings)."""
    by_model: dict[str, list[Item]] = {}
    for v in versions.list_in_workspace(workspace):
        by_model.setdefault(v["model_id"], []).append(v)
    return [
        (meta, by_model.get(meta["model_id"], [])) for meta in models.list_in_workspace(workspace)
    ]


def search_model_versions(
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
    if not isinstance(max_results, int) or max_results < 1:
        raise MlflowException(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results}",
            INVALID_PARAMETER_VALUE,
        )
    if max_results > SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD:
        raise MlflowException(
            "Invalid value for request parameter max_results. It must be at most "
            f"{SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD}, but got value {max_results}",
            INVALID_PARAMETER_VALUE,
        )
    clauses = parse_filter(SearchModelVersionUtils, filter_string)
    _check_clauses(clauses)
    fields = _order_fields(order_by or _DEFAULT_ORDER)
    terms = _order_terms(fields)
    after = keyset.decode(page_token, _SEARCH, fields, filter_string, _FIELD_TYPES)
    querying_prompts, clauses = split_prompt_clauses(clauses)

    if after is None and page_token:
        # MLflow's offset token: page as the SQL store does
        return _offset_page(
            models,
            versions,
            workspace,
            clauses,
            querying_prompts,
            terms,
            max_results,
            SearchUtils.parse_start_offset_from_page_token(page_token),
            fts,
        )
    cursor = None if after is None else keyset.sort_key(after, fields)

    def key(mv) -> tuple:
        return keyset.sort_key([get(mv) for get, _ in terms], fields)

    want = max_results + 1
    narrowed = _load_narrowed(models, versions, workspace, clauses, fts)
    if narrowed is not None:
        rows = keyset.after_cursor(_rows(narrowed, clauses, querying_prompts), key, cursor)[:want]
    elif not _walkable(fields, versions):
        if cursor is not None:
            raise MlflowException(
                "Invalid page token: it was issued for another search", INVALID_PARAMETER_VALUE
            )
        # the table's listings are not backfilled yet: the SQL store's offset paging over
        # every version of the workspace
        return _offset_page(
            models, versions, workspace, clauses, querying_prompts, terms, max_results, 0, fts
        )
    elif fields[0][0] == "version":
        rows = version_number_walk.walk_by_number(
            models,
            versions,
            workspace,
            fields=fields,
            after=after,
            cursor=cursor,
            key=key,
            wanted=lambda mv: _matches(mv, clauses),
            querying_prompts=querying_prompts,
            want=want,
        )
    elif fields[0][0] == "name":
        second = fields[1]
        rows = version_walks.walk_by_name(
            models,
            versions,
            workspace,
            ascending=fields[0][1],
            version_ascending=second[1] if second[0] == "version" else None,
            after=after,
            cursor=cursor,
            key=key,
            wanted=lambda mv: _matches(mv, clauses),
            model_wanted=lambda meta: _name_matches(meta["name"], clauses),
            querying_prompts=querying_prompts,
            want=want,
        )
    else:
        rows = version_walks.walk_by_time(
            models,
            versions,
            workspace,
            by_update=fields[0][0] == "last_updated_timestamp",
            ascending=fields[0][1],
            after=after,
            cursor=cursor,
            key=key,
            wanted=lambda mv: _matches(mv, clauses),
            querying_prompts=querying_prompts,
            want=want,
        )
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        last = rows[-1]
        token = keyset.encode(_SEARCH, fields, filter_string, [get(last) for get, _ in terms])
    return PagedList(rows, token)


def _walkable(fields: list[tuple[str, bool]], versions: ModelVersionRepository) -> bool:
    """Whether the table has the listing the order's first field walks (a table older than
    it has until its backfill ran: ``registry backfill-order``, and for version numbers
    ``registry backfill-version-order``)."""
    if not order_state.READINESS.is_ready(versions.gateway):
        return False
    return fields[0][0] != "version" or version_number_order.READINESS.is_ready(versions.gateway)


def _name_matches(name: str, clauses: list[dict]) -> bool:
    """The filter's name clauses, checked on a model before its versions are read."""
    return all(
        compare(c["comparator"], name, c["value"])
        for c in clauses
        if c["type"] == "attribute" and c["key"] == "name"
    )


def _rows(
    loaded: list[tuple[Item, list[Item]]], clauses: list[dict], querying_prompts: bool
) -> list:
    rows = []
    for meta, items in loaded:
        if not querying_prompts and (
            is_prompt_model(meta) or any(is_prompt_tags(v.get("tags")) for v in items)
        ):
            continue
        rows.extend(to_model_version(v, meta) for v in items if is_live(v))
    return [mv for mv in rows if _matches(mv, clauses)]


def _offset_page(
    models, versions, workspace, clauses, querying_prompts, terms, max_results, offset, fts
) -> PagedList:
    loaded = _load_narrowed(models, versions, workspace, clauses, fts)
    if loaded is None:
        loaded = _load_all(models, versions, workspace)
    matching = _rows(loaded, clauses, querying_prompts)
    result, token = page(sort_rows(matching, terms), offset, max_results)
    return PagedList(result, token)
