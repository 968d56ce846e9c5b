"""Parse ``dynamodb://`` store URIs into connection settings.

Accepted forms:

* ``dynamodb://<region>/<table>`` - AWS, e.g. ``dynamodb://us-east-1/mlflow``
* ``dynamodb://<host>:<port>/<table>`` - a local or custom endpoint over http
* ``dynamodb://http(s)://<host>:<port>/<table>`` - an explicit endpoint URL

The one query parameter accepted is ``xray=true|false`` (the X-Ray span source,
docs/xray.md); any other query string or a fragment is refused.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

SCHEME = "dynamodb"

_VALID_FORMS = (
    "dynamodb://<region>/<table> (e.g. dynamodb://us-east-1/mlflow), "
    "dynamodb://<host>:<port>/<table> (e.g. dynamodb://localhost:8000/mlflow) or "
    "dynamodb://http(s)://<host>:<port>/<table>"
)
# AWS region names: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ...
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# DynamoDB table naming rules.
_TABLE_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:]+\]$")


@dataclass(frozen=True)
class DynamoDBUri:
    """Where the table lives. ``endpoint_url`` is None for AWS's regional endpoint."""

    table_name: str
    region: str | None = None
    endpoint_url: str | None = None
    # ``?xray=true|false``; None when the URI does not say (the environment decides).
    xray: bool | None = None

    @property
    def effective_endpoint_url(self) -> str | None:
        """The endpoint boto3 will talk to, including ``AWS_ENDPOINT_URL_DYNAMODB``."""
        return (
            self.endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
            or os.environ.get("AWS_ENDPOINT_URL")
        )

    @property
    def is_local(self) -> bool:
        """True when the endpoint is not AWS's own (DynamoDB Local, moto, a proxy)."""
        endpoint = self.effective_endpoint_url
        if not endpoint:
            return False
        host = urlsplit(endpoint).hostname or ""
        return not host.endswith(".amazonaws.com") and not host.endswith(".amazonaws.com.cn")


def _invalid(uri: str, why: str) -> MlflowException:
    return MlflowException(
        f"Invalid DynamoDB store URI '{uri}': {why}. Valid forms are {_VALID_FORMS}.",
        error_code=INVALID_PARAMETER_VALUE,
    )


def _check_table(uri: str, table: str) -> str:
    if not table:
        raise _invalid(uri, "the table name is missing")
    if not _TABLE_RE.match(table):
        raise _invalid(
            uri,
            f"'{table}' is not a valid DynamoDB table name "
            "(3-255 characters: letters, digits, '_', '-', '.')",
        )
    return table


def _check_port(uri: str, port: str) -> None:
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _invalid(uri, f"'{port}' is not a valid port")


def parse_dynamodb_uri(uri: str) -> DynamoDBUri:
    """Parse a ``dynamodb://`` URI; raise INVALID_PARAMETER_VALUE with the valid forms if bad."""
    if not isinstance(uri, str) or not uri.startswith(f"{SCHEME}://"):
        raise _invalid(str(uri), f"the scheme must be '{SCHEME}://'")
    rest = uri[len(SCHEME) + 3 :]
    if "#" in rest:
        raise _invalid(uri, "query strings and fragments are not supported")
    rest, _, query = rest.partition("?")
    rest = rest.rstrip("/")
    xray = _xray_option(uri, query)
    return dataclasses.replace(_parse_location(uri, rest), xray=xray)


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _xray_option(uri: str, query: str) -> bool | None:
    if not query:
        return None
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise _invalid(uri, "query strings other than ?xray=true|false are not supported") from None
    names = [name for name, _ in pairs]
    if names != ["xray"] or pairs[0][1].lower() not in _BOOLEANS:
        raise _invalid(uri, "query strings other than ?xray=true|false are not supported") from None
    return _BOOLEANS[pairs[0][1].lower()]


def _parse_location(uri: str, rest: str) -> DynamoDBUri:

    # dynamodb://http(s)://host:port/table
    explicit = re.match(r"^(https?)://([^/]+)/(.+)$", rest)
    if explicit:
        proto, netloc, table = explicit.groups()
        host, _, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "")
        if not host or not _HOST_RE.match(host):
            raise _invalid(uri, f"'{netloc}' is not a valid host[:port]")
        if port:
            _check_port(uri, port)
        return DynamoDBUri(table_name=_check_table(uri, table), endpoint_url=f"{proto}://{netloc}")
    if rest.startswith(("http:", "https:")):
        raise _invalid(uri, "an explicit endpoint needs a host and a table")

    authority, sep, table = rest.partition("/")
    if not sep or not authority:
        raise _invalid(uri, "expected '<region or host:port>/<table>'")
    if "/" in table:
        raise _invalid(uri, f"'{table}' is not a valid DynamoDB table name")
    table = _check_table(uri, table)

    if ":" in authority:
        host, _, port = authority.rpartition(":")
        if not host or not _HOST_RE.match(host):
            raise _invalid(uri, f"'{host}' is not a valid host")
        _check_port(uri, port)
        return DynamoDBUri(table_name=table, endpoint_url=f"http://{authority}")
    if _REGION_RE.match(authority):
        return DynamoDBUri(table_name=table, region=authority)
    raise _invalid(
        uri,
        f"'{authority}' is neither an AWS region (like us-east-1) nor a host:port endpoint",
    )
