"""Trace-name postings (repositories/traces/name_postings.py): the cap and overflow entry,
what a META write moves, and that a capped name still leads every match to a candidate."""

from __future__ import annotations

import random

from mlflow_dynamodbstore.fts.trigrams import bounded_trigrams, pattern_trigrams, trigrams
from mlflow_dynamodbstore.repositories.traces.name_postings import (
    TRACE_NAME_CAP,
    name_change,
    posting_items,
    posting_keys,
)
from mlflow_dynamodbstore.schema import fts_keys


def _meta(name, ttl=None, workspace="default", trace_id="tr-1") -> dict:
    meta = {"trace_id": trace_id, "experiment_id": "7", "workspace": workspace}
    if name is not None:
        meta["trace_name"] = name
    if ttl is not None:
        meta["ttl"] = ttl
    return meta


def test_bounded_trigrams_keeps_the_first_distinct_in_text_order():
    text = "abcabcabc" + "".join(chr(0x4E00 + i) for i in range(10))
    found, overflowed = bounded_trigrams(text, 4)
    assert overflowed and found == {"abc", "bca", "cab", "bc" + chr(0x4E00)}
    assert bounded_trigrams("Model-X", 50) == (trigrams("Model-X"), False)
    assert bounded_trigrams("ab", 1) == (set(), False)
    assert bounded_trigrams(None, 1) == (set(), False)


def test_capped_name_has_an_overflow_entry_and_the_trace_ttl():
    name = "".join(chr(0x4E00 + i) for i in range(TRACE_NAME_CAP + 50))
    items = posting_items(_meta(name, ttl=123))
    overflow = fts_keys.overflow_key("default", "trace_name", "7", "tr-1")
    assert {**overflow, "ttl": 123} in items
    assert len(items) == TRACE_NAME_CAP + 1
    assert all(i["ttl"] == 123 for i in items)
    assert len(posting_keys(_meta("short name"))) == len(trigrams("short name"))
    assert posting_keys(_meta(None)) == []


def test_name_change_moves_only_what_changed():
    assert not name_change(_meta("same", ttl=5), {**_meta("same", ttl=5), "tags": {"k": "v"}})
    created = name_change(None, _meta("abcd"))
    assert sorted(p["SK"] for p in created.puts) == ["tr-1", "tr-1"] and not created.deletes
    moved = name_change(_meta("abcd"), _meta("bcde"))
    assert [p["PK"].split("#")[4] for p in moved.puts] == ["cde"]
    assert [d["PK"].split("#")[4] for d in moved.deletes] == ["abc"]
    removed = name_change(_meta("abcd"), _meta(None))
    assert len(removed.deletes) == 2 and not removed.puts
    # a new ttl rewrites every posting with it
    retimed = name_change(_meta("abcd", ttl=1), _meta("abcd", ttl=2))
    assert len(retimed.puts) == 2 and all(p["ttl"] == 2 for p in retimed.puts)
    assert not retimed.deletes
    # a workspace move puts the target's keys and deletes the source's
    moved_ws = name_change(_meta("abcd"), _meta("abcd", workspace="team"))
    assert all("#team#" in p["PK"] for p in moved_ws.puts)
    assert all("#default#" in d["PK"] for d in moved_ws.deletes)


def test_every_match_is_a_candidate_despite_the_cap():
    """Soundness: a name matching a pattern either holds all its required trigrams in the
    indexed set, or is on the overflow list."""
    rng = random.Random(5)
    alphabet = "abcdefghij数据🚀-_ "
    for _ in range(300):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        if len(name) < 3:
            continue
        start = rng.randrange(len(name) - 2)
        literal = name[start : start + rng.randint(3, 8)]
        indexed, overflowed = bounded_trigrams(name, TRACE_NAME_CAP)
        assert overflowed or pattern_trigrams(f"%{literal}%") <= indexed
