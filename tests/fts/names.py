"""Deterministic generated names and LIKE patterns for the full-text index tests."""

from __future__ import annotations

import random

_PIECES = [
    "model", "Model", "MODEL", "train", "Train", "eval", "bert", "BERT", "résumé", "Résumé",
    "naïve", "ÉCOLE", "école", "数据", "模型训练", "😀", "🚀x", "50%", "a_b", "it's", 'say"hi"',
    "x", "ab", "Zz", "2024", "-", "_", "%", "ẞ", "ß", "İi", "qqq",
]  # fmt: skip


def generated_names(count: int, seed: int = 7) -> list[str]:
    """Distinct names: mixed case, accents, CJK, emoji, ``%``, ``_``, quotes, and 1-2
    character names."""
    rng = random.Random(seed)
    names = ["a", "B", "é", "数", "ab", "A%", "_x", "%%", "_"]
    seen = set(names)
    while len(names) < count:
        parts = rng.sample(_PIECES, rng.randint(1, 3))
        name = rng.choice(["", "-", "_", " "]).join(parts)
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def patterns(names: list[str], count: int, seed: int = 11) -> list[str]:
    """LIKE patterns of 0-8 characters: substrings of the names (some case-flipped, some with
    a character replaced by ``_``), with every placement of ``%``; plus a few that match
    nothing and some that cannot narrow. Patterns holding a quote are left out (the filter
    string quotes them)."""
    rng = random.Random(seed)
    found: list[str] = ["", "%", "_", "__", "%%", "abc", "%zzz%", "%qqq%", "%50\\%%"]
    while len(found) < count:
        name = rng.choice(names)
        length = rng.randint(0, min(8, len(name)))
        start = rng.randint(0, len(name) - length)
        core = name[start : start + length]
        if rng.random() < 0.25:
            core = core.swapcase()
        if core and rng.random() < 0.25:
            i = rng.randrange(len(core))
            core = core[:i] + "_" + core[i + 1 :]
        shape = rng.choice(["%{}%", "{}%", "%{}", "{}", "%{}_", "_{}%"])
        pattern = shape.format(core)
        if "'" not in pattern and '"' not in pattern and len(pattern) <= 10:
            found.append(pattern)
    return found
