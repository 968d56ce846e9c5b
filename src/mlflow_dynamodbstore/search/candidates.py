"""The items a trigram index names across several experiments, read by BatchGetItem: the
shape both trace and logged-model name searches narrow their candidates with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Item = dict[str, Any]


def named_items(
    experiment_ids: Iterable[str],
    lookup: Callable[[str], set[str] | None],
    fetch: Callable[[set[str]], dict[str, Item]],
    keep: Callable[[Item], bool],
) -> list[Item] | None:
    """The items whose ids ``lookup`` names in any of the experiments (``fetch``: id -> item,
    one BatchGetItem per 100), those ``keep`` accepts; None when the index cannot name the
    candidates of one experiment (the caller reads its listing instead)."""
    ids: set[str] = set()
    for experiment_id in experiment_ids:
        found = lookup(experiment_id)
        if found is None:
            return None
        ids |= found
    return [item for item in fetch(ids).values() if keep(item)]
