"""kgn-align inside Neo4j, for real: the plugin's procedures, its change capture, the APOC
trigger alternative, and Cypher-triggered jobs run by a live ``kgn-align worker``.

Neo4j only (ArcadeDB loads no server plugins). Every change here is made with plain Cypher
through the driver, as a user or another application would, never through kgn-align code.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any
from collections.abc import Iterator

import neo4j
import pytest

from kgn_align.cypher import load_text
from kgn_align.graph import Graph
from tests.conftest import require_runnable

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def driver(servers) -> Iterator[neo4j.Driver]:
    """A plain driver on the session's Neo4j, with kgn-align's plugin loaded."""
    require_runnable("neo4j")
    conn = servers.connection("neo4j")
    with neo4j.GraphDatabase.driver(conn.uri, auth=(conn.user, conn.password.get_secret_value())) as drv:
        names = {r["name"] for r in drv.execute_query(
            "SHOW PROCEDURES YIELD name WHERE name STARTS WITH 'kgn.' RETURN name").records}
        if "kgn.requestAlignment" not in names:
            if "neo4j" in servers.states or os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"kgn-align's plugin is not loaded in the Neo4j we started: {names}")
            pytest.skip("the Neo4j at NEO4J_URI has no kgn-align plugin")
        yield drv


@pytest.fixture
def tag() -> Iterator[str]:
    """A unique ``graph`` value for this test's nodes."""
    yield f"plugin-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _cleanup(request, tag: str) -> Iterator[None]:
    yield
    if "driver" in request.fixturenames:
        drv = request.getfixturevalue("driver")
        drv.execute_query("MATCH (n {graph: $g}) DETACH DELETE n", g=tag)


def jobs_count(drv: neo4j.Driver) -> int:
    return drv.execute_query("MATCH (j:AlignmentJob) RETURN count(j) AS n").records[0]["n"]


def changed_jobs_with(drv: neo4j.Driver, element_id: str, *, wait: float = 0.0,
                      captured_by: str | None = None, since: Any = None) -> list[dict]:
    """'changed' jobs whose params list ``element_id`` exactly (polled up to ``wait``
    seconds): "4:...:10" is a substring of "4:...:1007", named by another test's job.
    ``since`` (a server datetime): only jobs requested then or later — a node created now
    may reuse the id of a node an earlier test deleted, named by that test's jobs."""
    deadline = time.monotonic() + wait
    while True:
        rows = drv.execute_query(
            "MATCH (j:AlignmentJob {kind: 'changed'}) WHERE j.params CONTAINS $id "
            "AND ($by IS NULL OR j.capturedBy = $by) AND ($since IS NULL OR j.requestedAt >= $since) "
            "RETURN j {.*} AS j", id=element_id, by=captured_by, since=since).records
        jobs = [dict(r["j"]) for r in rows if element_id in json.loads(r["j"]["params"])["nodeIds"]]
        if jobs or time.monotonic() >= deadline:
            return jobs
        time.sleep(0.2)


def quiet(drv: neo4j.Driver, still: float = 1.5, seconds: float = 20.0) -> int:
    """Wait until no job has been queued for ``still`` seconds (jobs captured from earlier
    tests' transactions, their clean-up included, are queued after those commit, on the
    plugin's own thread: a node created now may reuse a deleted node's id they name);
    returns the number of jobs then."""
    deadline = time.monotonic() + seconds
    count, since = jobs_count(drv), time.monotonic()
    while time.monotonic() - since < still and time.monotonic() < deadline:
        time.sleep(0.25)
        now = jobs_count(drv)
        if now != count:
            count, since = now, time.monotonic()
    return count


def _until(check, seconds: float = 10.0) -> bool:
    """Poll ``check()`` until it is true or ``seconds`` pass (jobs are queued after the commit,
    on the plugin's own thread); its last value."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.2)
    return check()


def test_request_alignment_queues_a_job_the_worker_reads(driver: neo4j.Driver) -> None:
    rec = driver.execute_query(
        "CALL kgn.requestAlignment('backfill', '{\"threshold\": 0.7, \"policy\": \"one-to-one\"}') "
        "YIELD jobId RETURN jobId").records[0]
    try:
        job = driver.execute_query("MATCH (j:AlignmentJob {id: $id}) RETURN j {.*} AS j",
                                   id=rec["jobId"]).records[0]["j"]
        assert job["kind"] == "backfill" and job["status"] == "queued" and job["attempts"] == 0
        assert json.loads(job["params"]) == {"threshold": 0.7, "policy": "one-to-one"}
        listed = driver.execute_query("CALL kgn.job($id) YIELD jobId, status RETURN jobId, status",
                                      id=rec["jobId"]).records
        assert [(r["jobId"], r["status"]) for r in listed] == [(rec["jobId"], "queued")]
        queued = driver.execute_query("CALL kgn.jobs('queued') YIELD jobId RETURN collect(jobId) AS ids")
        assert rec["jobId"] in queued.records[0]["ids"]
        # a status no job takes is an error naming those there are, not an empty list
        with pytest.raises(neo4j.exceptions.ClientError,
                           match=r"kgn.jobs: no job status 'finished' \(statuses: queued, running, done, failed"):
            driver.execute_query("CALL kgn.jobs('finished') YIELD jobId RETURN jobId")
    finally:
        driver.execute_query("MATCH (j:AlignmentJob {id: $id}) DELETE j", id=rec["jobId"])


def test_kgn_job_waits_for_a_write_in_flight_and_shows_it_whole(driver: neo4j.Driver) -> None:
    """A worker finishes a job by setting its status and finishedAt in one transaction;
    kgn.job and kgn.jobs read them under a shared lock, so neither shows a job half-way
    ('running' with a finishedAt): a reader waits for the write to commit."""
    import threading

    job_id = driver.execute_query("CALL kgn.requestAlignment('backfill', '{}') YIELD jobId "
                                  "RETURN jobId").records[0]["jobId"]
    shown: dict[str, list] = {}

    def read(name: str, query: str) -> None:
        rows = driver.execute_query(query, id=job_id).records
        shown[name] = [(r["status"], r["finishedAt"] is not None) for r in rows]

    try:
        with driver.session() as session:
            tx = session.begin_transaction()
            try:
                tx.run("MATCH (j:AlignmentJob {id: $id}) SET j.status = 'done', "
                       "j.finishedAt = datetime()", id=job_id).consume()
                readers = [threading.Thread(target=read, args=(
                    "job", "CALL kgn.job($id) YIELD status, finishedAt RETURN status, finishedAt")),
                    threading.Thread(target=read, args=(
                        "jobs", "CALL kgn.jobs() YIELD jobId, status, finishedAt WHERE jobId = $id "
                                "RETURN status, finishedAt"))]
                for reader in readers:
                    reader.start()
                time.sleep(1.5)
                assert shown == {}, f"read while the write was in flight: {shown}"
                tx.commit()
            finally:
                tx.close()
        for reader in readers:
            reader.join(30)
        assert shown == {"job": [("done", True)], "jobs": [("done", True)]}, shown
    finally:
        driver.execute_query("MATCH (j:AlignmentJob {id: $id}) DELETE j", id=job_id)


@pytest.mark.parametrize(("kind", "params", "says"), [
    ("nope", "{}", "unknown job kind 'nope'"),
    ("backfill", "{\"threshold\": ", "not a JSON object"),
    ("backfill", "[1, 2]", "not a JSON object"),
    ("backfill", "{\"k\": -5}", "k must be a positive integer"),
    ("backfill", "{\"threshold\": true}", "threshold"),
    ("backfill", "{\"treshold\": 0.9}", "treshold"),
    ("backfill", "{\"threshold\": 1.5}", "threshold"),
    ("backfill", "{\"policy\": \"most\"}", "policy"),
    ("changed", "{}", "nodeIds"),
])
def test_bad_requests_fail_in_the_callers_transaction(driver: neo4j.Driver, kind: str, params: str,
                                                       says: str) -> None:
    before = jobs_count(driver)
    with pytest.raises(neo4j.exceptions.ClientError) as err:
        driver.execute_query("CALL kgn.requestAlignment($kind, $params) YIELD jobId RETURN jobId",
                             kind=kind, params=params)
    assert says in err.value.message
    assert jobs_count(driver) == before  # nothing queued


def test_a_changed_request_naming_no_node_is_refused(driver: neo4j.Driver, tag: str) -> None:
    """A 'changed' job for an element id that is no node (a typo, a relationship's id) would
    re-align nothing and say so only once run: the request is refused, naming the ids, and
    nothing is queued; the same request naming existing nodes is queued."""
    ids = driver.execute_query(
        "CREATE (a:Entity {graph: $g, key: 'a'})-[r:LINKS {graph: $g}]->(b:Entity {graph: $g, key: 'b'}) "
        "RETURN elementId(a) AS a, elementId(r) AS r", g=tag).records[0]
    quiet(driver)
    before = jobs_count(driver)
    typo = ids["a"].rsplit(":", 1)[0] + ":987654321"  # this database's id form, no such node
    for wrong, says in ((typo, f"1 of the 2 nodeIds name no node of this database: '{typo}'"),
                        (ids["r"], f"'{ids['r']}'"), ("not-an-id", "'not-an-id'")):
        with pytest.raises(neo4j.exceptions.ClientError) as err:
            driver.execute_query("CALL kgn.requestAlignment('changed', $params) YIELD jobId RETURN jobId",
                                 params=json.dumps({"nodeIds": [ids["a"], wrong]}))
        assert says in err.value.message and "nothing queued" in err.value.message
    assert jobs_count(driver) == before
    job_id = driver.execute_query("CALL kgn.requestAlignment('changed', $params) YIELD jobId RETURN jobId",
                                  params=json.dumps({"nodeIds": [ids["a"]]})).records[0]["jobId"]
    try:
        assert jobs_count(driver) == before + 1
    finally:
        driver.execute_query("MATCH (j:AlignmentJob {id: $id}) DELETE j", id=job_id)


def test_a_job_requested_for_one_configuration_runs_there_alone(servers, driver: neo4j.Driver, tag: str) -> None:
    """``kgn.requestAlignment(kind, params, configuration)``: the job is that configuration's
    (named by key or name), and no other configuration's worker adopts it; a configuration
    no worker registered, or a name two share, is refused naming those there are."""
    from kgn_align.worker import Scope, Worker

    movies = Scope(key=f"{tag[-10:]}mv", name=f"{tag} movies", graphs=(f"{tag}-imdb",))
    songs = Scope(key=f"{tag[-10:]}sg", name=f"{tag} songs", graphs=(f"{tag}-itunes",))
    request = "CALL kgn.requestAlignment('backfill', '{}', $c) YIELD jobId RETURN jobId"
    conn = servers.connection("neo4j")
    ran: dict[str, list[str]] = {"movies": [], "songs": []}
    job_ids: list[str] = []
    with Graph(conn) as graph:
        def worker(scope: Scope, name: str) -> Worker:
            return Worker(graph, {"backfill": lambda j: ran[name].append(j.id) or {}}, scope=scope)

        try:
            for scope, name in ((movies, "movies"), (songs, "songs")):
                worker(scope, name).register_scope()
            for given in (songs.key, songs.name):
                job_ids.append(driver.execute_query(request, c=given).records[0]["jobId"])
            scopes = driver.execute_query("MATCH (j:AlignmentJob) WHERE j.id IN $ids RETURN j.scope AS s",
                                          ids=job_ids).records
            assert [r["s"] for r in scopes] == [songs.key, songs.key]
            before = jobs_count(driver)
            with pytest.raises(neo4j.exceptions.ClientError) as err:
                driver.execute_query(request, c=f"{tag} films")
            assert f"no worker configuration with the key or name '{tag} films' (known: " in err.value.message
            assert f"{songs.key} ({songs.name})" in err.value.message or ", ..." in err.value.message
            graph.write("worker_scope_register", {"key": movies.key + "2", "name": movies.name,
                                                  "graphs": [f"{tag}-imdb"], "now": 0})
            with pytest.raises(neo4j.exceptions.ClientError, match=f"2 worker configurations are named "
                                                                   f"'{movies.name}' .*: give the key"):
                driver.execute_query(request, c=movies.name)
            assert jobs_count(driver) == before  # nothing queued by the refused requests
            worker(movies, "movies").run(burst=True)
            assert not set(job_ids) & set(ran["movies"])
            worker(songs, "songs").run(burst=True)
            assert set(job_ids) <= set(ran["songs"])
        finally:
            keys = [movies.key, movies.key + "2", songs.key]
            driver.execute_query("MATCH (j:AlignmentJob) WHERE j.id IN $ids OR j.scope IN $keys DELETE j",
                                 ids=job_ids, keys=keys)
            driver.execute_query("MATCH (s:KgnWorkerScope) WHERE s.key IN $keys DELETE s", keys=keys)


def test_unknown_job_is_a_clear_error(driver: neo4j.Driver) -> None:
    with pytest.raises(neo4j.exceptions.ClientError, match="no alignment job with id 'missing-job'"):
        driver.execute_query("CALL kgn.job('missing-job') YIELD jobId RETURN jobId")


def test_change_capture_queues_one_job_per_transaction(driver: neo4j.Driver, tag: str) -> None:
    quiet(driver)
    started = driver.execute_query("RETURN datetime() AS t").records[0]["t"]
    created = driver.execute_query(
        "CREATE (a:Entity {graph: $g, key: 'a', name: 'Alpha'}), (b:Entity {graph: $g, key: 'b'}) "
        "RETURN elementId(a) AS a, elementId(b) AS b", g=tag).records[0]
    jobs = changed_jobs_with(driver, created["a"], wait=10, captured_by="kgn-plugin", since=started)
    try:
        assert len(jobs) == 1
        params = json.loads(jobs[0]["params"])
        assert set(params["nodeIds"]) == {created["a"], created["b"]} and params["total"] == 2
        assert jobs[0]["status"] == "queued"
        # a relationship between them: one job naming both ends
        driver.execute_query("MATCH (a {graph: $g, key: 'a'}), (b {graph: $g, key: 'b'}) "
                             "CREATE (a)-[:KNOWS]->(b)", g=tag)
        assert _until(lambda: len(changed_jobs_with(driver, created["b"], captured_by="kgn-plugin", since=started)) == 2)
        # the relationship deleted, a property removed: each one more job naming what lost it
        driver.execute_query("MATCH ({graph: $g, key: 'a'})-[r:KNOWS]->() DELETE r", g=tag)
        assert _until(lambda: len(changed_jobs_with(driver, created["b"], captured_by="kgn-plugin", since=started)) == 3)
        assert len(changed_jobs_with(driver, created["a"], captured_by="kgn-plugin", since=started)) == 3
        driver.execute_query("MATCH (a {graph: $g, key: 'a'}) REMOVE a.name", g=tag)
        assert _until(lambda: len(changed_jobs_with(driver, created["a"], captured_by="kgn-plugin", since=started)) == 4)
        assert len(changed_jobs_with(driver, created["b"], captured_by="kgn-plugin", since=started)) == 3
        # kgn-align's own kinds of write queue nothing: SAME_AS edges, the sampler's hash, its
        # bookkeeping nodes edited by hand (a configuration's registration queued a job naming it)
        before = jobs_count(driver)
        driver.execute_query("MATCH (a {graph: $g, key: 'a'}), (b {graph: $g, key: 'b'}) "
                             "CREATE (a)-[:SAME_AS {score: 0.9}]->(b) SET a.kgnHash = 7", g=tag)
        driver.execute_query("CREATE (:KgnWorkerScope {key: $g, name: $g}), (:KgnBackfillRun {id: $g})", g=tag)
        driver.execute_query("MATCH (s:KgnWorkerScope {key: $g}) SET s.name = 'renamed'", g=tag)
        driver.execute_query("MATCH (n) WHERE n:KgnWorkerScope AND n.key = $g OR n:KgnBackfillRun AND n.id = $g "
                             "DELETE n", g=tag)
        time.sleep(1.5)
        assert jobs_count(driver) == before
    finally:
        driver.execute_query("MATCH (j:AlignmentJob {kind: 'changed'}) WHERE j.params CONTAINS $a "
                             "OR j.params CONTAINS $b DELETE j", a=created["a"], b=created["b"])


def test_a_review_queues_a_job_naming_both_ends(driver: neo4j.Driver, tag: str) -> None:
    """A person's verdict on a SAME_AS edge (set, changed, removed, or the edge deleted with
    one) re-aligns both ends; a SAME_AS edge without a review, or a 'review' on another
    type, queues nothing."""
    quiet(driver)
    started = driver.execute_query("RETURN datetime() AS t").records[0]["t"]
    ends = driver.execute_query(
        "CREATE (a:Entity {graph: $g, key: 's'})-[:SAME_AS {score: 0.8, model: 'm'}]->"
        "(b:Entity {graph: $g, key: 't'}) RETURN elementId(a) AS a, elementId(b) AS b", g=tag).records[0]

    def jobs_naming(n: int) -> bool:
        """Whether ``n`` jobs name each end (two reads: a job may land between them)."""
        return all(len(changed_jobs_with(driver, ends[e], captured_by="kgn-plugin", since=started)) == n
                   for e in "ab")

    edge = "MATCH ({graph: $g, key: 's'})-[r:SAME_AS]->({graph: $g, key: 't'}) "
    try:
        assert _until(lambda: jobs_naming(1))  # the nodes' creation
        for n, change in enumerate(["SET r.review = 'rejected'", "SET r.review = 'accepted'",
                                    "REMOVE r.review", "SET r.review = 'accepted'", "DELETE r"], start=2):
            driver.execute_query(edge + change, g=tag)
            assert _until(lambda: jobs_naming(n)), f"{change} queued no job naming both ends"
        # neither a model's score on a SAME_AS edge nor a 'review' on another type is a verdict
        before = jobs_count(driver)
        driver.execute_query("MATCH (a {graph: $g, key: 's'}), (b {graph: $g, key: 't'}) "
                             "CREATE (a)-[:SAME_AS {score: 0.7}]->(b)", g=tag)
        driver.execute_query(edge + "SET r.score = 0.9", g=tag)
        time.sleep(1.5)
        assert jobs_count(driver) == before
    finally:
        driver.execute_query("MATCH (j:AlignmentJob {kind: 'changed'}) WHERE j.params CONTAINS $a "
                             "OR j.params CONTAINS $b DELETE j", a=ends["a"], b=ends["b"])


def test_kgn_align_transactions_queue_nothing(driver: neo4j.Driver, servers, tag: str) -> None:
    """Writes through kgn-align (a load here) carry transaction metadata the capture skips."""
    before = quiet(driver)
    # a node created now may reuse the id of a node an earlier test deleted, named by that
    # test's jobs (CI, 2026-12-01: a finished 'changed' job of 389 ids): only newer jobs count
    started = driver.execute_query("RETURN datetime() AS t").records[0]["t"]
    graph: Graph = servers.graph("neo4j")
    graph.write("load_nodes", {"graph": tag, "load_id": "x", "rows": [{"key": "1", "props": {"name": "n"}}]},
                {"label": "Entity"})
    element = driver.execute_query("MATCH (n {graph: $g}) RETURN elementId(n) AS id", g=tag).records[0]["id"]
    time.sleep(1.5)
    assert changed_jobs_with(driver, element, since=started) == [] and jobs_count(driver) == before


def test_apoc_trigger_alternative_queues_jobs(driver: neo4j.Driver, tag: str) -> None:
    """plugin/apoc_triggers.cypher as documented, on the APOC Core the project installs.

    APOC runs an 'afterAsync' trigger on a thread pool and drops a run now and then (about 1 in
    100 of quick successive writes here, nothing logged; the plugin's capture missed none of
    450 in the same loop), so each kind of change gets three tries, on a fresh node each.
    """
    def apoc_jobs(element: str) -> int:
        return len(changed_jobs_with(driver, element, captured_by="apoc-trigger"))

    def create() -> str:
        return driver.execute_query("CREATE (n:Entity {graph: $g, key: randomUUID(), name: 'n'}) "
                                    "RETURN elementId(n) AS id", g=tag).records[0]["id"]

    def queues_a_job(change: str) -> bool:
        for _ in range(3):
            element = create()
            if not _until(lambda: apoc_jobs(element) == 1, seconds=5):
                continue
            driver.execute_query(f"MATCH (n) WHERE elementId(n) = $id {change}", id=element)
            if _until(lambda: apoc_jobs(element) == 2, seconds=5):
                return True
        return False

    driver.execute_query(load_text("apoc_triggers", "plugin"), database_="system")
    try:
        deadline = time.monotonic() + 20  # installs are picked up every apoc.trigger.refresh
        while not changed_jobs_with(driver, create(), wait=3, captured_by="apoc-trigger"):
            assert time.monotonic() < deadline, "the APOC trigger queued no job"
        assert queues_a_job("SET n.name = 'x'"), "a property set queued no job naming the node"
        assert queues_a_job("REMOVE n.name"), "a property removed queued no job naming the node"
        # the new target is a created node; the source is named by the review alone
        assert queues_a_job("CREATE (n)-[r:SAME_AS]->(:Entity {graph: n.graph, key: randomUUID()}) "
                            "SET r.review = 'rejected'"), "a review queued no job naming its source"
    finally:
        driver.execute_query("CALL apoc.trigger.drop('neo4j', 'kgn_align_changes')", database_="system")
        driver.execute_query("MATCH (j:AlignmentJob {kind: 'changed'}) WHERE j.capturedBy IS NOT NULL "
                             "AND j.params CONTAINS $g OR j.capturedBy = 'apoc-trigger' DELETE j", g=tag)
