"""The transaction action that moves one rollup cell (TRACES, view and cost cells alike):
ADD of its counters, SET of the attributes it carries (workspace, ttl, digested labels' text).

ADD creates a missing cell, so a cell needs no read before its first write.
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway


def cell_update(
    gateway: TableGateway, key: dict[str, str], fields: dict[str, Any], counters: dict[str, Any]
) -> dict:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    adds, sets = [], []
    for i, (attr, amount) in enumerate(sorted(counters.items())):
        if amount:
            names[f"#a{i}"], values[f":a{i}"] = attr, amount
            adds.append(f"#a{i} :a{i}")
    for i, (attr, value) in enumerate(sorted(fields.items())):
        names[f"#f{i}"], values[f":f{i}"] = attr, value
        sets.append(f"#f{i} = :f{i}")
    expression = "ADD " + ", ".join(adds) + (" SET " + ", ".join(sets) if sets else "")
    return gateway.tx_update(key, expression, names=names, values=values)
