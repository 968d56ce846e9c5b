import math
import random

from mlflow_dynamodbstore.schema.encoding import (
    decode_float,
    decode_int,
    encode_float,
    encode_int,
    invert_hex,
)


def test_int_encoding_sorts_numerically_and_round_trips():
    values = [-(2**63), -5, -1, 0, 1, 9, 10, 1700000000000, 2**63 - 1]
    encoded = [encode_int(v) for v in values]
    assert encoded == sorted(encoded)
    assert [decode_int(e) for e in encoded] == values


def test_float_encoding_sorts_numerically_and_round_trips():
    rng = random.Random(7)
    values = [-math.inf, -1e300, -2.5, -1e-300, 0.0, 1e-300, 0.5, 1.0, 3e10, math.inf]
    values += [rng.uniform(-1e6, 1e6) for _ in range(200)]
    values.sort()
    encoded = [encode_float(v) for v in values]
    assert encoded == sorted(encoded)
    assert [decode_float(e) for e in encoded] == values
    assert encode_float(-0.0) == encode_float(0.0)
    assert encode_float(math.nan) > encode_float(math.inf)
    assert math.isnan(decode_float(encode_float(math.nan)))


def test_invert_hex_reverses_order():
    ids = sorted(f"{random.Random(i).getrandbits(128):032x}" for i in range(50))
    assert sorted(ids, key=invert_hex) == list(reversed(ids))
