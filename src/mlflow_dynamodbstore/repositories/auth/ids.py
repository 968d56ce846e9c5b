"""Ids from ``CONFIG`` counters, claimed inside the transaction that uses them.

MLflow's auth ids (users, roles, role permissions, assignments) are small integers that the
REST API and the UI show and take back, so they come from counters as the SQL store's
autoincrement columns do: 1, 2, 3... and the same on every server. A claim is the counter's
update conditioned on the value read, in the same TransactWriteItems as the items that use
the id, so a write that fails (a taken name, say) uses up no id, and two servers racing for
one id cannot both win: the loser re-reads the counters and tries again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.gateway import TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import Conflict, Contention
from mlflow_dynamodbstore.gateway.optimistic import Lost, optimistic
from mlflow_dynamodbstore.schema import keys

USER = "AUTH_USER"
ROLE = "AUTH_ROLE"
ROLE_PERMISSION = "AUTH_ROLE_PERMISSION"
ASSIGNMENT = "AUTH_ASSIGNMENT"
# Auth writes are admin actions, except the creator's MANAGE grant on each new experiment or
# model: creators racing on one counter lose at most N - 1 times, as experiment ids do.
_ATTEMPTS = 30


class IdsBusy(Exception):
    """Concurrent writers kept taking the ids this write tried to claim."""


class _Taken(Conflict):
    """A counter moved on between the read and the transaction."""


def transact_with_ids(
    gateway: TableGateway,
    counters: Sequence[str],
    build: Callable[[dict[str, int]], list[dict]],
    *,
    what: str,
) -> dict[str, int]:
    """Claim the next id of each counter and write ``build(ids)`` with the claims in one
    transaction; return the ids. A cancellation caused by another action than a claim is
    re-raised as is (its ``reasons`` index ``build``'s actions first)."""
    if not counters:
        gateway.transact_write(build({}))
        return {}
    counter_keys = {name: keys.counter_key(name) for name in counters}

    def read(_lost: Lost | None) -> dict[str, int | None]:
        found = {
            item["SK"]: int(item["value"])
            for item in gateway.batch_get(counter_keys.values(), consistent=True)
        }
        return {name: found.get(key["SK"]) for name, key in counter_keys.items()}

    def write(current: dict[str, int | None]) -> dict[str, int]:
        ids = {name: (value or 0) + 1 for name, value in current.items()}
        actions = build(ids)
        claims = [
            gateway.tx_update(
                counter_keys[name],
                "SET #u_value = :u_next",
                names={"#u_value": "value"},
                values={":u_next": ids[name]},
                condition=Attr("PK").not_exists()
                if current[name] is None
                else Attr("value").eq(current[name]),
            )
            for name in counters
        ]
        try:
            gateway.transact_write([*actions, *claims])
        except TransactionCancelled as exc:
            claim_reasons = exc.reasons[len(actions) :]
            if any(r in ("ConditionalCheckFailed", "TransactionConflict") for r in claim_reasons):
                raise _Taken() from None
            raise
        return ids

    try:
        return optimistic(read, write, what=what, attempts=_ATTEMPTS)
    except Contention:
        raise IdsBusy(what) from None
