"""Trigram folding and pattern analysis: the index may only narrow, so every value a
pattern matches (with the SQL store's LIKE / ILIKE semantics) must hold every trigram the
pattern requires."""

from __future__ import annotations

import pytest

from mlflow_dynamodbstore.fts.lookup import is_junction, rarity_order
from mlflow_dynamodbstore.fts.postings import (
    CARRIED_TEXT_BYTES,
    Document,
    PostingChange,
    carries,
    created,
    moved,
    pack,
)
from mlflow_dynamodbstore.fts.trigrams import (
    literal_runs,
    pattern_trigrams,
    required_trigrams,
    trigrams,
)
from mlflow_dynamodbstore.schema import fts_keys
from mlflow_dynamodbstore.search.runs.filter import compare
from tests.fts.names import generated_names, patterns


def test_trigrams_fold_ascii_only():
    assert trigrams("AbCd") == {"abc", "bcd"}
    assert trigrams("ÉCOLE") == {"Éco", "col", "ole"}  # SQLite's lower() leaves É
    assert trigrams("ab") == set() and trigrams(None) == set()
    assert trigrams("数据模型") == {"数据模", "据模型"}


@pytest.mark.parametrize(
    ("pattern", "runs", "required"),
    [
        ("%abc%", ["abc"], {"abc"}),
        ("abcd%", ["abcd"], {"abc", "bcd"}),
        ("%a_cde%", ["a", "cde"], {"cde"}),
        ("%ab%", ["ab"], set()),
        ("___", [], set()),
        ("", [], set()),
        ("50\\%x", ["50\\", "x"], {"50\\"}),
        ("Ab%Cde", ["Ab", "Cde"], {"cde"}),
    ],
)
def test_pattern_analysis(pattern, runs, required):
    assert literal_runs(pattern) == runs
    assert pattern_trigrams(pattern) == required


def test_required_trigrams_of_clauses():
    clauses = [("LIKE", "%abc%"), ("ILIKE", "%XYZ%"), ("=", "exact"), ("!=", "ignored")]
    assert required_trigrams(clauses) == {"abc", "xyz", "exa", "xac", "act"}


def test_every_match_holds_the_required_trigrams():
    names = generated_names(300, seed=1)
    for pattern in patterns(names, 300, seed=2):
        required = pattern_trigrams(pattern)
        for name in names:
            for comparator in ("LIKE", "ILIKE"):
                if compare(comparator, name, pattern):
                    assert required <= trigrams(name), (comparator, pattern, name)


def test_rename_moves_only_changed_trigrams():
    """Postings that carry no name (run names): a rename writes only the difference."""
    doc = Document("ws", "run_name", "5", "7")
    change = moved(doc, "abcd", "abce")
    assert [k["PK"].split("#")[4] for k in change.puts] == ["bce"]
    assert [k["PK"].split("#")[4] for k in change.deletes] == ["bcd"]
    assert {k["SK"] for k in change.puts} == {"7"}
    shard = fts_keys.shard_of("7")
    assert change.puts[0]["PK"] == f"FTS#ws#run_name#5#bce#{shard}"
    assert all(fts_keys.CARRIED_TEXT not in k for k in change.puts)


def test_name_postings_carry_the_name_and_a_rename_rewrites_them_all():
    """A shared trigram's posting would otherwise keep carrying the old name, and a search
    would drop the renamed entity on it."""
    doc = Document("ws", "experiment_name", "*", "7")
    created_puts = created(doc, "abcd").puts
    assert {k[fts_keys.CARRIED_TEXT] for k in created_puts} == {"abcd"}
    change = moved(doc, "abcd", "abce")
    assert sorted(k["PK"].split("#")[4] for k in change.puts) == ["abc", "bce"]
    assert {k[fts_keys.CARRIED_TEXT] for k in change.puts} == {"abce"}
    assert [k["PK"].split("#")[4] for k in change.deletes] == ["bcd"]
    assert all(set(k) == {"PK", "SK"} for k in change.deletes)
    shard = fts_keys.shard_of("7")
    assert change.puts[0]["PK"] == f"FTS#ws#experiment_name#*#abc#{shard}"


def test_a_name_too_long_to_carry_is_indexed_bare():
    doc = Document("ws", "model_name", "*", "m1")
    long_name = "é" * (CARRIED_TEXT_BYTES // 2) + "x"  # 2 bytes a character: one byte over
    assert not carries("model_name", long_name) and carries("model_name", "é" * 64)
    assert all(fts_keys.CARRIED_TEXT not in k for k in created(doc, long_name).puts)
    # from a carried name to one too long: the shared postings lose the old name
    change = moved(doc, "é" * 64, long_name)
    assert len(change.puts) == len(trigrams(long_name))
    assert all(fts_keys.CARRIED_TEXT not in k for k in change.puts)
    # neither carried: only the difference, as for any other field
    longer = moved(doc, long_name, long_name + "yz")
    assert sorted(k["PK"].split("#")[4] for k in longer.puts) == ["xyz", "éxy"]
    assert longer.deletes == [] and all(fts_keys.CARRIED_TEXT not in k for k in longer.puts)


def test_pack_fills_the_transaction_and_spills_around_it():
    change = PostingChange(puts=[{"n": i} for i in range(120)], deletes=[{"d": 1}])
    packed = pack(change, used=3)
    assert len(packed.inside_puts) == 97 and packed.inside_deletes == []
    assert len(packed.before) == 23 and packed.after == [{"d": 1}]


def test_postings_written_outside_the_transaction_carry_no_name():
    doc = Document("ws", "experiment_name", "*", "7")
    change = created(doc, "abcdefghij")  # 8 postings
    packed = pack(change, used=96)  # room for 4
    assert all(fts_keys.CARRIED_TEXT in p for p in packed.inside_puts)
    assert len(packed.before) == 4
    assert all(fts_keys.CARRIED_TEXT not in p for p in packed.before)


def test_rarity_order_prefers_rare_then_distant_trigrams():
    order = rarity_order({"abc", "bcd", "cde", "xyz"})
    assert order[0] == "xyz"
    assert order[1] == "bcd"  # shares no character with xyz; the rarest of the rest
    assert order[2] == "abc"  # shares two characters with those read, as cde does; rarer


def test_word_junctions_are_read_first():
    """A separator between two word characters joins two words: "r-b" lists only names
    where a word ending in r meets one starting with b, fewer than either word's trigrams."""
    assert is_junction("r-b") and is_junction("a_1") and is_junction("t.2")
    assert not is_junction("-be") and not is_junction("ocr") and not is_junction("a--")
    order = rarity_order(trigrams("ocr-bert"))
    assert order[0] == "r-b"


def test_digits_rank_as_common_characters():
    """Names carry dates and versions: "202" of a year is in nearly every dated name, so a
    trigram of letters is tried before one of digits."""
    assert rarity_order(trigrams("2025abc"))[0] == "abc"
