"""What the trace trigram-index differentials share: every page of a search_traces call,
and a record of which searches the index answered."""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.search.traces import search as trace_search


def all_pages(store, exp_ids: list[str], flt: str, max_results: int, order_by=None) -> list:
    """Every page of a search (trace ids per page), or the error code."""
    pages, token = [], None
    try:
        while True:
            infos, token = store.search_traces(
                exp_ids, flt, max_results=max_results, order_by=order_by, page_token=token
            )
            pages.append([i.trace_id for i in infos])
            if not token or len(pages) > 60:
                return pages
    except MlflowException as exc:
        return [exc.error_code]


def index_use(monkeypatch, lookup: str) -> list[bool]:
    """Record, per search, whether ``trace_search.<lookup>`` (an index lookup that answers
    None when the search takes the listing walk) found candidates in the index."""
    used: list[bool] = []
    original = getattr(trace_search, lookup)

    def recorded(*args):
        found = original(*args)
        used.append(found is not None)
        return found

    monkeypatch.setattr(trace_search, lookup, recorded)
    return used
