"""``sum_gateway_trace_cost``: what AI gateway traces cost in a time range, optionally of
one workspace, endpoint or auth username (MLflow's budget policies refresh their spend with
it, mlflow/gateway/budget.py). The SQL store sums ``trace_info.total_cost`` over traces
carrying the gateway endpoint metadata, timestamp in [start, end); here the traces' cost
items are read by time (docs/ai-gateway.md, "Budget spend")."""

from __future__ import annotations

from mlflow_dynamodbstore.repositories.traces.gateway_cost import GatewayCostRepository


class GatewayCostOps:
    def sum_gateway_trace_cost(
        self,
        start_time_ms: int,
        end_time_ms: int,
        workspace: str | None = None,
        endpoint_id: str | None = None,
        username: str | None = None,
    ) -> float:
        # Every workspace's costs: the caller (the budget tracker) names the workspace it
        # wants, or none for a policy spanning all of them, as the SQL store's query does.
        costs = GatewayCostRepository(self._conn.gateway)
        total = 0.0
        for item in costs.list_range(int(start_time_ms), int(end_time_ms)):
            if workspace is not None and item.get("workspace") != workspace:
                continue
            if endpoint_id is not None and item.get("endpoint_id") != endpoint_id:
                continue
            if username is not None and item.get("username") != username:
                continue
            if (cost := item.get("total_cost")) is not None:
                total += float(cost)
        return total
