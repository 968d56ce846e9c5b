"""Typed errors the domain layer catches instead of inspecting botocore error codes."""

from __future__ import annotations


class GatewayError(Exception):
    """Base class of gateway errors."""


class ConditionFailed(GatewayError):
    """A conditional write's ConditionExpression was false."""

    def __init__(
        self, message: str = "condition failed", item: dict | None = None, retried: bool = False
    ):
        super().__init__(message)
        self.item = item  # the current item, when DynamoDB returned it
        # botocore sent the request more than once: an earlier attempt may have been applied
        # and its answer lost (a timeout), so the condition may have failed on our own write
        self.retried = retried


class TransactionCancelled(GatewayError):
    """TransactWriteItems was cancelled; ``reasons`` has one code per action ("None" = ok)."""

    def __init__(self, reasons: list[str], message: str = "transaction cancelled"):
        super().__init__(f"{message}: {reasons}")
        self.reasons = reasons

    def failed_conditions(self) -> list[int]:
        """Indexes of the actions whose condition failed."""
        return [i for i, r in enumerate(self.reasons) if r == "ConditionalCheckFailed"]

    @property
    def is_condition_failure(self) -> bool:
        return bool(self.failed_conditions())

    @property
    def has_conflict(self) -> bool:
        """Another transaction was changing one of the items at the same time."""
        return "TransactionConflict" in self.reasons


class Unavailable(GatewayError):
    """DynamoDB could not serve the request for now, after botocore's retries: throttling,
    an internal error, a timeout or a dropped connection. Nothing says whether a write that
    timed out was applied. The same request may succeed later."""

    def __init__(self, operation: str, reason: str):
        super().__init__(f"{operation}: {reason}")
        self.operation = operation
        self.reason = reason


class RetriesExhausted(Unavailable):
    """Unprocessed batch items were still unprocessed after every retry."""

    def __init__(self, message: str, operation: str = "batch"):
        GatewayError.__init__(self, message)
        self.operation = operation
        self.reason = message


class InvalidRequest(GatewayError):
    """DynamoDB refused the request as invalid (a ValidationException, or a transaction
    action cancelled with "ValidationError"): a key too long or empty, an expression too
    big... Retrying cannot help. The message is DynamoDB's, which names limits and
    attributes but never carries item values."""

    def __init__(self, operation: str, message: str):
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.message = message


class ItemTooLarge(InvalidRequest):
    """The write would make an item larger than 400 KB, or the transaction larger than
    its 4 MB."""


class Conflict(GatewayError):
    """A write lost a race: what it was conditioned on changed after it was read. ``item``
    is the current item when the loser already knows it (it then need not be re-read)."""

    def __init__(self, item: dict | None = None, message: str = "lost a concurrent write"):
        super().__init__(message)
        self.item = item


class Contention(GatewayError):
    """An optimistic write lost its race on every attempt; nothing was written. Callers
    turn it into the MLflow error they document (TEMPORARILY_UNAVAILABLE, mostly)."""

    def __init__(self, what: str, attempts: int):
        super().__init__(f"{what}: lost to concurrent writers {attempts} times")
        self.what = what
        self.attempts = attempts
