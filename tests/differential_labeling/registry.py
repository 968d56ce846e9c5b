"""The labeling scenarios' registry and normalisation, on top of tests/differential's harness
(``attempt``, ``to_plain`` and its Normaliser for experiment ids and clock readings). Label
schema, review queue and issue ids are random in both stores: they become ``<ls0>``,
``<rq0>``, ``<iss0>``... in order of appearance, wherever they appear (messages too)."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlflow.store.entities.paged_list import PagedList

from tests.differential.harness import CLOCK_FLOOR, Failed, Normaliser, attempt, to_plain

# Prefixed ids of these families, and bare uuid hex (run ids, e.g. an issue's source run).
_GENERATED_ID = re.compile(r"\b(ls|rq|iss)-[0-9a-f]{32}\b|(?<![\w-])()[0-9a-f]{32}\b")


@dataclass
class LabelingScenario:
    name: str
    fn: Callable[[Any], Any]
    messages: bool = True
    workspaces: bool = False


SCENARIOS: list[LabelingScenario] = []


def scenario(messages: bool = True, workspaces: bool = False):
    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        name = f"{fn.__module__.rpartition('_')[2]}/{fn.__name__}"
        if any(s.name == name for s in SCENARIOS):
            raise ValueError(f"duplicate scenario {name}")
        SCENARIOS.append(LabelingScenario(name, fn, messages, workspaces))
        return fn

    return register


def _ids(value: Any, found: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _ids(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_ids(v, found) for v in value]
    if isinstance(value, str):

        def placeholder(match: re.Match) -> str:
            prefix = match.group(1) or "hex"
            if match.group(0) not in found:
                n = sum(1 for k in found if k.startswith(prefix + "-"))
                found[match.group(0)] = f"<{prefix}{n}>"
            return found[match.group(0)]

        return _GENERATED_ID.sub(placeholder, value)
    return value


def _dataclasses(value: Any) -> Any:
    """The genai entities (LabelSchema, ReviewQueue, ReviewQueueItem) are dataclasses, not
    MLflow objects: to dicts, enums to their values, clock readings (``*_at``, ``*_ms``) to
    ``<time>`` (the harness masks only ``*_time``/``*_timestamp``)."""
    if isinstance(value, Failed):
        return value
    if isinstance(value, PagedList):
        return PagedList([_dataclasses(v) for v in value], value.token)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = _dataclasses(getattr(value, f.name))
            if isinstance(v, int) and not isinstance(v, bool) and v >= CLOCK_FLOOR:
                v = "<time>"
            out[f.name] = v
        out["__type__"] = type(value).__name__
        if isinstance(out.get("schema_ids"), list):
            # Both stores return them sorted by id; ids are random, so after the placeholders
            # only "was it sorted" and the set are comparable.
            out["schema_ids_sorted"] = out["schema_ids"] == sorted(out["schema_ids"])
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _dataclasses(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dataclasses(v) for v in value]
    return value


def _sort_schema_ids(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _sort_schema_ids(v) for k, v in value.items()}
        if "schema_ids_sorted" in out:
            out["schema_ids"] = sorted(out["schema_ids"])
        return out
    if isinstance(value, list):
        return [_sort_schema_ids(v) for v in value]
    return value


def outcome(scenario: LabelingScenario, store: Any, artifact_roots: list[str]) -> Any:
    raw = attempt(lambda: _dataclasses(scenario.fn(store)))
    return _sort_schema_ids(_ids(Normaliser(artifact_roots, scenario.messages)(to_plain(raw)), {}))
