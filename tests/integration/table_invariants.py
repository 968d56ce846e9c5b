"""What must hold in the table whatever failed half-way: checked on a full Scan (tests only).

A violation is a half-written entity a reader could see: children of a run, experiment,
registered model or trace whose META is missing; a name guard whose entity is missing or
has another name (or an entity without its guard); a model version number above the
model's counter; an alias pointing at no live version; a span head whose chunks are not
all there; any item of a trace (spans included) whose META is missing: nothing could reach
it to delete or expire it. ``check`` returns them as strings (empty: all held), how many
items it read and how many span chunks no head uses (a write that stored a span's chunks but
failed before its head: in the trace's partition, rewritten to the same keys by a retry).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mlflow_dynamodbstore.schema import keys

ROOTS = ("RUN", "EXP", "RM", "TRACE")


def scan(gateway) -> list[dict[str, Any]]:
    client, table = gateway.client, gateway.table_name
    items, start = [], None
    while True:
        args = {"TableName": table, "ConsistentRead": True}
        if start:
            args["ExclusiveStartKey"] = start
        page = client.scan(**args)
        items += [gateway.deserialize(i) for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def check(gateway) -> tuple[list[str], int, int]:
    items = scan(gateway)
    by_key = {(i["PK"], i["SK"]): i for i in items}
    problems: list[str] = []

    def meta(pk: str) -> dict | None:
        return by_key.get((pk, keys.META))

    for item in items:
        pk, sk = item["PK"], item["SK"]
        parts = pk.split(keys.SEP)
        if parts[0] in ROOTS and len(parts) >= 2:
            root = keys.SEP.join(parts[:2])
            if meta(root) is None:
                problems.append(f"{pk}/{sk} has no {root} META")
        if pk.startswith("WS#") and sk.startswith(("EXPNAME#", "RMNAME#")):
            name = sk.split(keys.SEP, 1)[1]
            if sk.startswith("EXPNAME#"):
                entity = meta(keys.experiment_pk(str(item["experiment_id"])))
            else:
                entity = meta(keys.registered_model_pk(str(item.get("model_id", ""))))
            if entity is None or entity.get("name") != name:
                problems.append(f"name guard {pk}/{sk} points at {entity and entity.get('name')}")
    guards = {(i["PK"], i["SK"]) for i in items}
    versions: dict[str, dict[int, dict]] = defaultdict(dict)
    for item in items:
        if item["PK"].startswith("RM#") and item["SK"].startswith(keys.MODEL_VERSION_PREFIX):
            versions[item["PK"]][int(item["version"])] = item
    for item in items:
        pk, sk = item["PK"], item["SK"]
        if sk != keys.META:
            continue
        workspace = item.get("workspace", "default")
        if pk.startswith("EXP#") and pk.count(keys.SEP) == 1:
            guard = keys.experiment_name_key(workspace, item["name"])
            if (guard["PK"], guard["SK"]) not in guards:
                problems.append(f"experiment {pk} ({item['name']}) has no name guard")
        if pk.startswith("RM#") and pk.count(keys.SEP) == 1:
            guard = keys.registered_model_name_key(workspace, item["name"])
            if (guard["PK"], guard["SK"]) not in guards:
                problems.append(f"model {pk} ({item['name']}) has no name guard")
            counter = int(item.get("next_version", 0))
            above = [v for v in versions[pk] if v > counter]
            if above:
                problems.append(f"model {pk}: versions {above} above next_version {counter}")
            for alias, version in (item.get("aliases") or {}).items():
                target = versions[pk].get(int(version))
                if (
                    target is None
                    or target.get("deleted")
                    or target.get("current_stage") in ("Deleted_Internal",)
                ):
                    problems.append(f"model {pk}: alias {alias} points at missing v{version}")
        run_meta = pk.startswith("RUN#") and pk.count(keys.SEP) == 1
        if run_meta and meta(keys.experiment_pk(str(item["experiment_id"]))) is None:
            problems.append(f"run {pk} in a missing experiment")
    used_chunks: set[tuple[str, str]] = set()
    for item in items:
        pk, sk = item["PK"], item["SK"]
        if pk.startswith("TRACE#") and sk.startswith(keys.TRACE_SPAN_PREFIX) and "chunks" in item:
            for index in range(1, int(item["chunks"])):
                chunk = keys.span_chunk_key(
                    pk.split(keys.SEP, 1)[1], item["span_id"], item["gen"], index
                )
                used_chunks.add((chunk["PK"], chunk["SK"]))
                if (chunk["PK"], chunk["SK"]) not in by_key:
                    problems.append(f"span {pk}/{sk} lacks chunk {index}")
    unused = [
        key
        for key in by_key
        if key[0].startswith("TRACE#")
        and key[1].startswith(keys.TRACE_SPAN_CHUNK_PREFIX)
        and key not in used_chunks
    ]
    return problems, len(items), len(unused)
