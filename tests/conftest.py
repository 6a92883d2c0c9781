"""Test servers: every integration test runs once per Bolt server, with ids ``[neo4j]`` and
``[arcadedb]``.

- ``neo4j``: the server ``NEO4J_URI`` (+ ``NEO4J_USER``/``NEO4J_PASSWORD``) points at, else
  Neo4j 5.26 Community that kgn-align starts itself from its jars (``kgn_align.servers.neo4j``:
  APOC Core and kgn-align's plugin inside). Where Java 17 or Maven is missing these tests
  skip and say why; in CI (``CI=true``) that is a failure, never a skip.
- ``neo4j-docker``: the official Neo4j image through testcontainers, when a Docker engine
  answers;
- ``arcadedb``: the embedded ArcadeDB Bolt server (always).

Servers start lazily, once per test session, and are stopped by PID at the end. Tests
write into their own ``graph`` namespace (the ``namespace`` fixture) and delete it after,
so a shared server keeps what it had.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kgn_align.config import AlignConfig, ConnectionConfig
from kgn_align.graph import Graph

log = logging.getLogger(__name__)



def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # no client, no socket, no engine: all mean "not available"
        return False


def available_backends() -> list[str]:
    wanted = os.environ.get("KGN_ALIGN_TEST_SERVERS")  # e.g. "arcadedb" to narrow a run
    backends = ["neo4j"]
    if _docker_answers():
        backends.append("neo4j-docker")
    backends.append("arcadedb")
    if wanted:
        backends = [b for b in backends if b in wanted.split(",")]
    return backends


def require_runnable(kind: str) -> None:
    """Skip (fail in CI) when this machine cannot run a server of ``kind`` itself."""
    if kind != "neo4j":
        return
    from kgn_align.servers.neo4j import missing_requirements

    missing = missing_requirements()
    if missing:
        reason = "Neo4j cannot run on this machine: missing " + "; ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (in CI this is a failure, not a skip)", pytrace=False)
        pytest.skip(reason)


class _Servers:
    """Starts each backend on first use; stops them all at session end."""

    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = tmp_root
        self.connections: dict[str, ConnectionConfig] = {}
        self.graphs: dict[str, Graph] = {}
        self._stops: list[Callable[[], object]] = []
        self._failed: dict[str, str] = {}
        #: Servers this session started itself (not NEO4J_URI): their state, e.g. Browser URL.
        self.states: dict[str, object] = {}

    def connection(self, backend: str) -> ConnectionConfig:
        if backend in self._failed:  # start once; later tests fail fast with the same reason
            pytest.fail(self._failed[backend], pytrace=False)
        if backend not in self.connections:
            try:
                self.connections[backend] = self._start(backend)
            except pytest.skip.Exception:
                raise
            except Exception as exc:
                self._failed[backend] = f"the {backend} test server did not start: {exc}"
                raise
        return self.connections[backend]

    def graph(self, backend: str) -> Graph:
        if backend not in self.graphs:
            graph = Graph(self.connection(backend))
            graph.verify(timeout=30)
            self.graphs[backend] = graph
        return self.graphs[backend]

    def _start(self, backend: str) -> ConnectionConfig:
        if backend == "neo4j":
            if os.environ.get("NEO4J_URI"):
                from kgn_align.config import connection_from_env

                return connection_from_env()
            from kgn_align.servers.neo4j import Neo4jServer

            require_runnable("neo4j")
            neo4j = Neo4jServer(self.tmp_root / f"neo4j-{uuid.uuid4().hex[:8]}")
            state = neo4j.start()
            self._stops.append(neo4j.stop)
            self.states[backend] = state
            return state.connection()
        if backend == "neo4j-docker":
            from testcontainers.neo4j import Neo4jContainer

            container = Neo4jContainer("neo4j:5.26-community")
            container.start()
            self._stops.append(container.stop)
            return ConnectionConfig(uri=container.get_connection_url(), user="neo4j",
                                    password=container.password)
        if backend == "arcadedb":
            from kgn_align.servers.arcadedb import ArcadeDBServer

            server = ArcadeDBServer(self.tmp_root / f"arcadedb-{uuid.uuid4().hex[:8]}")
            state = server.start()
            self._stops.append(server.stop)
            self.states[backend] = state
            return state.connection()
        raise ValueError(f"unknown test server {backend!r}")

    def close(self) -> None:
        for graph in self.graphs.values():
            graph.close()
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception:  # keep stopping the others
                log.exception("could not stop a test server")


def write_own_kg(folder: Path) -> None:
    """A KG-format folder of one's own, with relation names that used to collapse."""
    folder.mkdir(parents=True)
    (folder / "ent_ids_1").write_text("\ufeff0\thttp://a/Alpha\n1\thttp://a/Beta\n2\thttp://a/Gamma\n3\thttp://a/Delta\n")
    (folder / "ent_ids_2").write_text("10\thttp://b/Alpha\n11\thttp://b/Beta\n12\thttp://b/Gamma\n13\thttp://b/Delta\n")
    rels = ["has-part", "has_part", "出生地", "配偶者", "SAME_AS"]
    (folder / "rel_ids_1").write_text("".join(f"{i}\thttp://a/{r}\n" for i, r in enumerate(rels)))
    (folder / "rel_ids_2").write_text("".join(f"{i + 10}\thttp://b/{r}\n" for i, r in enumerate(rels)))
    (folder / "triples_1").write_text("0\t0\t1\n1\t1\t2\n2\t2\t3\n3\t3\t0\n0\t4\t2\n")
    (folder / "triples_2").write_text("10\t10\t11\n11\t11\t12\n12\t12\t13\n13\t13\t10\n10\t14\t12\n")
    (folder / "ref_ent_ids").write_text("0\t10\n1\t11\n2\t12\n3\t13\n")


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Small tensors: one thread is faster and immune to a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Servers]:
    registry = _Servers(tmp_path_factory.mktemp("servers"))
    yield registry
    registry.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", available_backends(), scope="session")


@pytest.fixture
def graph(servers: _Servers, backend: str) -> Graph:
    """A :class:`Graph` on the current backend (shared for the session)."""
    return servers.graph(backend)


@pytest.fixture
def connection(servers: _Servers, backend: str) -> ConnectionConfig:
    return servers.connection(backend)


@pytest.fixture
def namespace(graph: Graph) -> Iterator[str]:
    """A unique ``graph``-name prefix for this test; everything under it is deleted after."""
    from kgn_align.loaders import delete_graphs

    prefix = f"test-{uuid.uuid4().hex[:10]}/"
    yield prefix
    delete_graphs(graph, prefix)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


def neo4j_driver(connection: ConnectionConfig) -> Any:
    import neo4j

    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    return neo4j.GraphDatabase.driver(connection.uri, auth=auth)


def link(connection: ConnectionConfig, config: AlignConfig, *edges: tuple[str, str, dict[str, Any]]) -> None:
    """SAME_AS edges (source key, target key, properties) made by hand, as a person or an
    import would, outside kgn-align."""
    with neo4j_driver(connection) as drv:
        drv.execute_query(
            f"UNWIND $rows AS row MATCH (a:{config.source.label} {{{config.source.property}: $ga, key: row[0]}}), "
            f"(b:{config.target.label} {{{config.target.property}: $gb, key: row[1]}}) "
            "CREATE (a)-[r:SAME_AS]->(b) SET r += row[2]",
            rows=[list(e) for e in edges], ga=config.source.value, gb=config.target.value,
            database_=connection.database)
