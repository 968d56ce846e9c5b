"""The tag index (docs/tag-index.md): reads of its entries and its state item.

Entries are written by the runs and experiments repositories in the same write as the tag
(``schema/tag_index_keys.py`` builds them). The search trusts the index for a tag key only
when the key matches a glob that is both configured now (so every write maintains its
entries) and *complete* (the state item says a backfill built the entries of every
run/experiment that existed before): otherwise it falls back to reading the listing.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.schema import indexes, tag_index_keys

Item = dict[str, Any]
TABLE_SCOPE = "*"  # the state's scope for the table's globs; experiment ids otherwise


class TagIndexState:
    """Which globs are complete, per scope (the table, or one experiment)."""

    def __init__(self, gateway: TableGateway):
        # the unscoped gateway: the state is the table's
        self.gateway = gateway

    def load(self) -> dict[str, list[str]]:
        item = self.gateway.get_item(tag_index_keys.state_key())
        return {k: list(v) for k, v in ((item or {}).get("ready") or {}).items()}

    def mark_ready(self, scope: str, globs: Iterable[str]) -> None:
        """Add ``globs`` to the complete ones of ``scope`` (one UpdateItem; concurrent marks
        of other scopes are kept)."""
        self._change(scope, lambda old: sorted(set(old) | set(globs)))

    def unmark(self, scope: str, globs: Iterable[str]) -> None:
        """A glob no longer configured stops being maintained: its entries may go stale."""
        gone = set(globs)
        self._change(scope, lambda old: [g for g in old if g not in gone])

    def _change(self, scope: str, change) -> None:
        item = self.gateway.get_item(tag_index_keys.state_key()) or {
            **tag_index_keys.state_key(),
            "ready": {},
        }
        ready = dict(item.get("ready") or {})
        ready[scope] = change(ready.get(scope, []))
        item["ready"] = ready
        self.gateway.put_item(item)


def ready_for(ready: dict[str, list[str]], experiment_id: str | None, key: str) -> bool:
    globs = [*ready.get(TABLE_SCOPE, []), *ready.get(str(experiment_id), [])]
    return any(fnmatch.fnmatchcase(key, g) for g in globs)


def _prefixes(comparator: str, value: Any) -> list[str] | None:
    """Sort key prefixes of the entries a clause can match, or None when the index cannot
    narrow it (``!=``, ILIKE, a LIKE starting with a wildcard...)."""
    if comparator == "=" and isinstance(value, str):
        return [tag_index_keys.equal_prefix(value)]
    if comparator == "IN" and isinstance(value, list | tuple | set):
        values = sorted({v for v in value if isinstance(v, str)})
        return [tag_index_keys.equal_prefix(v) for v in values]
    if comparator == "LIKE" and isinstance(value, str):
        # SQLite LIKE, case sensitive, no ESCAPE: the literal before the first wildcard
        cut = min((i for i in (value.find("%"), value.find("_")) if i >= 0), default=len(value))
        literal = value[:cut]
        if not literal:
            return None
        if cut == len(value):  # no wildcard at all: LIKE is equality
            return [tag_index_keys.equal_prefix(literal)]
        return [tag_index_keys.starts_with_prefix(literal)]
    return None


def narrows(comparator: str, value: Any) -> bool:
    return _prefixes(comparator, value) is not None


class TagIndexReader:
    """Candidates from the index; the caller verifies each against META."""

    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def run_ids(self, experiment_id: str, key: str, comparator: str, value: Any) -> set[str]:
        """Ids of the experiment's runs whose tag ``key`` may satisfy the clause: one Query
        (per 1 MB of entries) per prefix."""
        pk = tag_index_keys.runs_by_tag_pk(experiment_id, key)
        return {e["run_id"] for e in self._entries(indexes.RUNS_BY_TAG, pk, comparator, value)}

    def experiment_ids(self, workspace: str, key: str, comparator: str, value: Any) -> set[str]:
        pk = tag_index_keys.experiments_by_tag_pk(workspace, key)
        pattern = indexes.EXPERIMENTS_BY_TAG
        return {str(e["experiment_id"]) for e in self._entries(pattern, pk, comparator, value)}

    def _entries(self, pattern, pk: str, comparator: str, value: Any) -> Iterable[Item]:
        for prefix in _prefixes(comparator, value) or []:
            yield from self.gateway.query(
                pattern.key_condition(pk, prefix=prefix), index=pattern.index
            )
