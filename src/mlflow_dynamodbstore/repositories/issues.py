"""Issues: ``ISS#<id>`` / ``META`` items, listed in the SQL store's search order (severity,
creation time, id; all descending) per experiment (GSI1) and per workspace (GSI2).

``root_causes`` and ``categories`` are kept as the SQL store keeps them (JSON text, absent
when empty), so they round-trip exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities.issue import Issue, IssueSeverity, IssueStatus

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.labeling.pages import Page, read_page
from mlflow_dynamodbstore.schema import indexes, labeling_keys

Item = dict[str, Any]


class IssueMissing(Exception):
    pass


def severity_rank(severity: str | None) -> int:
    """IssueSeverity's own rank; -1 for none (the SQL store's ``else_=-1``)."""
    return IssueSeverity(severity)._rank if severity else -1


class IssueRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def get(self, issue_id: str) -> Item | None:
        if not isinstance(issue_id, str) or not 0 < len(issue_id.encode()) <= 1000:
            return None
        return self.gateway.get_item(labeling_keys.issue_key(issue_id))

    def create(self, item: Item) -> Item:
        full = {
            **labeling_keys.issue_key(item["issue_id"]),
            **self._list_keys(item),
            **{k: v for k, v in item.items() if v is not None},
        }
        self.gateway.put_item(full, condition=Attr("PK").not_exists())
        return full

    @staticmethod
    def _list_keys(item: Item) -> Item:
        return labeling_keys.issue_list_keys(
            str(item["experiment_id"]),
            item["workspace"],
            severity_rank(item.get("severity")),
            int(item["created_timestamp"]),
            item["issue_id"],
        )

    def update(self, current: Item, fields: Item) -> Item:
        """SET ``fields``; the listing sort keys move with a new severity."""
        new = {**current, **fields}
        expression, names, values = set_expression({**fields, **self._list_keys(new)})
        try:
            attrs = self.gateway.update_item(
                labeling_keys.issue_key(current["issue_id"]),
                expression,
                names=names,
                values=values,
                condition=Attr("PK").exists(),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise IssueMissing(current["issue_id"]) from None
        assert attrs is not None
        return attrs

    # ---- the traces that reference an issue (for trace counts) ------------------------
    def note_trace(self, issue_id: str, trace_id: str) -> None:
        """Remember that ``trace_id`` now has an ``issue`` assessment naming ``issue_id``,
        if that issue exists in the workspace (one transaction: the check and the hint)."""
        if self.get_key_usable(issue_id) and trace_id:
            hint = {**labeling_keys.issue_trace_ref_key(issue_id, trace_id), "trace_id": trace_id}
            try:
                self.gateway.transact_write(
                    [
                        self.gateway.tx_check(
                            labeling_keys.issue_key(issue_id), Attr("PK").exists()
                        ),
                        self.gateway.tx_put(hint),
                    ]
                )
            except TransactionCancelled as exc:
                if not exc.is_condition_failure:
                    raise

    @staticmethod
    def get_key_usable(issue_id: Any) -> bool:
        return isinstance(issue_id, str) and 0 < len(issue_id.encode()) <= 1000

    def referencing_traces(self, issue_id: str) -> list[str]:
        """The traces hinted to reference the issue (one Query per MB of hints)."""
        condition = Key("PK").eq(labeling_keys.issue_key(issue_id)["PK"]) & Key("SK").begins_with(
            labeling_keys.ISSUE_TRACE_PREFIX
        )
        return [i["trace_id"] for i in self.gateway.query(condition, consistent=True)]

    def list_all(
        self, *, experiment_id: str | None, workspace: str, keep: Callable[[Item], bool] | None
    ) -> list[Item]:
        """Every issue of the listing that ``keep`` accepts, in index order."""
        if experiment_id is not None:
            pattern = indexes.ISSUES_BY_EXPERIMENT
            pk = labeling_keys.issues_gsi1pk(experiment_id)
        else:
            pattern = indexes.ISSUES_BY_WORKSPACE
            pk = labeling_keys.issues_gsi2pk(workspace)
        items = self.gateway.query(pattern.pk_eq(pk), index=pattern.index, forward=False)
        return [i for i in items if keep is None or keep(i)]

    def search_page(
        self,
        *,
        experiment_id: str | None,
        workspace: str,
        max_results: int,
        page_token: str | None,
        keep: Callable[[Item], bool] | None,
    ) -> Page:
        if experiment_id is not None:
            pattern = indexes.ISSUES_BY_EXPERIMENT
            pk = labeling_keys.issues_gsi1pk(experiment_id)
        else:
            pattern = indexes.ISSUES_BY_WORKSPACE
            pk = labeling_keys.issues_gsi2pk(workspace)
        return read_page(
            self.gateway,
            pattern,
            pk,
            max_results=max_results,
            page_token=page_token,
            forward=False,
            keep=keep,
        )


def to_issue(item: Item, trace_count: int | None = None) -> Issue:
    root_causes, categories = item.get("root_causes"), item.get("categories")
    return Issue(
        issue_id=item["issue_id"],
        experiment_id=str(item["experiment_id"]),
        name=item["name"],
        description=item["description"],
        status=IssueStatus(item["status"]),
        severity=IssueSeverity(item["severity"]) if item.get("severity") else None,
        root_causes=json.loads(root_causes) if root_causes else None,
        source_run_id=item.get("source_run_id"),
        categories=json.loads(categories) if categories else None,
        created_timestamp=int(item["created_timestamp"]),
        last_updated_timestamp=int(item["last_updated_timestamp"]),
        created_by=item.get("created_by"),
        trace_count=trace_count,
    )
