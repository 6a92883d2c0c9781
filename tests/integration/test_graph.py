"""Graph access against a real server: detection, errors, identifiers, transactions."""

from __future__ import annotations

import os

import pytest

from kgn_align.config import ConnectionConfig
from kgn_align.errors import ConfigError, ConstraintViolation, GraphError, QueryError, ServerUnavailable
from kgn_align.graph import Graph
from kgn_align.loaders import ensure_constraints, load_kg, preset_config

HOSTILE = "Movie`) DETACH DELETE n //"


def _nodes(graph: Graph, g: str, label: str = "Entity") -> int:
    return int(graph.read("graph_count", {"graph": g}, {"label": label})[0]["nodes"])


def test_detects_server(graph: Graph, backend: str) -> None:
    dialect = graph.dialect
    assert dialect.product == ("arcadedb" if backend == "arcadedb" else "neo4j")
    assert dialect.version[0].isdigit()


def test_hostile_label_refused_and_graph_unchanged(graph: Graph, namespace: str) -> None:
    g = f"{namespace}movies"
    graph.write("load_nodes", {"graph": g, "load_id": "x", "rows": [{"key": "1", "props": {"name": "Heat"}}]},
                {"label": "Entity"})
    with pytest.raises(ValueError, match="not a valid identifier"):
        graph.write("load_rollback_nodes", {"load_id": "x", "limit": 10}, {"label": HOSTILE})
    with pytest.raises(ValueError, match="not a valid identifier"):
        graph.read("graph_count", {"graph": g}, {"label": HOSTILE})
    with pytest.raises(ConfigError) as err:
        from kgn_align.config import load_config
        load_config(None, env={}, overrides={"source": {"name": "a", "label": "A"},
                                             "target": {"name": "b", "label": HOSTILE}})
    assert "target.label" in str(err.value)
    assert _nodes(graph, g) == 1


def test_values_travel_as_parameters(graph: Graph, namespace: str) -> None:
    """A value full of Cypher is stored verbatim, not executed."""
    g = f"{namespace}movies"
    evil = "x'}) DETACH DELETE n //"
    graph.write("load_nodes", {"graph": g, "load_id": "x", "rows": [{"key": evil, "props": {"name": evil}}]},
                {"label": "Entity"})
    assert _nodes(graph, g) == 1


def test_query_errors_name_the_query(graph: Graph) -> None:
    with pytest.raises(QueryError) as err:
        graph.write("load_nodes", {"graph": "g", "load_id": "x", "rows": 42}, {"label": "Entity"})
    assert "load_nodes" in str(err.value)


def test_constraint_violation_rolls_back_the_whole_batch(graph: Graph, namespace: str, backend: str) -> None:
    g = f"{namespace}dup"
    ensure_constraints(graph, ["Entity"])
    graph.write("load_nodes", {"graph": g, "load_id": "x", "rows": [{"key": "1", "props": {}}]}, {"label": "Entity"})
    # two rows in one batch; the second collides with an existing node through CREATE-like SET of key
    rows = [{"key": "2", "props": {"name": "ok"}}, {"key": "3", "props": {"key": "1"}}]
    with pytest.raises((ConstraintViolation, QueryError)):
        graph.write("load_nodes", {"graph": g, "load_id": "y", "rows": rows}, {"label": "Entity"})
    assert _nodes(graph, g) == 1  # key 2 did not land either


def test_drain_deletes_in_batches_until_nothing_is_left(graph: Graph, namespace: str) -> None:
    """Seven nodes with a limit of three: three transactions (3, 3, 1), none left, others kept;
    a limit that divides the count exactly (7 then a batch of 0) also stops."""
    g, kept = f"{namespace}drained", f"{namespace}kept"
    graph.write("load_nodes", {"graph": g, "load_id": "x", "rows": [{"key": str(i), "props": {}} for i in range(7)]},
                {"label": "Entity"})
    graph.write("load_nodes", {"graph": kept, "load_id": "y", "rows": [{"key": "k", "props": {}}]},
                {"label": "Entity"})
    assert graph.drain("load_rollback_nodes", {"load_id": "x"}, {"label": "Entity"}, limit=3) == 7
    assert _nodes(graph, g) == 0 and _nodes(graph, kept) == 1
    graph.write("load_nodes", {"graph": g, "load_id": "x", "rows": [{"key": str(i), "props": {}} for i in range(7)]},
                {"label": "Entity"})
    assert graph.drain("load_rollback_nodes", {"load_id": "x"}, {"label": "Entity"}, limit=7) == 7
    assert _nodes(graph, g) == 0
    with pytest.raises(ValueError, match="limit must be at least 1"):
        graph.drain("load_rollback_nodes", {"load_id": "x"}, {"label": "Entity"}, limit=0)


def test_wrong_password_is_clear_and_secret_free(connection: ConnectionConfig, backend: str) -> None:
    if backend == "neo4j" and os.environ.get("NEO4J_URI"):
        pytest.skip("do not hammer a shared server with bad logins")
    bad = ConnectionConfig(**{**connection.model_dump(), "password": "wrong-password-123"})
    with Graph(bad) as g, pytest.raises(ServerUnavailable) as err:
        g.verify()
    _wait_out_the_login_lock(connection)  # a good login resets Neo4j's count of failed ones
    assert "refused the credentials" in str(err.value) or "no graph server" in str(err.value)
    assert "wrong-password-123" not in str(err.value)
    if connection.password is not None:
        assert connection.password.get_secret_value() not in str(err.value)


def test_a_refused_password_is_named_by_where_it_came_from(connection: ConnectionConfig, backend: str,
                                                            tmp_path) -> None:
    """A wrong password in the config file's [connection] table was answered "check NEO4J_USER
    and NEO4J_PASSWORD": the user looked in the environment. The error names the file (and,
    for a password given in the environment, the variable), never the password."""
    if backend == "neo4j" and os.environ.get("NEO4J_URI"):
        pytest.skip("do not hammer a shared server with bad logins")
    from click.testing import CliRunner

    from kgn_align.cli import cli

    path = tmp_path / "align.toml"
    path.write_text('[source]\nname = "a"\nlabel = "Song"\n[target]\nname = "b"\nlabel = "Track"\n'
                    f'[connection]\nuri = "{connection.uri}"\nuser = "{connection.user}"\n'
                    'password = "wrong-password-123"\n')
    env = {"NEO4J_URI": "", "NEO4J_USER": "", "NEO4J_PASSWORD": "", "KGN_ALIGN_CONFIG": ""}
    try:
        said = CliRunner().invoke(cli, ["--home", str(tmp_path), "--config", str(path), "check"], env=env)
        assert said.exit_code == 1, said.output
        assert f"with the password from the [connection] table of {path}" in said.output, said.output
        assert "wrong-password-123" not in said.output
        from_env = CliRunner().invoke(cli, ["--home", str(tmp_path), "--config", str(path), "check"],
                                      env={**env, "NEO4J_PASSWORD": "other-wrong-456"})
        assert "with the password from NEO4J_PASSWORD (--password)" in from_env.output, from_env.output
        assert "other-wrong-456" not in from_env.output
    finally:
        _wait_out_the_login_lock(connection)


def _wait_out_the_login_lock(connection: ConnectionConfig, seconds: float = 30.0) -> None:
    """Neo4j locks a user for a few seconds after three failed logins in a row (its
    dbms.security.auth_max_failed_attempts): the tests after one that fails logins on purpose
    then failed to connect (a CI run). A good login, once the lock is over, resets the count."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            with Graph(connection) as g, g.retrying_for(1.0):
                g.read("server_components")
            return
        except ServerUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def test_no_password_given_is_said_so(connection: ConnectionConfig, backend: str) -> None:
    """NEO4J_PASSWORD unset or empty said only that the server refused the credentials."""
    if backend == "neo4j" and os.environ.get("NEO4J_URI"):
        pytest.skip("do not hammer a shared server with bad logins")
    none = ConnectionConfig(**{**connection.model_dump(), "password": None})
    with Graph(none) as g, pytest.raises(ServerUnavailable) as err:
        g.verify()
    assert "refused to connect without a password: none was given (set NEO4J_PASSWORD" in str(err.value), \
        err.value


def test_a_database_the_server_lacks_is_named_with_where_it_came_from(connection: ConnectionConfig) -> None:
    """NEO4J_DATABASE=nosuch said 'query 'preflight_side' failed on the server
    (Neo.ClientError.Database.DatabaseNotFound)': the database is named, with the settings
    that choose it."""
    other = ConnectionConfig(**{**connection.model_dump(), "database": "nosuchdb"})
    with Graph(other) as g, pytest.raises(GraphError) as err:
        g.read("server_components")
    said = str(err.value)
    assert "nosuchdb" in said and "NEO4J_DATABASE" in said, said
    assert "server_components" not in said, said


def test_no_server_is_a_clear_error() -> None:
    from kgn_align.servers import free_port

    with Graph(ConnectionConfig(uri=f"bolt://127.0.0.1:{free_port()}", password="whatever-123")) as g:
        with pytest.raises(ServerUnavailable, match="no graph server answers"):
            g.verify()


def test_preset_config_selects_loaded_graphs(graph: Graph, namespace: str) -> None:
    from kgn_align.datasets import read_kg

    ds = read_kg("srprs_en_fr").slice(20)
    load_kg(graph, ds, prefix=namespace)
    cfg = preset_config(ds, prefix=namespace)
    assert cfg.source.value == f"{namespace}srprs_en_fr/en" and cfg.target.value == f"{namespace}srprs_en_fr/fr"
    assert _nodes(graph, cfg.source.value) == len(ds.sides[0].uris)
