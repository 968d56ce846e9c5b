"""The AWS path: a CloudFormation stack owns the table."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from mlflow_dynamodbstore.schema.table import cloudformation_template

_logger = logging.getLogger(__name__)

_WAITER_CONFIG = {"Delay": 5, "MaxAttempts": 240}  # up to 20 minutes


def stack_name_for(table_name: str) -> str:
    return f"mlflow-dynamodbstore-{table_name}".replace("_", "-").replace(".", "-")[:128]


def _stack_status(cfn: Any, stack_name: str) -> str | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0]["StackStatus"] if stacks else None


def _wait_while_in_progress(cfn: Any, stack_name: str, status: str) -> str:
    if status.endswith("_IN_PROGRESS"):
        create = status.startswith("CREATE")
        waiter = "stack_create_complete" if create else "stack_update_complete"
        # A terminal failure state makes the waiter raise; the status read below reports it.
        with contextlib.suppress(WaiterError):
            cfn.get_waiter(waiter).wait(StackName=stack_name, WaiterConfig=_WAITER_CONFIG)
        status = _stack_status(cfn, stack_name) or "DELETED"
    return status


def ensure_stack(cfn: Any, table_name: str) -> str:
    """Create or update the stack owning ``table_name`` and wait until it is complete.
    Returns the final stack status. Concurrent callers converge on the same stack."""
    stack_name = stack_name_for(table_name)
    template = cloudformation_template(table_name)
    status = _stack_status(cfn, stack_name)
    if status is None:
        try:
            cfn.create_stack(
                StackName=stack_name,
                TemplateBody=template,
                Tags=[{"Key": "mlflow-dynamodbstore:table", "Value": table_name}],
            )
            _logger.info("Creating CloudFormation stack %s for table %s", stack_name, table_name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "AlreadyExistsException":
                raise
        status = _stack_status(cfn, stack_name) or "CREATE_IN_PROGRESS"
    status = _wait_while_in_progress(cfn, stack_name, status)
    if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
        status = _update_if_changed(cfn, stack_name, template, status)
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
        raise RuntimeError(
            f"CloudFormation stack {stack_name} for table {table_name} is in state {status}; "
            "see the stack events in the CloudFormation console"
        )
    return status


def _update_if_changed(cfn: Any, stack_name: str, template: str, status: str) -> str:
    current = cfn.get_template(StackName=stack_name)["TemplateBody"]
    if _normalise(current) == _normalise(template):
        return status
    try:
        cfn.update_stack(StackName=stack_name, TemplateBody=template)
    except ClientError as exc:
        message = str(exc)
        if "No updates are to be performed" in message:
            return status
        if "IN_PROGRESS" not in message:  # another server is already updating it
            raise
    return _wait_while_in_progress(cfn, stack_name, "UPDATE_IN_PROGRESS")


def _normalise(template: Any) -> Any:
    return json.loads(template) if isinstance(template, str) else template
