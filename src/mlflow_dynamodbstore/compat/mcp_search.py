"""MLflow 3.17's filter parsers of the MCP registry searches, on every supported release.

Before 3.17, ``SearchMCPServerVersionUtils`` could not parse ``version >= '1.2.0'`` (sqlparse
reads ``version`` as a keyword; the 3.15/3.16 SQL store backticked it with a regex before
parsing), ``SearchMCPAccessEndpointUtils`` had the same trouble with ``server_name``, lists
were allowed for ``status`` only and the list parser dropped values with capitals (it was
written for run ids). The subclasses below add 3.17's fixes (copied from MLflow 3.17.2's
``mlflow/utils/search_utils.py``); from 3.17 on MLflow's own classes are used.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.utils import search_utils
from sqlparse.engine.grouping import group_comparison
from sqlparse.sql import Identifier, Token
from sqlparse.tokens import Token as TokenType

from mlflow_dynamodbstore.compat import mlflow_at_least

__all__ = ["SearchMCPAccessEndpointUtils", "SearchMCPServerUtils", "SearchMCPServerVersionUtils"]


class _Lists:
    """3.17's list handling: the keys a class names in LIST_SUPPORTED_KEYS, values kept."""

    LIST_SUPPORTED_KEYS: frozenset[str] = frozenset()

    @classmethod
    def validate_list_supported(cls, key: str) -> None:
        if key not in cls.LIST_SUPPORTED_KEYS:
            raise MlflowException(
                f"Only {sorted(cls.LIST_SUPPORTED_KEYS)} attributes support "
                "comparison with a list of quoted string values.",
                error_code=INVALID_PARAMETER_VALUE,
            )

    @classmethod
    def _parse_run_ids(cls, token):  # the pre-3.17 name of the list parser
        return cls._parse_list_from_sql_token(token)  # type: ignore[attr-defined]


def _read_as_name(statement, keyword: str) -> None:
    """Make sqlparse read ``keyword`` as a field name, not a SQL keyword (3.17's fix)."""
    for index, token in enumerate(statement.tokens):
        if token.ttype == TokenType.Keyword and token.value == keyword:
            statement.tokens[index] = Identifier([Token(TokenType.Name, token.value)])
    group_comparison(statement)


if mlflow_at_least("3.17"):
    SearchMCPServerUtils = search_utils.SearchMCPServerUtils
    SearchMCPServerVersionUtils = search_utils.SearchMCPServerVersionUtils
    SearchMCPAccessEndpointUtils = search_utils.SearchMCPAccessEndpointUtils
else:

    class SearchMCPServerUtils(_Lists, search_utils.SearchMCPServerUtils):  # type: ignore[no-redef]
        LIST_SUPPORTED_KEYS = frozenset({"status", "name"})

    class SearchMCPServerVersionUtils(_Lists, search_utils.SearchMCPServerVersionUtils):  # type: ignore[no-redef]
        LIST_SUPPORTED_KEYS = frozenset({"status"})

        @classmethod
        def _process_statement(cls, statement):
            _read_as_name(statement, "version")
            return super()._process_statement(statement)

    class SearchMCPAccessEndpointUtils(_Lists, search_utils.SearchMCPAccessEndpointUtils):  # type: ignore[no-redef]
        LIST_SUPPORTED_KEYS = frozenset({"server_name"})

        @classmethod
        def _process_statement(cls, statement):
            _read_as_name(statement, "server_name")
            return super()._process_statement(statement)
