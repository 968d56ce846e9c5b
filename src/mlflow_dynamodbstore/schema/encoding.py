"""Order-preserving string encodings for values used inside sort keys.

All index keys are strings, so numbers are encoded so that lexicographic order equals
numeric order.
"""

from __future__ import annotations

import math
import struct

_INT_OFFSET = 1 << 63
_INT_WIDTH = 20  # digits of 2**64


def encode_int(value: int) -> str:
    """Encode a signed 64-bit int as a fixed-width string that sorts numerically."""
    shifted = int(value) + _INT_OFFSET
    if not 0 <= shifted < (1 << 64):
        raise ValueError(f"integer {value} does not fit in 64 bits")
    return f"{shifted:0{_INT_WIDTH}d}"


def decode_int(text: str) -> int:
    return int(text) - _INT_OFFSET


def encode_float(value: float) -> str:
    """Encode a double as 16 hex digits that sort numerically.

    -inf < negatives < -0.0 = 0.0 < positives < +inf < NaN (NaN is canonicalised).
    """
    value = float(value)
    if math.isnan(value):
        return "fff8000000000000"
    if value == 0.0:
        value = 0.0  # -0.0 and 0.0 compare equal, so they share one key
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits & (1 << 63) else bits | (1 << 63)
    return f"{bits:016x}"


def decode_float(text: str) -> float:
    bits = int(text, 16)
    bits = bits & ~(1 << 63) if bits & (1 << 63) else bits ^ 0xFFFFFFFFFFFFFFFF
    (value,) = struct.unpack(">d", struct.pack(">Q", bits))
    return value


def invert_hex(text: str) -> str:
    """Complement every hex digit, so a descending index walk yields ids ascending."""
    return text.translate(str.maketrans("0123456789abcdef", "fedcba9876543210"))
