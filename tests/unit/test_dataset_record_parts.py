"""How a dataset record's compressed body is laid out: in its head item while both fit,
else in part items of one generation whose keys sort in body order; the 10 MB limit."""

from __future__ import annotations

import base64
import os
import zlib

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.dbmodels.models import SqlEvaluationDatasetRecord

from mlflow_dynamodbstore.gateway.limits import MAX_ITEM_BYTES
from mlflow_dynamodbstore.repositories.datasets import codec, parts

DATASET = "d-" + "0" * 32


def _record(outputs: str):
    record_id = codec.record_id_for(DATASET, "h")
    return codec.new_sql_record(
        DATASET, record_id, {"inputs": {"q": 1}, "outputs": outputs}, 5, "h"
    )


def _body(head: dict, part_items: list[dict]) -> bytes:
    if not part_items:
        return bytes(head["body"])
    by_sk = {p["SK"]: p["z"] for p in part_items}
    return b"".join(by_sk[k["SK"]] for k in parts.part_keys(head))


def test_a_small_record_keeps_its_body_in_its_head():
    head, part_items = codec.record_items(_record("short"), "default", 1)
    assert part_items == [] and "gen" not in head and "parts" not in head
    assert parts.part_keys(head) == []
    assert codec.to_record(head, _body(head, part_items)).outputs == "short"


def test_a_body_too_big_for_the_head_goes_whole_into_parts_of_one_generation():
    text = os.urandom(1_200_000).hex()  # hex of random bytes: ~1.2 MB compressed
    head, part_items = codec.record_items(_record(text), "ws", 3)
    assert "body" not in head and head["version"] == 3
    assert head["parts"] == len(part_items) >= 3
    assert all(len(p["z"]) <= parts.PART_BYTES for p in part_items)
    assert all(parts.approximate_size(p) < MAX_ITEM_BYTES for p in part_items)
    assert {p["workspace"] for p in part_items} == {"ws"}
    # the part keys name the head's generation and sort in body order
    keys = [p["SK"] for p in part_items]
    assert keys == sorted(keys) == [k["SK"] for k in parts.part_keys(head)]
    assert all(head["gen"] in k for k in keys)
    assert codec.to_record(head, _body(head, part_items)).outputs == text
    # every write draws a new generation: a rewrite never reuses the keys of the parts it replaces
    again, _ = codec.record_items(_record(text), "ws", 4)
    assert again["gen"] != head["gen"]


def test_the_threshold_is_the_item_size():
    head = {"PK": "EDS#x", "SK": "R#y", "workspace": "default", "version": 1}
    room = MAX_ITEM_BYTES - parts.approximate_size(head) - len("body") - 2 * 1024
    assert parts.fits_inline(head, b"x" * room)
    assert not parts.fits_inline(head, b"x" * (room + 1))


def test_a_record_over_10_mb_compressed_is_refused_naming_the_limit():
    text = base64.b64encode(os.urandom(parts.MAX_RECORD_BYTES + 200_000)).decode()
    assert len(zlib.compress(text.encode(), 6)) > parts.MAX_RECORD_BYTES
    with pytest.raises(MlflowException, match="at most 10 MB compressed") as info:
        codec.record_items(_record(text), "default", 1)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_record_ids_keep_the_sql_shape():
    record_id = codec.record_id_for(DATASET, "h")
    assert record_id.startswith(SqlEvaluationDatasetRecord.RECORD_ID_PREFIX)
    assert len(record_id) == len("dr-") + 32
