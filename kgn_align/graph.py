"""All talk with the graph server: one driver per process, managed transactions with
retries, database selection, server detection and error translation.

Every statement comes from :mod:`kgn_align.cypher` by name; callers pass identifiers for
the template slots and values as parameters, nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import urlsplit

import neo4j
from neo4j import exceptions as neo4j_exc

from kgn_align import cypher
from kgn_align.config import ConnectionConfig
from kgn_align.dialect import Dialect, from_server
from kgn_align.errors import (
    ConnectionBroken,
    ConstraintViolation,
    CredentialsRefused,
    GraphError,
    QueryError,
    ServerUnavailable,
    ValueTypeError,
)
from kgn_align.interrupts import interrupt_requested

log = logging.getLogger(__name__)

Identifiers = Mapping[str, str | Sequence[str]]
#: Transaction metadata on every kgn-align transaction (``app`` is what change capture reads).
TX_METADATA = {"app": "kgn-align"}
Row = dict[str, Any]


def _broken_connection(exc: Exception) -> bool:
    """The driver's connection, not the query, failed: the driver or session was closed
    under it (``DriverError("Driver closed")``, ``SessionError``, ``TransactionError``), or
    the server says the conversation is out of step (Bolt ``Neo.ClientError.Request.Invalid``
    "BEGIN not expected in state AUTHENTICATION", which ArcadeDB answers on a connection
    left over from before its restart)."""
    if isinstance(exc, (neo4j_exc.SessionError, neo4j_exc.TransactionError)) \
            or type(exc) is neo4j_exc.DriverError:
        return True
    return (isinstance(exc, neo4j_exc.Neo4jError)
            and getattr(exc, "code", None) == "Neo.ClientError.Request.Invalid"
            and "not expected in state" in (getattr(exc, "message", None) or ""))


E = TypeVar("E", bound=BaseException)


def _in_chain(exc: BaseException, kind: type[E]) -> E | None:
    """The first exception of type ``kind`` in ``exc``'s chain of causes and contexts."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


#: how ArcadeDB's Bolt server begins the message of a query it failed, the query's text after it
ARCADEDB_QUOTED = "Error executing Cypher command:"


def _translate(exc: Exception, query: str, uri: str, database: str | None = None) -> GraphError:
    """Driver exception -> ours. Never includes parameters or credentials.

    Decides once, by the driver's types (and Bolt codes), what a caller may retry: every
    :class:`ServerUnavailable` (away, starting or stopping, refusing logins, a broken
    connection); every other :class:`GraphError` is final."""
    if getattr(exc, "code", None) == "Neo.ClientError.Security.AuthenticationRateLimit":
        return CredentialsRefused(f"{uri}: the server refuses logins for now: wrong passwords too many times "
                                  "in a row (Neo4j locks the user for a few seconds after 3, by default): "
                                  "wait a few seconds, and run again with the right one")
    if isinstance(exc, neo4j_exc.AuthError):
        return CredentialsRefused(f"{uri}: the server refused the credentials (check NEO4J_USER "
                                  "and NEO4J_PASSWORD, or a user:password written into NEO4J_URI, which "
                                  "wins; a server that is stopping refuses too)")
    tls = _in_chain(exc, ssl.SSLError)
    if tls is not None:  # the server answered, or a CA file is unusable: a setup problem
        reason = getattr(tls, "reason", None) or getattr(tls, "strerror", None) or type(tls).__name__
        return ServerUnavailable(
            f"{uri}: the TLS handshake failed ({reason}): check that the server serves TLS on "
            "this port (bolt+s://, bolt+ssc:// and a CA file need it; a plain server wants bolt://) "
            "and that the CA file (--ca-file, NEO4J_CA_FILE), if given, is the PEM certificate "
            "that signed the server's")
    unresolved = _in_chain(exc, socket.gaierror)
    if unresolved is not None:  # a misspelt host: not a server that is down
        host = urlsplit(uri).hostname or uri
        return ServerUnavailable(f"{uri}: the host name {host!r} does not resolve (DNS: "
                                 f"{unresolved.strerror or unresolved}): check the host in NEO4J_URI (--uri)")
    if isinstance(exc, (neo4j_exc.ServiceUnavailable, neo4j_exc.SessionExpired,
                        neo4j_exc.ConnectionPoolError, OSError)):
        return ServerUnavailable(f"{uri}: no graph server answers ({type(exc).__name__})")
    if _broken_connection(exc):
        return ConnectionBroken(f"{uri}: the connection broke under query {query!r} "
                                f"({type(exc).__name__}: {getattr(exc, 'message', None) or exc})")
    if isinstance(exc, neo4j_exc.TransientError):
        # e.g. Neo4j's DatabaseUnavailable while it starts or shuts down, after the driver's
        # own retries ran out: the server is there but cannot serve now
        return ServerUnavailable(f"{uri}: the database cannot serve requests now "
                                 f"({getattr(exc, 'code', None) or type(exc).__name__})")
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, neo4j_exc.ConstraintError):
        return ConstraintViolation(f"query {query!r} broke a uniqueness constraint: {message}")
    if isinstance(exc, neo4j_exc.Neo4jError):
        code = getattr(exc, "code", None) or "unknown"
        if code == "Neo.ClientError.Database.DatabaseNotFound":  # a setting, not a query, is wrong
            return QueryError(f"{uri}: the server has no database {database!r} (chosen by NEO4J_DATABASE, "
                              "--database or the [connection] table's database; leave it out for the "
                              "server's default)")
        if message.startswith(ARCADEDB_QUOTED) and "\n" in message:
            # ArcadeDB quotes the whole query (comments and all) and names no cause: the
            # query's name (cypher/<name>.cypher) says which one, in one line
            message = f"{ARCADEDB_QUOTED.rstrip(':')} (the server names no cause)"
        text = f"query {query!r} failed on the server ({code}): {message}"
        if code.endswith("Statement.TypeError") or "TypeError" in message or "Type mismatch" in message:
            return ValueTypeError(text)
        return QueryError(text)
    return GraphError(f"query {query!r} failed: {type(exc).__name__}: {exc}")


def _interrupted(exc: BaseException) -> bool:
    """True when a KeyboardInterrupt is in ``exc``'s chain of causes and contexts."""
    return _in_chain(exc, KeyboardInterrupt) is not None


@dataclass(frozen=True)
class QueryTiming:
    """One query's time. ``wall_s``: what the caller waited; ``client_s``: CPU this thread
    spent meanwhile (sending, receiving and decoding records); ``first_record_s``: the
    server's own "result available after" (ArcadeDB streams lazily, so most of its work
    falls after it). ``wall_s - client_s`` is the server working plus the wire."""

    wall_s: float
    client_s: float
    first_record_s: float
    rows: int


class Graph:
    """A connection to one graph database. Create one per process and share it."""

    def __init__(self, connection: ConnectionConfig, *, driver: neo4j.Driver | None = None,
                 credentials_from: str | None = None) -> None:
        """``credentials_from``: where the user and password came from, in words ("the
        [connection] table of align.toml"), for the error when the server refuses them."""
        if connection.uri is None:
            raise GraphError("no server address: set NEO4J_URI or start a server "
                             "with 'kgn-align server start'")
        self.connection = connection
        self.uri = connection.uri
        self.database = connection.database
        self.credentials_from = credentials_from
        self._owns_driver = driver is None
        self._driver = driver or self._new_driver()
        self._once: set[str] = set()
        #: how long a managed transaction retries transient failures now (None: the
        #: connection's ``max_retry_time``); see :meth:`retrying_for`
        self._retry_time: float | None = None

    def _new_driver(self) -> neo4j.Driver:
        connection = self.connection
        auth = None
        if connection.password is not None:
            auth = (connection.user, connection.password.get_secret_value())
        tls: dict[str, Any] = {}
        if connection.ca_file is not None:
            tls = {"encrypted": True,
                   "trusted_certificates": neo4j.TrustCustomCAs(connection.ca_file)}
        # Neo4j warns of property keys and labels that no node has yet: on a fresh graph that
        # is every kgn-align property (kgnHash before the first sampling), and the driver
        # would log each at WARNING. Deprecations and performance hints stay on.
        return neo4j.GraphDatabase.driver(
            connection.uri, auth=auth, max_transaction_retry_time=connection.max_retry_time, **tls,
            user_agent="kgn-align",
            notifications_disabled_classifications=[
                neo4j.NotificationDisabledClassification.UNRECOGNIZED])

    def _translated(self, exc: Exception, query: str) -> GraphError:
        """:func:`_translate` for this connection: a login refused when no password was
        given says that, not only that the credentials were refused; one refused with a
        password names where it came from (:attr:`credentials_from`)."""
        error = _translate(exc, query, self.uri, self.connection.database)
        if isinstance(error, CredentialsRefused) and self.connection.password is None:
            return CredentialsRefused(f"{self.uri}: the server refused to connect without a password: "
                                      "none was given (set NEO4J_PASSWORD, --password, or password "
                                      "in the [connection] table)")
        if isinstance(exc, neo4j_exc.AuthError) and self.credentials_from is not None:
            return CredentialsRefused(f"{self.uri}: the server refused user {self.connection.user!r} with "
                                      f"the password from {self.credentials_from} (a server that is "
                                      "stopping refuses too)")
        return error

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        self._driver.close()

    def reset(self) -> None:
        """Drop every connection and start a new driver. After an interrupt a connection can
        be left mid-message with its transaction open on the server, holding locks: closing
        it makes the server abort that transaction, so clean-up queries do not wait on it."""
        if not self._owns_driver:
            return
        try:
            self._driver.close()
        except Exception:  # a broken pool is dropped either way
            log.debug("closing the driver failed", exc_info=True)
        self._driver = self._new_driver()

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def verify(self, timeout: float = 0.0) -> None:
        """Raise :class:`ServerUnavailable` unless the server answers (waits up to ``timeout``
        seconds for one that is starting; a host name that does not resolve is said at once)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._driver.verify_connectivity()
                return
            except neo4j_exc.AuthError as exc:
                raise self._translated(exc, "connect") from None
            except Exception as exc:  # driver raises several unrelated types here
                # a host name that does not resolve is a typo, not a server still starting
                if time.monotonic() >= deadline or _in_chain(exc, socket.gaierror) is not None:
                    raise self._translated(exc, "connect") from None
                time.sleep(0.2)

    # -- server detection ----------------------------------------------------------------
    @cached_property
    def dialect(self) -> Dialect:
        agent = self._driver.get_server_info().agent
        components = self.read("server_components")
        procedures: set[str] = set()
        if agent.startswith("Neo4j/"):
            try:
                rows = self.read("server_procedures")
                procedures = {r["name"] for r in rows}
            except GraphError:
                log.debug("could not list procedures", exc_info=True)
        dialect = from_server(agent, components, procedures)
        log.info("graph server: %s %s", dialect.product, dialect.version)
        return dialect

    # -- queries ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def retrying_for(self, seconds: float) -> Iterator[None]:
        """Within the block, each managed transaction retries transient failures (the server
        away, a deadlock) for at most ``seconds`` instead of the connection's
        ``max_retry_time`` (30 s by default), then raises. For a caller with a retry loop of
        its own that must stay responsive: a worker's claims, whose stop request waited for
        the driver's 30 s of retries while the server was away (a new user's trial: 35 s). Not
        for concurrent use of this object from several threads."""
        before, self._retry_time = self._retry_time, seconds
        try:
            yield
        finally:
            self._retry_time = before

    def _session(self, write: bool) -> neo4j.Session:
        # the driver's own default retry time unless retrying_for(s) set one
        retry = {} if self._retry_time is None else {"max_transaction_retry_time": self._retry_time}
        return self._driver.session(database=self.database,
                                    default_access_mode=neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS,
                                    **retry)

    def _execute(self, write: bool, name: str, work: Callable[[neo4j.ManagedTransaction], Any]) -> Any:
        # Every transaction says it is kgn-align's (visible in SHOW TRANSACTIONS and the query
        # log); the plugin's change capture and the APOC trigger skip such transactions, so
        # kgn-align's own writes never queue alignment jobs.
        work = neo4j.unit_of_work(metadata={**TX_METADATA, "query": name})(work)
        if interrupt_requested.is_set():
            interrupt_requested.clear()  # consumed: clean-up queries after it still run
            raise KeyboardInterrupt
        try:
            with self._session(write) as session:
                if write:
                    return session.execute_write(work)
                return session.execute_read(work)
        except GraphError:
            raise
        except Exception as exc:
            if _interrupted(exc):
                # Ctrl-C inside the driver can surface as the error its clean-up then hit
                # (e.g. "BufferError: Existing exports of data"): it is still an interrupt
                raise KeyboardInterrupt from None
            raise self._translated(exc, name) from exc

    def read(self, name: str, params: Mapping[str, Any] | None = None,
             identifiers: Identifiers | None = None, *, kind: str = "cypher") -> list[Row]:
        """Run the read query ``<kind>/<name>.cypher`` in a managed (retried) transaction."""
        text = cypher.render(name, identifiers, kind)
        return self._execute(False, name, lambda tx: tx.run(text, dict(params or {})).data())

    def read_timed(self, name: str, params: Mapping[str, Any] | None = None,
                   identifiers: Identifiers | None = None) -> tuple[list[Row], QueryTiming]:
        """:meth:`read`, plus where the time went (for benchmarks and progress reports)."""
        text = cypher.render(name, identifiers)

        def work(tx: neo4j.ManagedTransaction) -> tuple[list[Row], QueryTiming]:
            start, cpu = time.perf_counter(), time.thread_time()
            result = tx.run(text, dict(params or {}))
            rows = result.data()
            summary = result.consume()
            return rows, QueryTiming(
                wall_s=time.perf_counter() - start,
                client_s=time.thread_time() - cpu,
                first_record_s=(summary.result_available_after or 0) / 1000.0,
                rows=len(rows))

        return self._execute(False, name, work)

    def write(self, name: str, params: Mapping[str, Any] | None = None,
              identifiers: Identifiers | None = None, *, kind: str = "cypher") -> list[Row]:
        """Run a write query in one managed transaction: all of it lands or none."""
        text = cypher.render(name, identifiers, kind)
        return self._execute(True, name, lambda tx: tx.run(text, dict(params or {})).data())

    def drain(self, name: str, params: Mapping[str, Any] | None = None,
              identifiers: Identifiers | None = None, *, limit: int = 10_000) -> int:
        """Run a write query that removes up to ``$limit`` things and returns how many as
        ``deleted``, again and again until a batch comes back short. Each batch is its own
        transaction, so a delete of millions never holds them all in one. Returns the total
        removed. Raises :class:`ValueError` for ``limit < 1``."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        total = 0
        while True:
            n = int(self.write(name, {**(params or {}), "limit": limit}, identifiers)[0]["deleted"])
            total += n
            if n < limit:
                return total

    def write_once(self, name: str, params: Mapping[str, Any] | None = None,
                   identifiers: Identifiers | None = None) -> None:
        """An idempotent schema statement (``CREATE CONSTRAINT ... IF NOT EXISTS``), run once
        per connection rather than before every job: schema statements take a schema lock."""
        text = cypher.render(name, identifiers)
        if text in self._once:
            return
        self.write(name, params, identifiers)
        self._once.add(text)

    def write_many(self, steps: Sequence[tuple[str, Mapping[str, Any], Identifiers | None]]) -> list[list[Row]]:
        """Several write queries in one transaction (e.g. a batch and its checkpoint)."""
        texts = [(name, cypher.render(name, idents), dict(params)) for name, params, idents in steps]

        def work(tx: neo4j.ManagedTransaction) -> list[list[Row]]:
            return [tx.run(text, params).data() for _, text, params in texts]

        return self._execute(True, "+".join(n for n, _, _ in texts), work)

    def write_batches(self, name: str, rows: Iterable[Row], *, batch_size: int = 5000,
                      identifiers: Identifiers | None = None,
                      params: Mapping[str, Any] | None = None,
                      progress: Callable[[int], None] | None = None,
                      on_result: Callable[[list[Row]], None] | None = None) -> int:
        """``UNWIND $rows`` in batches, each batch its own retried transaction; ``on_result``
        is handed each batch's result rows (what the statement returns)."""
        total = 0
        for batch in chunked(rows, batch_size):
            result = self.write(name, {**(params or {}), "rows": batch}, identifiers)
            if on_result is not None:
                on_result(result)
            total += len(batch)
            if progress is not None:
                progress(len(batch))
        return total

    def read_batches(self, name: str, keys: Sequence[Any], *, batch_size: int,
                     params: Mapping[str, Any] | None = None,
                     identifiers: Identifiers | None = None) -> Iterator[list[Row]]:
        for batch in chunked(keys, batch_size):
            yield self.read(name, {**(params or {}), "keys": batch}, identifiers)


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    if size < 1:
        raise ValueError("batch size must be at least 1")
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
