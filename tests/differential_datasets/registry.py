"""The dataset scenarios' registry and normalisation, on top of tests/differential's
harness (``attempt``, ``to_plain``, its Normaliser for experiment ids and clock readings).

Dataset ids (``d-<hex>``) and record ids (``dr-<hex>``) are random in the SQL store: they
become ``<d0>``, ``<r0>``... in order of appearance, in values and in messages alike.
Digests hash a clock reading, so they are masked. Entities are turned into plain data here
(``EvaluationDataset``'s ``records``/``experiment_ids`` properties would lazily call the
global store): a dataset by its fields, a record by ``to_dict()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities.dataset_record import DatasetRecord
from mlflow.entities.evaluation_dataset import EvaluationDataset
from mlflow.store.entities.paged_list import PagedList

from tests.differential.harness import Failed, Normaliser, attempt, to_plain


@dataclass
class DatasetScenario:
    name: str
    fn: Callable[[Any], Any]
    messages: bool = True
    workspaces: bool = False
    # Deliberate, documented differences: SQL's error code -> ours (messages then ignored).
    deviations: dict[str, str] = field(default_factory=dict)


SCENARIOS: list[DatasetScenario] = []


def scenario(**options: Any):
    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if any(s.name == fn.__name__ for s in SCENARIOS):
            raise ValueError(f"duplicate scenario {fn.__name__}")
        SCENARIOS.append(DatasetScenario(fn.__name__, fn, **options))
        return fn

    return register


def plain(value: Any) -> Any:
    if isinstance(value, EvaluationDataset):
        return {
            "dataset_id": value.dataset_id,
            "name": value.name,
            "digest": value.digest,
            "tags": value.tags,
            "schema": value.schema,
            "profile": value.profile,
            "created_time": value.created_time,
            "last_update_time": value.last_update_time,
            "created_by": value.created_by,
            "last_updated_by": value.last_updated_by,
            "experiment_ids": value._experiment_ids,
            "loaded_records": value._records is not None,
        }
    if isinstance(value, DatasetRecord):
        return value.to_dict()
    if isinstance(value, PagedList):
        return {"items": [plain(v) for v in value], "token": "<token>" if value.token else None}
    if isinstance(value, Failed):
        return to_plain(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return to_plain(value)


_ID = re.compile(r"\b(dr?-[0-9a-f]{32})\b")


def _ids(value: Any, found: dict[str, str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _ids(v, found)
    elif isinstance(value, list):
        for v in value:
            _ids(v, found)
    elif isinstance(value, str):
        for raw in _ID.findall(value):
            kind = "r" if raw.startswith("dr-") else "d"
            count = sum(1 for p in found.values() if p.startswith(f"<{kind}"))
            found.setdefault(raw, f"<{kind}{count}>")


def _rewrite(value: Any, ids: dict[str, str], key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, ids, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, ids) for v in value]
    if key == "digest" and isinstance(value, str):
        return "<digest>"
    if isinstance(value, str):
        return _ID.sub(lambda m: ids.get(m.group(1), m.group(1)), value)
    return value


def _deviate(value: Any, codes: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _deviate(v, codes) for k, v in value.items()}
        if out.get("error") in codes:
            out["error"] = codes[out["error"]]
            out.pop("message", None)
        return out
    if isinstance(value, list):
        return [_deviate(v, codes) for v in value]
    return value


def outcome(s: DatasetScenario, store: Any, artifact_roots: list[str], *, reference: bool) -> Any:
    result = plain(attempt(lambda: s.fn(store)))
    ids: dict[str, str] = {}
    _ids(result, ids)
    result = Normaliser(artifact_roots, s.messages)(_rewrite(result, ids))
    if s.deviations:
        codes = s.deviations if reference else {v: v for v in s.deviations.values()}
        result = _deviate(result, codes)
    return result
