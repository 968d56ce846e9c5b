"""Write units as AWS bills them, computed from what the gateway writes.

DynamoDB Local's ``ConsumedCapacity`` is not AWS's bill: it counts a transaction's items of
one size once and leaves out index writes, so a 10-key training step of 11 items reads
8 units there and costs ~32-42 on AWS. Benchmarks attach ``AwsWriteUnits.observe`` to a
``TableGateway``'s ``observers`` and report both figures.

The rules applied (AWS's documented rules for on-demand and provisioned writes):

- an item's size is the sum of its attribute names' and values' sizes (``item_size``);
- a write of the table costs ``ceil(size / 1 KB)`` units, at least 1, where ``size`` is the
  larger of the item before and after the write (a delete: the item deleted); inside
  ``TransactWriteItems`` twice that;
- each secondary index (global or local, every index projecting ALL attributes) whose key
  attributes the item carries before or after costs, in addition: 1 unit per KB of the
  entry written when the item stays in the index under the same key; a delete (old size)
  plus a put (new size) when the index key changes; a put when the item enters the index;
  a delete when it leaves. Index writes are taken as standard writes, also inside a
  transaction (the rule issue #20 set; AWS's documentation does not say otherwise). DynamoDB
  Local doubles them inside a transaction; ``index_factor_in_transactions=2`` gives that
  reading instead.

To know an item's size after an update and whether it carried an index key before, the
meter keeps a shadow of every item it sees written (puts in full; updates applied to the
shadow with the subset of UpdateExpression the package uses: ``SET`` with ``if_not_exists``,
``list_append`` and ``+``/``-``, ``REMOVE``, ``ADD``, ``DELETE``). What it approximates:

- an item written before the meter was attached is known only by what later writes set
  (its size is under-counted until a put of it is seen);
- an index entry's size is taken as the item's (ALL projection; AWS adds the index key's
  own bytes, ~100 bytes of overhead counted for storage, not in write units);
- refused writes (a failed condition, a cancelled transaction) are billed by AWS too but
  never reach an observer; ``ConditionCheck`` actions are reported apart as read units
  (2 per 4 KB of the checked item, the transactional read rule), not as write units;
- sizes of numbers follow AWS's rule (about one byte per two significant digits, plus one).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mlflow_dynamodbstore.gateway.partition_writes import processed_batch_writes

KB = 1024
Marshalled = dict[str, Any]  # an item as DynamoDB's wire format: {name: {"S": ...}, ...}


# ---- item size, AWS's rules ------------------------------------------------------------
def _number_size(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits
    significant = len(digits) or 1
    return math.ceil(significant / 2) + 1


def value_size(value: Marshalled) -> int:
    """Bytes of one marshalled attribute value (``{"S": "..."}``, ``{"M": {...}}``...)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(inner if isinstance(inner, bytes | bytearray) else str(inner).encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Marshalled) -> int:
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


# ---- the subset of UpdateExpression the package writes -----------------------------------
_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b")


def _split_top(text: str, separator: str = ",") -> list[str]:
    """``text`` split at ``separator`` outside parentheses."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _path(text: str, names: dict[str, str]) -> list[str | int]:
    """An attribute path (``#m.#k0``, ``#l[2]``) as its steps."""
    steps: list[str | int] = []
    for part in text.strip().split("."):
        match = re.fullmatch(r"([#\w-]+)((?:\[\d+\])*)", part.strip())
        if match is None:
            raise ValueError(f"unsupported path {text!r}")
        name = match.group(1)
        steps.append(names.get(name, name))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return steps


def _get(item: Marshalled, path: list[str | int]) -> Marshalled | None:
    current: Any = {"M": item}
    for step in path:
        if current is None:
            return None
        ((kind, inner),) = current.items()
        if isinstance(step, int):
            current = inner[step] if kind == "L" and step < len(inner) else None
        else:
            current = inner.get(step) if kind == "M" else None
    return current


def _set(item: Marshalled, path: list[str | int], value: Marshalled | None) -> None:
    """Set (``value``) or remove (None) the attribute at ``path``; a missing parent is
    ignored (DynamoDB would refuse the write, which then never reaches the meter)."""
    parent = item if len(path) == 1 else _container(_get(item, path[:-1]))
    if parent is None:
        return
    last = path[-1]
    if isinstance(parent, list):
        if not isinstance(last, int):
            return
        if value is None:
            if last < len(parent):
                del parent[last]
        elif last < len(parent):
            parent[last] = value
        else:
            parent.append(value)
    elif value is None:
        parent.pop(last, None)
    else:
        parent[last] = value


def _container(value: Marshalled | None) -> Any:
    if value is None:
        return None
    ((kind, inner),) = value.items()
    return inner if kind in ("M", "L") else None


def _add_numbers(a: Marshalled, b: Marshalled, sign: int = 1) -> Marshalled:
    return {"N": str(Decimal(a["N"]) + sign * Decimal(b["N"]))}


def _operand(text: str, item: Marshalled, names: dict, values: dict) -> Marshalled | None:
    text = text.strip()
    call = re.fullmatch(r"(if_not_exists|list_append)\s*\((.*)\)", text, re.S)
    if call:
        args = _split_top(call.group(2))
        if call.group(1) == "if_not_exists":
            found = _get(item, _path(args[0], names))
            return found if found is not None else _operand(args[1], item, names, values)
        first = _operand(args[0], item, names, values) or {"L": []}
        second = _operand(args[1], item, names, values) or {"L": []}
        return {"L": list(first["L"]) + list(second["L"])}
    if text.startswith(":"):
        return values[text]
    return _get(item, _path(text, names))


def _value(text: str, item: Marshalled, names: dict, values: dict) -> Marshalled | None:
    for sign, symbol in ((1, "+"), (-1, "-")):
        parts = _split_top(text, symbol)
        if len(parts) == 2:
            left = _operand(parts[0], item, names, values) or {"N": "0"}
            right = _operand(parts[1], item, names, values) or {"N": "0"}
            return _add_numbers(left, right, sign)
    return _operand(text, item, names, values)


def apply_update(item: Marshalled, expression: str, names: dict, values: dict) -> Marshalled:
    """``item`` (marshalled) after ``expression``; a new dict, ``item`` is left alone."""
    import copy

    result = copy.deepcopy(item)
    pieces = _CLAUSE.split(expression)
    for clause, body in zip(pieces[1::2], pieces[2::2], strict=True):
        for action in _split_top(body):
            if clause == "SET":
                target, source = action.split("=", 1)
                _set(result, _path(target, names), _value(source, result, names, values))
            elif clause == "REMOVE":
                _set(result, _path(action, names), None)
            else:  # ADD / DELETE: a number or a set
                target, operand = action.split(None, 1)
                path = _path(target, names)
                current, change = _get(result, path), values[operand.strip()]
                _set(result, path, _add_or_delete(clause, current, change))
    return result


def _add_or_delete(clause: str, current: Marshalled | None, change: Marshalled) -> Marshalled:
    ((kind, inner),) = change.items()
    if kind == "N":
        return _add_numbers(current or {"N": "0"}, change, 1 if clause == "ADD" else -1)
    existing = list((current or {kind: []})[kind])
    if clause == "ADD":
        return {kind: existing + [v for v in inner if v not in existing]}
    return {kind: [v for v in existing if v not in inner]}


# ---- the meter -----------------------------------------------------------------------
@dataclass
class WriteUnits:
    """Units of one span of writes: the table's, each index's, and condition checks'."""

    table: float = 0.0
    indexes: Counter = field(default_factory=Counter)
    condition_check_read_units: float = 0.0
    items: int = 0  # table items written

    @property
    def total(self) -> float:
        return self.table + sum(self.indexes.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "wcu": round(self.total, 1),
            "table": round(self.table, 1),
            "indexes": {k: round(v, 1) for k, v in sorted(self.indexes.items())},
            "items": self.items,
            "condition_check_rcu": round(self.condition_check_read_units, 1),
        }


class AwsWriteUnits:
    """An observer of a gateway's writes that adds up AWS-billed write units.

    ``index_keys`` names each secondary index's key attributes (the ones an item must
    carry to be in it): ``{"GSI1": ("GSI1PK", "GSI1SK"), "LSI1": ("LSI1SK",)}``.
    """

    def __init__(
        self,
        index_keys: dict[str, tuple[str, ...]],
        pk: str = "PK",
        sk: str = "SK",
        *,
        index_factor_in_transactions: int = 1,
    ):
        self._index_keys = index_keys
        self._index_tx_factor = index_factor_in_transactions
        self._pk, self._sk = pk, sk
        self._items: dict[tuple[str, str], Marshalled] = {}
        self._lock = threading.Lock()
        self.units = WriteUnits()

    def reset(self) -> None:
        """Start a new tally (the shadow of items stays: later writes still know them)."""
        with self._lock:
            self.units = WriteUnits()

    def snapshot(self) -> WriteUnits:
        with self._lock:
            u = self.units
            return WriteUnits(u.table, Counter(u.indexes), u.condition_check_read_units, u.items)

    # ---- the gateway observer ----------------------------------------------------------
    def observe(self, operation: str, request: dict, response: dict) -> None:
        with self._lock:
            if operation == "PutItem":
                self._put(request["Item"], transactional=False)
            elif operation == "UpdateItem":
                self._update(request, transactional=False)
            elif operation == "DeleteItem":
                self._delete(request["Key"], transactional=False)
            elif operation == "BatchWriteItem":
                for put, delete in processed_batch_writes(request, response):
                    if put is not None:
                        self._put(put, transactional=False)
                    else:
                        self._delete(delete, transactional=False)
            elif operation == "TransactWriteItems":
                for action in request["TransactItems"]:
                    if "Put" in action:
                        self._put(action["Put"]["Item"], transactional=True)
                    elif "Update" in action:
                        self._update(action["Update"], transactional=True)
                    elif "Delete" in action:
                        self._delete(action["Delete"]["Key"], transactional=True)
                    elif "ConditionCheck" in action:
                        checked = self._items.get(self._key(action["ConditionCheck"]["Key"]))
                        size = item_size(checked) if checked else 0
                        self.units.condition_check_read_units += 2 * max(
                            1, math.ceil(size / (4 * KB))
                        )

    # ---- the rules -----------------------------------------------------------------------
    def _key(self, attributes: Marshalled) -> tuple[str, str]:
        return (
            str(next(iter(attributes[self._pk].values()))),
            str(next(iter(attributes[self._sk].values()))),
        )

    def _index_key(self, item: Marshalled | None, attributes: tuple[str, ...]) -> tuple | None:
        if item is None or any(a not in item for a in attributes):
            return None
        return tuple(repr(item[a]) for a in attributes)

    def _charge(self, before: Marshalled | None, after: Marshalled | None, tx: bool) -> None:
        old = item_size(before) if before is not None else 0
        new = item_size(after) if after is not None else 0
        self.units.items += 1
        self.units.table += write_units(max(old, new)) * (2 if tx else 1)
        factor = self._index_tx_factor if tx else 1
        for index, attributes in self._index_keys.items():
            was, now = self._index_key(before, attributes), self._index_key(after, attributes)
            if was is None and now is None:
                continue
            if was is not None and now is not None and was == now:
                self.units.indexes[index] += write_units(max(old, new)) * factor
                continue
            if was is not None:
                self.units.indexes[index] += write_units(old) * factor
            if now is not None:
                self.units.indexes[index] += write_units(new) * factor

    def _put(self, item: Marshalled, transactional: bool) -> None:
        key = self._key(item)
        before = self._items.get(key)
        self._items[key] = item
        self._charge(before, item, transactional)

    def _update(self, update: dict, transactional: bool) -> None:
        key = self._key(update["Key"])
        known = self._items.get(key)
        # an item never seen: only its key is known (an update may also create it)
        after = apply_update(
            known if known is not None else dict(update["Key"]),
            update.get("UpdateExpression", ""),
            update.get("ExpressionAttributeNames") or {},
            update.get("ExpressionAttributeValues") or {},
        )
        self._items[key] = after
        self._charge(known, after, transactional)

    def _delete(self, raw_key: Marshalled, transactional: bool) -> None:
        before = self._items.pop(self._key(raw_key), None)
        self._charge(before or dict(raw_key), None, transactional)
