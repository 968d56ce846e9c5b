"""Listings read lazily in pages that grow: a caller that stops early (a search page, a
first match) pays for little more than it used, and a long walk still ends in few requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from boto3.dynamodb.conditions import ConditionBase

Item = dict[str, Any]

PAGE_CAP = 1000  # items per Query once a walk has grown


class _Queries(Protocol):
    def query_page(
        self, key_condition: ConditionBase, **kwargs: Any
    ) -> tuple[list[Item], Item | None]: ...


def growing_pages(
    gateway: _Queries,
    key_condition: ConditionBase,
    *,
    first_page: int,
    cap: int = PAGE_CAP,
    index: str | None = None,
    forward: bool = True,
) -> Iterator[list[Item]]:
    """The query's items page by page; each Query asks for twice as many items as the one
    before (from ``first_page``, at most ``cap``)."""
    limit, start_key = max(1, first_page), None
    while True:
        items, start_key = gateway.query_page(
            key_condition, index=index, forward=forward, limit=limit, start_key=start_key
        )
        yield items
        if not start_key:
            return
        limit = min(limit * 2, cap)


def growing_walk(gateway: _Queries, key_condition: ConditionBase, **kwargs: Any) -> Iterator[Item]:
    """``growing_pages``' items one by one."""
    for page in growing_pages(gateway, key_condition, **kwargs):
        yield from page
