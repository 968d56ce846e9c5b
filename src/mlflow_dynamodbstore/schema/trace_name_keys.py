"""Keys of the trace-name dictionary (docs/full-text-search.md, "Trace names").

Traces of an experiment share few distinct names, so a name is indexed once per
(experiment, name), never per trace:

- the **dictionary entry** of a distinct name, one item, written once:

      PK  TNAMES#<experiment id>#<shard>      SK  <name digest>

  holding the name itself (names may be 4,096 characters: keys hold its digest);
- the name's **trigram postings** in the trigram index's layout (``fts_keys``), field
  ``trace_names``, scope the experiment, entity the name's digest;
- the **name listing** of an experiment: every trace META item carrying a name is on GSI1
  under ``EXP#<experiment id>#TNAME#<name digest>``, sorted as the experiment's GSI3
  listing (timestamp DESC, trace id ASC), so a name's traces are read in MLflow's default
  order.

None of these keys holds the workspace: an experiment id is unique in the table and its
traces' GSI3 listing has none either, so a workspace move (``SET_DEFAULT``) moves nothing.
Searches reach them only through experiment ids the request's workspace holds.
"""

from __future__ import annotations

import hashlib
import zlib

from mlflow_dynamodbstore.schema import fts_keys, indexes
from mlflow_dynamodbstore.schema.keys import SEP, experiment_pk, trace_list_sk

# The posting lists' field and workspace slot (see above: no workspace in these keys).
DICTIONARY_FIELD = "trace_names"
ANY_WORKSPACE = "*"
_DICTIONARY_PREFIX = "TNAMES"
# Dictionary entries of one experiment are spread over this many partitions (an experiment
# whose names are all distinct must not grow one item collection without bound).
DICTIONARY_SHARDS = 4


def name_digest(name: str) -> str:
    """A name's fixed-size stand-in in keys (128 bits of SHA-256). Readers compare the
    name itself, so a collision could cost a read, never a wrong result."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]


def dictionary_key(experiment_id: str, digest: str) -> dict[str, str]:
    shard = zlib.crc32(digest.encode("ascii")) % DICTIONARY_SHARDS
    return {"PK": SEP.join((_DICTIONARY_PREFIX, str(experiment_id), str(shard))), "SK": digest}


def dictionary_pks(experiment_id: str) -> list[str]:
    """The partitions holding an experiment's dictionary (to list or delete it)."""
    return [
        SEP.join((_DICTIONARY_PREFIX, str(experiment_id), str(s))) for s in range(DICTIONARY_SHARDS)
    ]


def posting_key(experiment_id: str, trigram: str, digest: str) -> dict[str, str]:
    scope = str(experiment_id)
    return fts_keys.posting_key(ANY_WORKSPACE, DICTIONARY_FIELD, scope, trigram, digest)


def overflow_key(experiment_id: str, digest: str) -> dict[str, str]:
    return fts_keys.overflow_key(ANY_WORKSPACE, DICTIONARY_FIELD, str(experiment_id), digest)


def by_name_pk(experiment_id: str, name: str) -> str:
    return f"{experiment_pk(str(experiment_id))}{SEP}TNAME{SEP}{name_digest(name)}"


def by_name_keys(experiment_id: str, name: str, timestamp_ms: int, trace_id: str) -> dict[str, str]:
    """TRACES_BY_NAME (GSI1): the experiment's traces of this name, newest first."""
    return indexes.TRACES_BY_NAME.keys(
        by_name_pk(experiment_id, name), trace_list_sk(timestamp_ms, trace_id)
    )
