"""Cypher-triggered jobs end to end on Neo4j: a change made with plain Cypher (or
``CALL kgn.requestAlignment``) is captured by kgn-align's plugin, a running
``kgn-align worker`` process picks the job up, and the SAME_AS edge appears.
A Neo4j restart loses no job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import neo4j
import pytest

from kgn_align import datasets, loaders
from kgn_align.graph import Graph
from kgn_align.jobs import scope_of
from kgn_align.scoring import ModelScorer
from kgn_align.servers.neo4j import Neo4jServer
from kgn_align.snapshot import take
from kgn_align.training import TrainConfig
from kgn_align.workflows import train_model
from tests.conftest import require_runnable

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _env(conn) -> dict[str, str]:
    return {**os.environ, "NEO4J_URI": conn.uri, "NEO4J_USER": conn.user,
            "NEO4J_PASSWORD": conn.password.get_secret_value(), "PYTHONUNBUFFERED": "1"}


def _wait(what: str, check, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def trained_slice(servers, tmp_path_factory) -> Iterator[tuple]:
    """A 120-pair dbp15k_fr_en slice on Neo4j with a small trained model."""
    require_runnable("neo4j")
    graph: Graph = servers.graph("neo4j")
    prefix = "jobs-e2e/"
    ds = datasets.read_kg("dbp15k_fr_en").slice(120)
    loaders.load_kg(graph, ds, prefix=prefix)
    config = loaders.preset_config(ds, prefix=prefix)
    snapshot = take(graph, config)
    models = tmp_path_factory.mktemp("models")
    trained = train_model(graph, config, models, snapshot=snapshot,
                          train_config=TrainConfig(epochs=2, max_steps=60))
    try:
        yield graph, ds, config, snapshot, trained, prefix
    finally:
        loaders.delete_graphs(graph, prefix)


def _sure_pair(snapshot, trained, ds) -> tuple[str, str]:
    """The held-out pair the model is surest of (its best candidate, well above 0.5)."""
    scorer = ModelScorer(snapshot, trained)
    gold = {str(s): str(t) for s, t in ds.test_pairs}
    best: tuple[float, str, str] | None = None
    for pair in scorer(list(gold)):
        if gold.get(pair.source) == pair.target and (best is None or pair.score > best[0]):
            best = (pair.score, pair.source, pair.target)
    assert best is not None and best[0] > 0.7, best
    return best[1], best[2]


@pytest.fixture
def worker(trained_slice, servers, tmp_path) -> Iterator[subprocess.Popen]:
    graph, ds, config, snapshot, trained, prefix = trained_slice
    proc = subprocess.Popen(
        [sys.executable, "-m", "kgn_align.cli", "--home", str(tmp_path), "worker",
         "--dataset", "dbp15k_fr_en", "--prefix", prefix, "--model", str(trained.path),
         "--poll", "0.2"],
        env=_env(servers.connection("neo4j")), cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out = proc.communicate(timeout=60)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    # a stop request is acknowledged on stderr at once, before the current job ends
    assert "stop requested: " in out, out[-2000:]
    assert "worker stopped after" in out, out[-2000:]


@pytest.fixture
def driver(servers) -> Iterator[neo4j.Driver]:
    """A plain driver on the Neo4j server, as a user's own application would hold."""
    conn = servers.connection("neo4j")
    with neo4j.GraphDatabase.driver(conn.uri, auth=(conn.user, conn.password.get_secret_value())) as drv:
        yield drv


def _now(drv: neo4j.Driver):
    return drv.execute_query("RETURN datetime() AS t").records[0]["t"]


def _captured_job_done(drv: neo4j.Driver, graph_name: str, source: str, since, timeout: float = 90.0) -> list:
    """Wait for a 'changed' job that the plugin captured after ``since``, listing the node of
    ``source`` (a key of the graph ``graph_name``), to be done; returns the result of the job
    that did its work: its own, or, when it ran together with an older job
    (``{"run_with": id}``), that job's. (Its result lists only the first source keys it
    re-aligned, so finding the job by the key in the result failed when other tests' queued
    changes ran in the same job.)"""
    node = drv.execute_query("MATCH (s:Entity {graph: $g, key: $k}) RETURN elementId(s) AS id",
                             g=graph_name, k=source).records[0]["id"]

    def done() -> list:
        found = drv.execute_query(
            "MATCH (j:AlignmentJob {kind: 'changed', capturedBy: 'kgn-plugin', status: 'done'}) "
            "WHERE j.requestedAt >= $t AND j.params CONTAINS $quoted RETURN j.result AS result",
            t=since, quoted=json.dumps(node)).records
        lead = [json.loads(r["result"]).get("run_with") for r in found]
        return [r for r in found if "run_with" not in json.loads(r["result"])] + [
            r for r in drv.execute_query("MATCH (j:AlignmentJob {status: 'done'}) WHERE j.id IN $ids "
                                         "RETURN j.result AS result", ids=[i for i in lead if i]).records]
    return _wait("a captured 'changed' job re-aligning the source", done, timeout=timeout)


def test_plain_cypher_change_becomes_a_same_as_edge(trained_slice, worker, driver) -> None:
    graph, ds, config, snapshot, trained, prefix = trained_slice
    source, target = _sure_pair(snapshot, trained, ds)
    src_graph, tgt_graph = config.source.value, config.target.value
    started = _now(driver)
    # a user edits the source entity with plain Cypher: no kgn-align code involved
    driver.execute_query("MATCH (s:Entity {graph: $g, key: $k}) SET s.note = 'edited'",
                      g=src_graph, k=source)
    edge = _wait("the SAME_AS edge", lambda: driver.execute_query(
        "MATCH (s:Entity {graph: $sg, key: $s})-[r:SAME_AS]->(t:Entity {graph: $tg}) "
        "WHERE r.review IS NULL RETURN t.key AS target, r.score AS score",
        sg=src_graph, s=source, tg=tgt_graph).records)
    assert [(r["target"], r["score"] > 0.5) for r in edge] == [(target, True)]
    # the edge lands in the job's write, a moment before the job is marked done
    job = _captured_job_done(driver, src_graph, source, started)

    # the same through the procedure: a whole backfill requested from Cypher
    job_id = driver.execute_query("CALL kgn.requestAlignment('backfill', '{\"threshold\": 0.5}') "
                               "YIELD jobId RETURN jobId").records[0]["jobId"]
    done = _wait("the backfill job", lambda: [r for r in driver.execute_query(
        "CALL kgn.job($id) YIELD status, result, error RETURN status, result, error",
        id=job_id).records if r["status"] in ("done", "failed")], timeout=180)
    assert done[0]["status"] == "done", done[0]["error"]
    # the worker adopted it for its configuration: kgn.job says which (a copy would name its job)
    adopted = driver.execute_query("CALL kgn.job($id) YIELD scope, copyOf RETURN scope, copyOf",
                                   id=job_id).records[0]
    assert (adopted["scope"], adopted["copyOf"]) == (scope_of(config).key, None)
    # plugin/README's query of which job ran where, by configuration
    readme = (ROOT / "plugin" / "README.md").read_text()
    query = readme[readme.index("CALL kgn.jobs() YIELD jobId, copyOf"):]
    query = query[:query.index("```")]
    where = [(r["configuration"], r["jobId"]) for r in driver.execute_query(query, id=job_id).records]
    assert (scope_of(config).name, job_id) in where, where
    edges = driver.execute_query(
        "MATCH (:Entity {graph: $sg})-[r:SAME_AS]->(:Entity {graph: $tg}) WHERE r.review IS NULL "
        "RETURN count(r) AS n", sg=src_graph, tg=tgt_graph).records[0]["n"]
    assert edges >= len(ds.test_pairs) // 2
    # every model edge came from a job this worker ran: the two above (the 'changed' job
    # may also have re-aligned the edited entity's neighbours) and any change another
    # test's Cypher left queued before them
    results = [json.loads(r["result"]) for r in driver.execute_query(
        "MATCH (j:AlignmentJob {status: 'done'}) WHERE j.finishedAt >= $t RETURN j.result AS result",
        t=started).records]
    assert json.loads(done[0]["result"]) in results and json.loads(job[0]["result"]) in results
    assert sum(r.get("created", 0) for r in results) == edges


def test_changes_queued_while_no_worker_runs_are_aligned_as_one(trained_slice, servers, driver,
                                                                tmp_path: Path) -> None:
    """The plugin queues a job per transaction: four entities edited one transaction each,
    no worker running, were four re-alignments one after another. A worker now claims the
    oldest and runs the others with it: one re-alignment, four jobs done (the others' lines
    say which job they ran with), and each edited entity has its edge."""
    graph, ds, config, snapshot, trained, prefix = trained_slice
    scorer = ModelScorer(snapshot, trained)
    gold = {str(s): str(t) for s, t in ds.test_pairs}
    sure = sorted((p.score, p.source, p.target) for p in scorer(list(gold))
                  if gold.get(p.source) == p.target and p.score > 0.7)[-4:]
    assert len(sure) == 4, sure
    started = _now(driver)
    for _, source, _ in sure:
        driver.execute_query("MATCH (s:Entity {graph: $g, key: $k}) SET s.note = 'edited together'",
                             g=config.source.value, k=source)
    mine = [r["id"] for r in driver.execute_query(
        "MATCH (j:AlignmentJob {kind: 'changed', capturedBy: 'kgn-plugin'}) WHERE j.requestedAt >= $t "
        "RETURN j.id AS id ORDER BY j.requestedAt", t=started).records]
    assert len(mine) >= 4, mine  # one per transaction at least (other tests' writes too)
    out = subprocess.run(
        [sys.executable, "-m", "kgn_align.cli", "--home", str(tmp_path), "worker", "--burst",
         "--dataset", "dbp15k_fr_en", "--prefix", prefix, "--model", str(trained.path)],
        env=_env(servers.connection("neo4j")), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    records = {r["id"]: r for r in driver.execute_query(
        "MATCH (j:AlignmentJob) WHERE j.id IN $ids RETURN j.id AS id, j.status AS status, "
        "j.result AS result", ids=mine).records}
    assert {records[i]["status"] for i in mine} == {"done"}, records
    ran_with = {json.loads(records[i]["result"]).get("run_with") for i in mine} - {None}
    lead = ran_with.pop() if ran_with else mine[0]
    assert not ran_with  # every one ran in a single job
    assert out.stdout.count(f": run together with job {lead}") >= len(mine) - 1, out.stdout
    for _, source, target in sure:
        edge = driver.execute_query(
            "MATCH (s:Entity {graph: $sg, key: $s})-[r:SAME_AS]->(t:Entity {graph: $tg}) "
            "WHERE r.review IS NULL RETURN t.key AS target", sg=config.source.value, s=source,
            tg=config.target.value).records
        assert [r["target"] for r in edge] == [target], (source, edge)


def test_neo4j_restart_loses_no_job(tmp_path: Path) -> None:
    """A job queued from Cypher survives the server's restart and then runs."""
    require_runnable("neo4j")
    server = Neo4jServer(tmp_path / "n4")
    state = server.start()
    try:
        with neo4j.GraphDatabase.driver(state.uri, auth=(state.user, state.password.get_secret_value())) as drv:
            job_id = drv.execute_query("CALL kgn.requestAlignment('backfill', '{}') YIELD jobId "
                                       "RETURN jobId").records[0]["jobId"]
        server.stop()
        state = server.start()
        from kgn_align.worker import Worker

        with Graph(state.connection()) as graph:
            ran: list[str] = []
            Worker(graph, {"backfill": lambda j: ran.append(j.id) or {}}).run(burst=True)
            assert ran == [job_id]
            assert graph.read("worker_job", {"id": job_id})[0]["status"] == "done"
    finally:
        server.stop()


def test_a_review_in_cypher_realigns_its_source(trained_slice, worker, driver) -> None:
    """A verdict set with plain Cypher reaches the worker as a captured 'changed' job for
    the edge's ends: the source is aligned again at once, without the rejected pair."""
    graph, ds, config, snapshot, trained, prefix = trained_slice
    source, target = _sure_pair(snapshot, trained, ds)
    src_graph, tgt_graph = config.source.value, config.target.value
    started = _now(driver)
    # a reviewer's verdict, imported as an edge: no model edge was there before
    driver.execute_query("MATCH (s:Entity {graph: $sg, key: $s}), (t:Entity {graph: $tg, key: $t}) "
                      "MERGE (s)-[r:SAME_AS]->(t) SET r.review = 'rejected'",
                      sg=src_graph, s=source, tg=tgt_graph, t=target)
    _captured_job_done(driver, src_graph, source, started, timeout=60)
    edges = driver.execute_query(
        "MATCH (:Entity {graph: $sg, key: $s})-[r:SAME_AS]->(t:Entity {graph: $tg}) "
        "RETURN t.key AS target, r.review AS review", sg=src_graph, s=source, tg=tgt_graph).records
    # the rejected edge as the reviewer left it; never a model edge on the rejected pair
    assert [(r["target"], r["review"]) for r in edges if r["target"] == target] == [(target, "rejected")]
