"""search_logged_models: the plan and the page.

Reads: per experiment, the GSI4 listing of its active models. META items carry attributes,
tags, params and metric rows, so nothing more is read, except for a model whose metrics
outgrew META (``metrics_spilled``): one Query of its partition, for every such candidate when
a metric comparison, a ``datasets`` filter or a metric order needs metrics, otherwise only
when it is on the page.

A ``name LIKE / ILIKE / =`` comparison with a literal of 3+ characters reads, instead of
the listings, the candidates the trigram index names (``fts/``; one BatchGetItem per 100),
ordered as the listings would give them.

In MLflow's default order (creation time DESC, model id ASC), which is GSI4's, the
experiments' listings are merged lazily and reading stops once the page is full; the page
token is MLflow's (SearchLoggedModelsPaginationToken, offset 0) plus a keyset cursor (the
last model's GSI4 sort key), and the next page's walks start right after it, so paging reads
the listing about once. Any other order reads every model and pages by MLflow's offsets.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from dataclasses import asdict
from itertools import chain
from typing import Any

from mlflow.entities import LifecycleStage, LoggedModel
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT
from mlflow.utils.search_logged_model_utils import EntityType, parse_filter_string
from mlflow.utils.search_utils import SearchLoggedModelsPaginationToken

from mlflow_dynamodbstore.compat.validation import _parse_experiment_ids
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.fts.postings import LOGGED_MODEL_NAME
from mlflow_dynamodbstore.fts.trigrams import required_trigrams
from mlflow_dynamodbstore.repositories.logged_models.metrics import LoggedModelMetricRepository
from mlflow_dynamodbstore.repositories.logged_models.repository import (
    LoggedModelRepository,
    to_logged_model,
)
from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.search.candidates import named_items
from mlflow_dynamodbstore.search.logged_models.match import (
    check_comparisons,
    check_order_by,
    in_listing_order,
    matches,
    needs_metrics,
    sort_models,
)

Item = dict[str, Any]


def _decode_token(page_token: str) -> tuple[SearchLoggedModelsPaginationToken, str | None]:
    """MLflow's decoder, with the errors it lets through (bad base64/UTF-8, JSON that is not
    an object) answered as INVALID_PARAMETER_VALUE; and the keyset cursor ("after": the last
    model's GSI4 sort key) this store adds to MLflow's token in listing order."""
    try:
        token = SearchLoggedModelsPaginationToken.decode(page_token)
        raw = json.loads(base64.b64decode(page_token.encode("utf-8")).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, AttributeError, ValueError):
        raise MlflowException(
            f"Invalid page token: {page_token}", INVALID_PARAMETER_VALUE
        ) from None
    if not isinstance(token.offset, int) or token.offset < 0:
        raise MlflowException(f"Invalid page token: {page_token}", INVALID_PARAMETER_VALUE)
    after = raw.get("after")
    if after is not None and not (isinstance(after, str) and after and token.offset == 0):
        raise MlflowException(f"Invalid page token: {page_token}", INVALID_PARAMETER_VALUE)
    return token, after


def _keyset_token(
    experiment_ids: list[str], filter_string: str | None, order_by: list[dict] | None, after: str
) -> str:
    """MLflow's token (offset 0) plus the cursor: MLflow's own decoder still reads it."""
    payload = asdict(
        SearchLoggedModelsPaginationToken(
            experiment_ids=experiment_ids, filter_string=filter_string, order_by=order_by
        )
    )
    payload["after"] = after
    return base64.b64encode(json.dumps(payload).encode("utf-8")).decode("utf-8")


def search_logged_models(
    models: LoggedModelRepository,
    metrics: LoggedModelMetricRepository,
    experiment_ids: list[str],
    filter_string: str | None = None,
    datasets: list[dict] | None = None,
    max_results: int | None = None,
    order_by: list[dict] | None = None,
    page_token: str | None = None,
    fts: TrigramIndex | None = None,
    workspace: str | None = None,
) -> PagedList[LoggedModel]:
    if datasets and not all(d.get("dataset_name") for d in datasets):
        raise MlflowException(
            "`dataset_name` in the `datasets` clause must be specified.",
            INVALID_PARAMETER_VALUE,
        )
    offset, after = 0, None
    if page_token:
        token, after = _decode_token(page_token)
        token.validate(experiment_ids, filter_string, order_by)
        offset = token.offset
    max_results = max_results or SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT
    if max_results < 0:
        raise MlflowException.invalid_parameter_value(
            f"Invalid value {max_results} for max_results: it must not be negative."
        )
    try:
        comparisons = parse_filter_string(filter_string)
    except ValueError as exc:  # a non-number compared with a number (SQL: internal error)
        raise MlflowException.invalid_parameter_value(
            f"Invalid filter string: {filter_string!r}. {exc}"
        ) from None
    check_comparisons(comparisons)
    parsed_ids = sorted({str(i) for i in _parse_experiment_ids(experiment_ids)})
    check_order_by(order_by)

    load_all = needs_metrics(comparisons, datasets, order_by)
    listing_order = in_listing_order(order_by)
    if after is not None and not listing_order:
        raise MlflowException(f"Invalid page token: {page_token}", INVALID_PARAMETER_VALUE)
    by_listing = indexes.LOGGED_MODELS_BY_EXPERIMENT.sort_key
    named = _indexed_candidates(models, fts, workspace, parsed_ids, comparisons)
    if named is not None:
        # the trigram index named the only models that can match: in listing order, from
        # the cursor on
        metas = _in_listing_order(named, parsed_ids, listing_order)
        if after is not None:
            metas = [m for m in metas if by_listing(m) > after]
    elif listing_order:
        # GSI4's own order: walk from the cursor, stop after the page and one more match;
        # every page costs the models walked past since the previous page's cursor: the
        # first Query asks for the page, the cursor and one look-ahead, later ones double
        # (a selective filter gets through a large experiment in few requests)
        first_page = max_results + 2
        streams = [
            models.list_in_experiment(
                experiment_id, LifecycleStage.ACTIVE, after=after, first_page=first_page
            )
            for experiment_id in parsed_ids
        ]
        metas = heapq.merge(*streams, key=by_listing)
    else:
        metas = chain(*(models.list_in_experiment(e, LifecycleStage.ACTIVE) for e in parsed_ids))
    wanted = offset + max_results + 1  # one more than the page tells whether a next exists
    candidates: list[tuple[Item, list[Item] | None]] = []
    for meta in metas:
        rows = metrics.rows(meta) if load_all else None
        if matches(meta, rows, comparisons, datasets):
            candidates.append((meta, rows))
            if listing_order and len(candidates) >= wanted:
                break
    ordered = candidates if listing_order else sort_models(candidates, order_by)
    page = ordered[offset : offset + max_results]
    next_token = None
    if len(ordered) > offset + max_results:
        if listing_order and offset == 0 and page:
            last = indexes.LOGGED_MODELS_BY_EXPERIMENT.sort_key(page[-1][0])
            next_token = _keyset_token(experiment_ids, filter_string, order_by, last)
        else:
            next_token = SearchLoggedModelsPaginationToken(
                offset=offset + max_results,
                experiment_ids=experiment_ids,
                filter_string=filter_string,
                order_by=order_by,
            ).encode()
    return PagedList([_entity(metrics, meta, rows) for meta, rows in page], next_token)


def _indexed_candidates(
    models: LoggedModelRepository,
    fts: TrigramIndex | None,
    workspace: str | None,
    experiment_ids: list[str],
    comparisons: list,
) -> list[Item] | None:
    """Active models of the experiments the trigram index names for the name comparisons
    (META by BatchGetItem), or None when the index cannot narrow the search."""
    clauses = [
        (c.op, c.value)
        for c in comparisons
        if c.entity.type == EntityType.ATTRIBUTE and c.entity.key == "name"
    ]
    required = required_trigrams(clauses)
    if not required or fts is None or workspace is None or not fts.usable(LOGGED_MODEL_NAME):
        return None
    return named_items(
        experiment_ids,
        lambda e: fts.candidates(workspace, LOGGED_MODEL_NAME, e, required),
        models.get_metas,
        lambda meta: (
            meta.get("lifecycle_stage") == LifecycleStage.ACTIVE
            and str(meta["experiment_id"]) in experiment_ids
        ),
    )


def _in_listing_order(metas: list[Item], experiment_ids: list[str], merged: bool) -> list[Item]:
    """As the listings would give them: merged by GSI4 sort key, or experiment after
    experiment (each in GSI4 order)."""
    by_listing = indexes.LOGGED_MODELS_BY_EXPERIMENT.sort_key
    position = {e: i for i, e in enumerate(experiment_ids)}
    if merged:
        return sorted(metas, key=lambda m: (by_listing(m), position[str(m["experiment_id"])]))
    return sorted(metas, key=lambda m: (position[str(m["experiment_id"])], by_listing(m)))


def _entity(metrics: LoggedModelMetricRepository, meta: Item, rows: list[Item] | None):
    if rows is None:  # not loaded for the filter: spilled rows, if any, are read now
        rows = metrics.rows(meta)
    # ``rows`` already holds the inline ones (duplicates collapse by sort key)
    return to_logged_model(meta, rows)
