"""Driver errors become kgn-align's by type, once, in graph.py: what a long-running command
may retry (ServerUnavailable and its kinds) versus what is final, whatever the text says."""

from __future__ import annotations

import pytest
from neo4j import exceptions as neo4j_exc

from kgn_align.errors import (
    ConnectionBroken,
    CredentialsRefused,
    GraphError,
    QueryError,
    ServerUnavailable,
)
from kgn_align.graph import _translate


def _server_error(code: str, message: str) -> neo4j_exc.Neo4jError:
    return neo4j_exc.Neo4jError._hydrate_neo4j(code=code, message=message)


@pytest.mark.parametrize("exc,kind", [
    (neo4j_exc.ServiceUnavailable("Failed to read from defunct connection"), ServerUnavailable),
    (neo4j_exc.SessionExpired("gone"), ServerUnavailable),
    (neo4j_exc.ConnectionAcquisitionTimeoutError("no connection in time"), ServerUnavailable),
    (ConnectionResetError("reset by peer"), ServerUnavailable),
    (_server_error("Neo.TransientError.Database.DatabaseUnavailable", "stopping"), ServerUnavailable),
    (neo4j_exc.DriverError("Driver closed"), ConnectionBroken),
    (neo4j_exc.SessionError(None, "Session closed"), ConnectionBroken),
    (neo4j_exc.TransactionError(None, "Transaction closed"), ConnectionBroken),
    # ArcadeDB, on a connection left over from before its restart
    (_server_error("Neo.ClientError.Request.Invalid", "BEGIN not expected in state: AUTHENTICATION"),
     ConnectionBroken),
    (_server_error("Neo.ClientError.Security.Unauthorized", "bad credentials"), CredentialsRefused),
    (_server_error("Neo.ClientError.Security.AuthenticationRateLimit", "too many times in a row"),
     CredentialsRefused),
])
def test_transient_by_type(exc: Exception, kind: type) -> None:
    translated = _translate(exc, "worker_claim", "bolt://h:7687")
    assert type(translated) is kind
    assert isinstance(translated, ServerUnavailable)  # the one type the worker retries on


@pytest.mark.parametrize("exc", [
    # texts the worker used to match ("Connection", "closed", "defunct"): final all the same
    _server_error("Neo.ClientError.Statement.SyntaxError", "Invalid input 'Connection closed'"),
    _server_error("Neo.ClientError.Statement.ArgumentError", "defunct property"),
    _server_error("Neo.ClientError.Request.Invalid", "Could not unpack a parameter"),
    neo4j_exc.ResultConsumedError(None, "result closed"),
    ValueError("Connection string closed"),
])
def test_rejected_queries_are_final_whatever_their_text(exc: Exception) -> None:
    translated = _translate(exc, "worker_claim", "bolt://h:7687")
    assert isinstance(translated, GraphError) and not isinstance(translated, ServerUnavailable)
    if isinstance(exc, neo4j_exc.Neo4jError):
        assert isinstance(translated, QueryError)


@pytest.mark.parametrize("exc, kind", [
    (_server_error("Neo.ClientError.Statement.TypeError", "Expected a String, got: List{'a', 'b'}"), "value"),
    # ArcadeDB says it in the message of another code
    (_server_error("Neo.ClientError.Statement.SemanticError", "TypeError: toString() of a list"), "value"),
    (_server_error("Neo.ClientError.Statement.SyntaxError", "Invalid input 'x'"), "query"),
])
def test_a_value_of_the_wrong_type_is_told_from_a_wrong_query(exc: Exception, kind: str) -> None:
    """A list where a query reads text is the data's problem (preflight says which property
    to mend), told by the error's class, not by each caller matching the server's words."""
    from kgn_align.errors import ValueTypeError

    translated = _translate(exc, "preflight_side", "bolt://h:7687")
    assert isinstance(translated, QueryError)
    assert isinstance(translated, ValueTypeError) == (kind == "value")


def test_arcadedb_quoting_the_whole_query_is_said_in_one_line() -> None:
    """ArcadeDB's message for a failed query is its whole text, comments and all, over many
    lines (a refused backfill batch printed 25 lines of Cypher, among them the checkpoint's
    comment on its 'division by zero' guard): the query's name says which one instead."""
    exc = _server_error("Neo.ClientError.Statement.ArgumentError",
                        "Error executing Cypher command: // Checkpoint of one batch\n"
                        "OPTIONAL MATCH (run:KgnBackfillRun {id: $run_id})\nRETURN run.batches AS batches\n")
    said = str(_translate(exc, "backfill_run_checkpoint+writeback_merge", "bolt://h:7687"))
    assert said == ("query 'backfill_run_checkpoint+writeback_merge' failed on the server "
                    "(Neo.ClientError.Statement.ArgumentError): Error executing Cypher command "
                    "(the server names no cause)")


def test_a_login_lock_is_said_as_one() -> None:
    """Neo4j locks a user for a few seconds after three wrong passwords in a row; the right
    one given then was said as "query 'server_components' failed on the server
    (Neo.ClientError.Security.AuthenticationRateLimit): ..." (seen in a CI run)."""
    said = str(_translate(_server_error("Neo.ClientError.Security.AuthenticationRateLimit",
                                        "The client has provided incorrect authentication details too "
                                        "many times in a row."), "server_components", "bolt://h:7687"))
    assert said == ("bolt://h:7687: the server refuses logins for now: wrong passwords too many times in "
                    "a row (Neo4j locks the user for a few seconds after 3, by default): wait a few "
                    "seconds, and run again with the right one")
