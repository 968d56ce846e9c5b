"""Trigrams of indexed text and of search patterns.

Text is folded before its trigrams are taken the way SQLite's ``lower()`` folds it: ASCII
letters only (MLflow's SQL store on SQLite compares every other code point as is, for LIKE
and ILIKE alike). One folded posting list then serves both: a case-sensitive ``LIKE 'Abc%'``
reads the postings of ``abc`` (a superset of what matches) and every candidate is verified
with the exact predicate afterwards, so the index only ever narrows.

A pattern narrows when it holds a literal run of at least three characters between its
wildcards (``%`` any run, ``_`` one character; SQLite without an ESCAPE clause, as MLflow
queries it, has no escapes: ``\\%`` is a backslash and a wildcard). Every trigram of every
such run must be in a matching value, so their posting lists intersect.
"""

from __future__ import annotations

from collections.abc import Iterable

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_WILDCARDS = "%_"
N = 3


def fold(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def trigrams(text: str | None) -> set[str]:
    """The distinct folded trigrams of ``text`` (none for text shorter than three)."""
    if not text:
        return set()
    folded = fold(text)
    return {folded[i : i + N] for i in range(len(folded) - N + 1)}


def bounded_trigrams(text: str | None, cap: int) -> tuple[set[str], bool]:
    """The first ``cap`` distinct folded trigrams of ``text`` in text order, and whether
    some were left out (the text then belongs on its field's overflow list)."""
    if not text:
        return set(), False
    folded = fold(text)
    found: dict[str, None] = {}
    for i in range(len(folded) - N + 1):
        found.setdefault(folded[i : i + N])
        if len(found) > cap:
            return set(list(found)[:cap]), True
    return set(found), False


def literal_runs(pattern: str) -> list[str]:
    """The literal parts of a LIKE pattern, between wildcards."""
    runs, current = [], []
    for char in pattern:
        if char in _WILDCARDS:
            if current:
                runs.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        runs.append("".join(current))
    return runs


def pattern_trigrams(pattern: str) -> set[str]:
    """Trigrams every value matching ``pattern`` (LIKE or ILIKE) contains; empty when the
    pattern cannot narrow (no literal run of three or more)."""
    return set().union(*(trigrams(run) for run in literal_runs(pattern)))


def required_trigrams(clauses: Iterable[tuple[str, object]]) -> set[str]:
    """Trigrams required by ANDed (comparator, value) clauses on one indexed field: LIKE
    and ILIKE by their literal runs, ``=`` by the whole value. Empty: the index cannot
    narrow the search."""
    required: set[str] = set()
    for comparator, value in clauses:
        if not isinstance(value, str):
            continue
        if comparator in ("LIKE", "ILIKE"):
            required |= pattern_trigrams(value)
        elif comparator == "=":
            required |= trigrams(value)
    return required
