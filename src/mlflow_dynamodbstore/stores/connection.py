"""One connection (client, gateway, counters) per store URI per process, shared by the
tracking, registry and workspace stores."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from mlflow_dynamodbstore.gateway import RequestStats, TableGateway
from mlflow_dynamodbstore.gateway.client import make_client
from mlflow_dynamodbstore.provisioning import ensure_table
from mlflow_dynamodbstore.uri import DynamoDBUri, parse_dynamodb_uri


@dataclass
class Connection:
    uri: DynamoDBUri
    client: Any
    gateway: TableGateway

    @property
    def stats(self) -> RequestStats:
        return self.gateway.stats


_connections: dict[str, Connection] = {}
_lock = threading.Lock()


def connect(store_uri: str, *, shared: bool = True) -> Connection:
    """Parse the URI, provision the table if needed and return a ready connection.
    ``shared=False`` gives a private connection with its own counters (benchmarks, tests)."""
    uri = parse_dynamodb_uri(store_uri)
    if shared:
        with _lock:
            if store_uri in _connections:
                return _connections[store_uri]
    client = make_client(uri)
    ensure_table(uri, client)
    conn = Connection(uri=uri, client=client, gateway=TableGateway(client, uri.table_name))
    if shared:
        with _lock:
            conn = _connections.setdefault(store_uri, conn)
    return conn
