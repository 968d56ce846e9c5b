"""Helpers shared by the experiment scenario modules."""

from __future__ import annotations

from functools import partial

from mlflow.entities import ExperimentTag

from tests.differential import harness

# Experiments are this store's own area: compare error messages too, not only codes.
add = partial(harness.add, messages=True)
scenario = partial(harness.scenario, messages=True)


def _exp(store, name: str, **tags: str) -> str:
    return store.create_experiment(name, tags=[ExperimentTag(k, v) for k, v in tags.items()])


def _search(store, **kwargs):
    """A search reduced to what identifies the page: names in order and whether a token
    came back (tokens are opaque and need not be equal)."""
    page = store.search_experiments(**kwargs)
    return {"names": [e.name for e in page], "has_token": page.token is not None}


def _all_pages(store, max_results: int, **kwargs) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = store.search_experiments(max_results=max_results, page_token=token, **kwargs)
        pages.append([e.name for e in page])
        token = page.token
        if not token:
            return pages
