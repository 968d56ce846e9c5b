"""Keys of the trigram full-text index (``fts/``).

A posting says "entity <id> has trigram <t> in field <f>": one small item per (field,
trigram, entity) in the base table, under

    PK  FTS#<workspace>#<field>#<scope>#<trigram>#<shard>
    SK  <entity id>

``scope`` narrows a posting list to what one search reads: an experiment id for runs,
``*`` for workspace-wide collections (experiments, registered models). ``shard`` is a
stable hash of the entity id into ``FTS_SHARDS`` partitions, so a common trigram ("run",
"exp") never puts all of a workspace's entities, or their writes, under one key. The
trigram is exactly three code points and the shard the last part, so a ``#`` inside a
trigram cannot confuse the parts. Lookups read the base table (strongly consistent): no
index, no lag.
"""

from __future__ import annotations

import zlib

from mlflow_dynamodbstore.schema.keys import SEP

FTS_PREFIX = "FTS"
FTS_SHARDS = 4
WORKSPACE_SCOPE = "*"
_CONFIG_PK = "CONFIG"
# The attribute of a posting that carries its entity's indexed text (names of experiments
# and registered models, fts/postings.py CARRYING_FIELDS): a search checks the candidate
# against the pattern without reading the entity. Absent on postings written before, or
# written outside the entity's own transaction: those candidates are read and verified.
CARRIED_TEXT = "text"
# The overflow list's place of the trigram (8 characters: never a trigram and its shard).
OVERFLOW = "OVERFLOW"
# Fields whose ready marker is not named after the field. Trace names: tables of earlier
# versions were marked ``trace_name`` (before any trace posting existed) or
# ``trace_name.postings`` (per-trace postings, opt-in); neither has the name dictionary and
# the name listing (schema/trace_name_keys.py), so the marker of those is its own, set only
# by a table created with them or by ``fts backfill``.
_READY_MARKERS = {"trace_name": "trace_name.dictionary"}
# The marker of the earlier per-trace postings: the backfill deletes those it finds while
# this marker item exists (repositories/traces/name_dictionary.py).
LEGACY_TRACE_NAME_MARKER = "trace_name.postings"


def shard_of(entity_id: str) -> int:
    return zlib.crc32(entity_id.encode("utf-8")) % FTS_SHARDS


def posting_pk(workspace: str, field: str, scope: str, trigram: str, shard: int) -> str:
    return SEP.join((FTS_PREFIX, workspace, field, scope, trigram, str(shard)))


def posting_key(
    workspace: str, field: str, scope: str, trigram: str, entity_id: str
) -> dict[str, str]:
    return {
        "PK": posting_pk(workspace, field, scope, trigram, shard_of(entity_id)),
        "SK": entity_id,
    }


def overflow_pk(workspace: str, field: str, scope: str) -> str:
    """The overflow list of a field with bounded indexing: the entities whose text had more
    distinct trigrams than are indexed (every search of the scope takes them as candidates).
    Unsharded: it lists only the rare long texts."""
    return SEP.join((FTS_PREFIX, workspace, field, scope, OVERFLOW))


def overflow_key(workspace: str, field: str, scope: str, entity_id: str) -> dict[str, str]:
    return {"PK": overflow_pk(workspace, field, scope), "SK": entity_id}


def ready_key(field: str) -> dict[str, str]:
    """Says the field's postings are complete for every entity of the table (written when
    the table is created, or when a backfill of the field finishes)."""
    return marker_key(_READY_MARKERS.get(field, field))


def marker_key(marker: str) -> dict[str, str]:
    return {"PK": _CONFIG_PK, "SK": SEP.join((FTS_PREFIX, "READY", marker))}


def backfill_record_key() -> dict[str, str]:
    """The resumable backfill job's record (its cursor)."""
    return {"PK": _CONFIG_PK, "SK": SEP.join(("JOB", "FTS_BACKFILL"))}


def keyed_scope(scope: str, key: str) -> str:
    """The scope of a keyed field (tag or param values): one posting list per (scope, key),
    so ``tags.x LIKE '%abc%'`` reads only the postings of key ``x``. A scope (experiment
    id or ``*``) never holds ``#``, so the key, whatever it holds, follows unambiguously."""
    return SEP.join((scope, key))
