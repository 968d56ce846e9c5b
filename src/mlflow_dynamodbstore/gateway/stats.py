"""Per-operation counters of requests and consumed capacity, read by tests and benchmarks."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


@dataclass
class OperationStats:
    requests: int = 0
    read_capacity: float = 0.0
    write_capacity: float = 0.0


@dataclass
class RequestStats:
    """Thread-safe tallies keyed by DynamoDB operation name (``Query``, ``BatchWriteItem``...)."""

    _ops: dict[str, OperationStats] = field(default_factory=lambda: defaultdict(OperationStats))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, consumed: dict | list | None) -> None:
        units = _capacity_units(consumed)
        rcu, wcu = (units, 0.0) if operation in READ_OPERATIONS else (0.0, units)
        with self._lock:
            op = self._ops[operation]
            op.requests += 1
            op.read_capacity += rcu
            op.write_capacity += wcu

    def snapshot(self) -> dict[str, OperationStats]:
        with self._lock:
            return {k: OperationStats(**vars(v)) for k, v in self._ops.items()}

    def reset(self) -> None:
        with self._lock:
            self._ops.clear()

    @property
    def total_requests(self) -> int:
        with self._lock:
            return sum(op.requests for op in self._ops.values())

    @property
    def read_capacity(self) -> float:
        with self._lock:
            return sum(op.read_capacity for op in self._ops.values())

    @property
    def write_capacity(self) -> float:
        with self._lock:
            return sum(op.write_capacity for op in self._ops.values())

    def requests(self, operation: str) -> int:
        with self._lock:
            return self._ops[operation].requests if operation in self._ops else 0


def _capacity_units(consumed: dict | list | None) -> float:
    """Sum ConsumedCapacity.CapacityUnits (a dict, or a list for batch/transaction calls)."""
    if not consumed:
        return 0.0
    entries = consumed if isinstance(consumed, list) else [consumed]
    return sum(float(entry.get("CapacityUnits", 0.0)) for entry in entries)
