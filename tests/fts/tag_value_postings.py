"""Helpers the tag-value trigram tests share (experiment and registered model tag values):
the postings a table holds for one field, the postings some tags should have, and a store's
request counts."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def stored_postings(gateway, field: str) -> set[tuple[str, str]]:
    """Every posting of ``field`` in the table (a Scan: test code only)."""
    client, found, start = gateway.client, set(), None
    while True:
        kwargs = {"TableName": gateway.table_name}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        for raw in page["Items"]:
            parts = raw["PK"]["S"].split("#")
            if parts[0] == "FTS" and len(parts) > 2 and parts[2] == field:
                found.add((raw["PK"]["S"], raw["SK"]["S"]))
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def expected_postings(
    posting_keys: Callable, tags: Iterable[tuple[str, str, str]], workspace: str
) -> set[tuple[str, str]]:
    """The postings of (entity id, key, value) triples, from the repository's key builder."""
    return {
        (k["PK"], k["SK"])
        for entity_id, key, value in tags
        for k in posting_keys(workspace, entity_id, {key: value})
    }


def request_counts(store) -> dict[str, int]:
    return {name: op.requests for name, op in store.gateway.stats.snapshot().items()}


def requests_but_getitem(store) -> dict[str, int]:
    """``request_counts`` but GetItem: the periodic settings / readiness re-read may fall in
    any call."""
    return {k: v for k, v in request_counts(store).items() if k != "GetItem"}
