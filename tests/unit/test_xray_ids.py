"""Trace id mapping MLflow <-> OTel <-> X-Ray, both ways, exact."""

from __future__ import annotations

import pytest

from mlflow_dynamodbstore.xray import ids

HEX = "5f84c7a5" + "0123456789abcdef01234567"


def test_round_trip_is_exact():
    assert ids.xray_from_mlflow(f"tr-{HEX}") == "1-5f84c7a5-0123456789abcdef01234567"
    assert ids.mlflow_from_xray("1-5f84c7a5-0123456789abcdef01234567") == f"tr-{HEX}"
    assert ids.otel_hex_from_mlflow(f"tr-{HEX}") == HEX
    assert ids.mlflow_from_otel_hex(HEX) == f"tr-{HEX}"
    assert ids.otel_hex_from_xray(ids.xray_from_otel_hex(HEX)) == HEX
    assert ids.xray_epoch_seconds("1-5f84c7a5-0123456789abcdef01234567") == 0x5F84C7A5


@pytest.mark.parametrize(
    "bad",
    [
        "tr-" + "0" * 32,  # the invalid all-zero OTel id
        "tr-" + HEX.upper(),  # MLflow writes lowercase hex
        "tr-" + HEX[:-1],
        "tr-" + HEX + "0",
        HEX,  # no prefix
        "trace:/catalog.schema/" + HEX,  # a UC-located trace id
        "tr-" + "g" * 32,
        None,
    ],
)
def test_ids_without_an_xray_counterpart(bad):
    with pytest.raises(ids.UnmappableId):
        ids.xray_from_mlflow(bad)


@pytest.mark.parametrize(
    "bad",
    [
        "2-5f84c7a5-0123456789abcdef01234567",  # version 2 does not exist
        "1-5f84c7a5-0123456789abcdef0123456",  # 23 hex
        "1-5f84c7a-0123456789abcdef012345678",
        "1-5F84C7A5-0123456789ABCDEF01234567",
        "1-00000000-000000000000000000000000",
        "",
    ],
)
def test_xray_ids_rejected(bad):
    with pytest.raises(ids.UnmappableId):
        ids.mlflow_from_xray(bad)


def test_xray_accepts_only_ids_of_the_last_30_days():
    now = 1_800_000_000
    fresh = f"tr-{now - 3600:08x}0123456789abcdef01234567"
    expired = f"tr-{now - 31 * 86400:08x}0123456789abcdef01234567"
    future = f"tr-{now + 3600:08x}0123456789abcdef01234567"
    random_id = "tr-ffffffff0123456789abcdef01234567"  # a random OTel id, not X-Ray made
    assert ids.xray_would_accept(fresh, now)
    assert not ids.xray_would_accept(expired, now)
    assert not ids.xray_would_accept(future, now)
    assert not ids.xray_would_accept(random_id, now)
    assert not ids.xray_would_accept("tr-1234", now)


def test_span_ids():
    assert ids.is_span_id("a000000000000001")
    assert not ids.is_span_id("0000000000000000")
    assert not ids.is_span_id("A000000000000001")
    assert not ids.is_span_id("a00000000000001")


def test_reads_skip_ids_x_ray_cannot_still_hold():
    now = 1_800_000_000
    assert ids.xray_may_hold(f"tr-{now - 30 * 86400:08x}0123456789abcdef01234567", now)
    assert not ids.xray_may_hold(f"tr-{now - 32 * 86400:08x}0123456789abcdef01234567", now)
    assert not ids.xray_may_hold("tr-ffffffff0123456789abcdef01234567", now)
