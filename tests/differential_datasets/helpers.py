"""Shared steps of the dataset scenarios."""

from __future__ import annotations

import json
from typing import Any


def records_of(store, dataset_id: str) -> list[Any]:
    """Every record, sorted by creation time then inputs (records of one upsert share a
    creation time and are ordered by their ids, which are random in the SQL store)."""
    records, token = store._load_dataset_records(dataset_id, max_results=None)
    assert token is None
    return sorted(records, key=lambda r: (r.created_time, json.dumps(r.inputs, sort_keys=True)))


def experiments(store, n: int) -> list[str]:
    return [store.create_experiment(f"exp-{i}") for i in range(n)]
