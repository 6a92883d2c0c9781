"""The worker against a real server: jobs from plain Cypher, leases, retries, stop."""

from __future__ import annotations

import json
import logging
import re
import threading
import time

import pytest

from kgn_align.graph import Graph
from kgn_align.worker import Job, PermanentJobError, RetryPolicy, Worker


def request(graph: Graph, kind: str, params: dict | str | int) -> str:
    """A queued job; ``params`` as JSON text (an int is stored as is: not text at all)."""
    text = params if isinstance(params, (str, int)) else json.dumps(params)
    return graph.write("request_job", {"kind": kind, "params": text}, kind="plugin")[0]["id"]


def job(graph: Graph, job_id: str) -> dict:
    return graph.read("worker_job", {"id": job_id})[0]


def take_over(connection, job_id: str) -> None:
    """Another worker ('thief') takes the job over, as after an expired lease: plain Cypher
    on a connection of its own."""
    import neo4j

    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        drv.execute_query("MATCH (x:AlignmentJob {id: $id}) SET x.worker = 'thief'", id=job_id,
                          database_=connection.database)


def wait_for_lost_lease(j: Job, seconds: float = 10) -> None:
    """Until the worker's heartbeat finds ``j``'s lease lost (or ``seconds`` pass)."""
    deadline = time.monotonic() + seconds
    while not j.lease_lost.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def jobs(graph: Graph):
    """Job ids created by a test; removed afterwards (the queue is shared)."""
    created: list[str] = []
    yield created
    for job_id in created:
        graph.write("worker_delete_job", {"id": job_id})


def test_job_from_plain_cypher_runs_once(graph: Graph, jobs: list[str], namespace: str,
                                        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Job] = []
    jobs.append(request(graph, f"{namespace}echo", {"n": 3}))
    worker = Worker(graph, {f"{namespace}echo": lambda j: seen.append(j) or {"twice": j.params["n"] * 2}})
    with caplog.at_level(logging.WARNING, logger="kgn_align.worker"):
        worker.run(burst=True)
    # the embedded ArcadeDB server captures no change: its worker says so when it starts
    said = [r.getMessage() for r in caplog.records if "no change capture" in r.getMessage()]
    assert len(said) == (1 if graph.dialect.is_embedded else 0), said
    assert [j.params for j in seen] == [{"n": 3}]
    done = job(graph, jobs[0])
    assert done["status"] == "done" and json.loads(done["result"]) == {"twice": 6}
    assert done["attempts"] == 1


def test_transient_failure_retried_then_failed(graph: Graph, jobs: list[str], namespace: str) -> None:
    calls = {"n": 0}

    def flaky(j: Job) -> dict:
        calls["n"] += 1
        raise RuntimeError("server hiccup")

    jobs.append(request(graph, f"{namespace}flaky", {}))
    worker = Worker(graph, {f"{namespace}flaky": flaky}, retry=RetryPolicy(intervals=(0.0, 0.0)))
    worker.run(burst=True)
    record = job(graph, jobs[0])
    assert calls["n"] == 3 and record["status"] == "failed" and record["attempts"] == 3
    assert "server hiccup" in record["error"]


def test_kgn_align_errors_are_recorded_in_words(graph: Graph, jobs: list[str], namespace: str) -> None:
    from kgn_align.errors import GraphError

    def broken(j: Job) -> dict:
        raise GraphError("the graph server closed the connection")

    jobs.append(request(graph, f"{namespace}words", {}))
    Worker(graph, {f"{namespace}words": broken}, retry=RetryPolicy(intervals=(0.0,))).run(burst=True)
    record = job(graph, jobs[0])
    assert record["status"] == "failed" and record["error"] == "the graph server closed the connection"



def test_credentials_refused_mid_job_are_said_to_be_a_stopping_server(graph: Graph, jobs: list[str],
                                                                      namespace: str) -> None:
    """A server that is stopping refuses logins: a job's failure then named the credentials
    first (a trial's user, after 'server stop', was sent to check the password). The worker's
    credentials let it claim the job, so it says the server stopped answering."""
    from kgn_align.errors import CredentialsRefused

    def refused(j: Job) -> dict:
        raise CredentialsRefused("bolt://x: the server refused the credentials (check NEO4J_USER ...)")

    jobs.append(request(graph, f"{namespace}refused", {}))
    Worker(graph, {f"{namespace}refused": refused}, retry=RetryPolicy(intervals=(0.0,))).run(burst=True)
    record = job(graph, jobs[0])
    assert record["status"] == "failed" and record["error"].startswith(
        "the graph server stopped answering, most likely stopping or restarting (bolt://x: the server "
        "refused the credentials"), record["error"]


def test_permanent_failure_not_retried_and_unknown_kinds_left_alone(graph: Graph, jobs: list[str], namespace: str) -> None:
    def bad(j: Job) -> dict:
        raise PermanentJobError("no such entity type 'Moovie'")

    jobs.append(request(graph, f"{namespace}bad", {}))
    Worker(graph, {f"{namespace}bad": bad}).run(burst=True)
    assert job(graph, jobs[0])["status"] == "failed" and job(graph, jobs[0])["attempts"] == 1
    jobs.append(request(graph, f"{namespace}nobody-handles-this", {}))
    Worker(graph, {f"{namespace}bad": bad}).run(burst=True)
    assert job(graph, jobs[1])["status"] == "queued"  # for a worker that knows the kind


def test_expired_lease_is_taken_over_not_lost(graph: Graph, jobs: list[str], namespace: str) -> None:
    kind = f"{namespace}slow"
    jobs.append(request(graph, kind, {}))
    dead = Worker(graph, {kind: lambda j: {}}, lease_seconds=0.05, name="dead-worker")
    claimed = dead.claim()  # claims, then "dies" without finishing or renewing
    assert claimed is not None and claimed.id == jobs[0]
    import time
    time.sleep(0.2)
    ran: list[str] = []
    Worker(graph, {kind: lambda j: ran.append(j.id) or {}}, name="rescuer").run(burst=True)
    record = job(graph, jobs[0])
    assert ran == [jobs[0]] and record["status"] == "done" and record["worker"] == "rescuer"
    assert record["attempts"] == 2


def test_a_new_worker_says_which_job_a_live_lease_holds(graph: Graph, jobs: list[str], namespace: str,
                                                         caplog) -> None:
    """After a crash the dead worker's job waits for its lease to run out: the new worker
    says so at start instead of waiting in silence, and leaves the job alone until then."""
    import logging

    kind = f"{namespace}held"
    jobs.append(request(graph, kind, {}))
    assert Worker(graph, {kind: lambda j: {}}, lease_seconds=60, name="crashed-worker").claim() is not None
    ran: list[str] = []
    with caplog.at_level(logging.INFO, logger="kgn_align.worker"):
        Worker(graph, {kind: lambda j: ran.append(j.id) or {}}, name="restarted").run(burst=True)
    assert ran == [] and job(graph, jobs[0])["worker"] == "crashed-worker"
    said = [r.getMessage() for r in caplog.records if jobs[0] in r.getMessage()]
    assert len(said) == 1 and "held by worker crashed-worker until " in said[0], said
    # a burst worker does not wait for the lease: it says who will take the job over
    assert said[0].endswith("a worker running then takes it over (this one, in a burst, does not "
                            "wait for it)"), said


def test_a_job_whose_worker_dies_in_each_attempt_is_failed_not_retried_forever(
        graph: Graph, jobs: list[str], namespace: str) -> None:
    """A job that takes its worker down (killed, out of memory) was claimed again after each
    lease ran out, attempts growing without end: after the retry policy's attempts it is
    failed, saying why, with an outcome of its own (the CLI's job line), as any claimed job."""
    import time

    kind = f"{namespace}deadly"
    jobs.append(request(graph, kind, {}))
    policy = RetryPolicy(intervals=(0.0, 0.0))  # three attempts
    for attempt in range(1, 4):  # three workers claim it and "die" with it
        claimed = Worker(graph, {kind: lambda j: {}}, lease_seconds=0.05, retry=policy).claim()
        assert claimed is not None and claimed.attempts == attempt
        time.sleep(0.2)
    ran: list[str] = []
    outcomes: list = []
    last = Worker(graph, {kind: lambda j: ran.append(j.id) or {}}, retry=policy, on_outcome=outcomes.append)
    assert last.run(burst=True) == 0 and ran == []
    record = job(graph, jobs[0])
    assert record["status"] == "failed" and record["attempts"] == 4
    assert record["error"].startswith("abandoned: the worker running it stopped during each of its 3 "
                                      "attempts"), record["error"]
    assert [(o.id, o.status, o.error) for o in outcomes] == [(jobs[0], "failed", record["error"])]
    assert last.failed_unrun == 0  # counted by its outcome, not twice


def test_two_workers_never_run_the_same_job(graph: Graph, jobs: list[str], namespace: str) -> None:
    kind = f"{namespace}count"
    for i in range(6):
        jobs.append(request(graph, kind, {"i": i}))
    ran: list[int] = []
    lock = threading.Lock()

    def handler(j: Job) -> dict:
        with lock:
            ran.append(j.params["i"])
        return {}

    workers = [Worker(graph, {kind: handler}, name=f"w{k}") for k in range(2)]
    threads = [threading.Thread(target=w.run, kwargs={"burst": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(ran) == list(range(6))


def test_queued_jobs_run_together_with_the_one_claimed(graph: Graph, jobs: list[str], namespace: str,
                                                        monkeypatch) -> None:
    """Change capture queues a job per transaction: five small writes were five re-alignments
    one after another. Jobs of a kind given ``together`` run as one with the job claimed
    (params merged); each is recorded done, the others naming the job they ran with. Jobs
    whose params do not merge (other settings; bad params) are left to a claim of their own."""
    from kgn_align.jobs import merge_changed

    kind = f"{namespace}changed"
    for i in range(5):
        jobs.append(request(graph, kind, {"nodeIds": [f"n{i}", "shared"]}))
    jobs.append(request(graph, kind, {"nodeIds": ["other"], "threshold": 0.9}))
    jobs.append(request(graph, kind, {"nodeIds": []}))  # never runs: failed, alone, with why
    seen: list[dict] = []

    def handler(j: Job) -> dict:
        from kgn_align.jobs import parse
        seen.append(j.params)
        parse("changed", j.params)  # the CLI's handlers refuse bad params
        return {"run_id": f"job-{j.id}", "created": len(j.params["nodeIds"])}

    def failing(j: Job) -> dict:
        try:
            return handler(j)
        except Exception as exc:
            raise PermanentJobError(str(exc)) from None

    outcomes = []
    worker = Worker(graph, {kind: failing}, together={kind: merge_changed}, on_outcome=outcomes.append)
    assert worker.run(burst=True) == 7
    assert seen[0] == {"nodeIds": ["n0", "shared", "n1", "n2", "n3", "n4"]}
    assert seen[1:] == [{"nodeIds": ["other"], "threshold": 0.9}, {"nodeIds": []}]
    records = [job(graph, j) for j in jobs]
    assert [r["status"] for r in records] == ["done"] * 6 + ["failed"]
    assert json.loads(records[0]["result"]) == {"run_id": f"job-{jobs[0]}", "created": 6}
    for r in records[1:5]:
        assert json.loads(r["result"]) == {"run_with": jobs[0], "run_id": f"job-{jobs[0]}"}
        assert r["attempts"] == 1
    assert "nodeIds" in records[6]["error"]
    assert [o.id for o in outcomes] == jobs  # a line for each, the ones run together too
    # --max-jobs counts them: a worker asked for two takes one more with the first, no more
    more = [request(graph, kind, {"nodeIds": [f"x{i}"]}) for i in range(4)]
    jobs.extend(more)
    seen.clear()
    assert Worker(graph, {kind: failing}, together={kind: merge_changed}).run(burst=True, max_jobs=2) == 2
    assert seen == [{"nodeIds": ["x0", "x1"]}]
    assert [job(graph, j)["status"] for j in more] == ["done", "done", "queued", "queued"]


def test_jobs_run_together_each_end_with_their_own_status(graph: Graph, jobs: list[str],
                                                         namespace: str) -> None:
    """A passing failure queues each job run together again after its own next delay, or
    fails the one whose tries are spent: each outcome (the CLI's job line) said the lead
    job's status for all of them."""
    from kgn_align.jobs import merge_changed

    kind = f"{namespace}changed"
    policy = RetryPolicy(intervals=(0.0,))  # two attempts

    def hiccup(j: Job) -> dict:
        raise RuntimeError("server hiccup")

    jobs.append(request(graph, kind, {"nodeIds": ["a"]}))
    assert Worker(graph, {kind: hiccup}, retry=policy).run(burst=True, max_jobs=1) == 1  # its first try
    jobs.append(request(graph, kind, {"nodeIds": ["b"]}))
    outcomes: list = []
    worker = Worker(graph, {kind: hiccup}, retry=policy, together={kind: merge_changed},
                    on_outcome=outcomes.append)
    assert worker.run(burst=True, max_jobs=2) == 2  # the two together, once
    assert [(o.id, o.status) for o in outcomes] == [(jobs[0], "failed"), (jobs[1], "queued")]
    assert [(job(graph, j)["status"], job(graph, j)["attempts"]) for j in jobs] == [("failed", 2), ("queued", 1)]


def test_jobs_that_name_no_configuration_reach_the_workers_of_each(graph: Graph, jobs: list[str],
                                                                  namespace: str, caplog) -> None:
    """A second worker, for another pair of graphs in the same database, took the first's
    change jobs and recorded them done with nothing re-aligned (a trial's worst finding).
    A job queued without a scope is adopted by the first worker to look and copied for every
    other configuration whose workers ran: each runs it once, on its own graphs, even one
    stopped when the job was queued; a worker without a scope takes none of them."""
    from kgn_align.loaders import delete_graphs
    from kgn_align.worker import Scope, running_lately

    kind = f"{namespace}changed"
    movies = Scope(key=namespace[5:15] + "aa", name="imdb -> freebase", graphs=(f"{namespace}imdb",))
    songs = Scope(key=namespace[5:15] + "bb", name="itunes -> amazon", graphs=(f"{namespace}itunes",))
    ran: dict[str, list] = {"movies": [], "songs": []}

    def worker(scope: Scope, name: str) -> Worker:
        return Worker(graph, {kind: lambda j: ran[name].append((j.id, j.params)) or {}}, scope=scope)

    songs_worker = worker(songs, "songs")
    songs_worker.register_scope()  # the song pair's worker ran before, and is stopped now
    with caplog.at_level(logging.WARNING, logger="kgn_align.worker"):
        worker(movies, "movies").register_scope()  # its first: what others took before is not its
        worker(movies, "movies").register_scope()  # known now: said once
    # (other tests' configurations may be registered in this database too: counted, not named)
    said = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("the first worker of configuration imdb -> freebase ")]
    assert len(said) == 1, said
    others = re.search(r"changes that workers of the (\d+) other configuration\(s\) took before now", said[0])
    assert others is not None and int(others.group(1)) >= 1, said  # the songs' at least
    jobs.append(request(graph, kind, {"nodeIds": ["n1"]}))
    copy = f"{jobs[0]}.{songs.key}"
    jobs.append(copy)
    assert worker(movies, "movies").run(burst=True) == 1
    # its worker stopped cleanly: 'server stop' and 'clean' no longer say it may still run (a
    # trial's did); one that starts again is said to
    seen = graph.read("worker_scope_seen", {"key": movies.key})
    assert seen[0]["stopped"] >= seen[0]["seen"] and running_lately(seen) == []
    time.sleep(0.01)
    worker(movies, "movies").register_scope()
    assert running_lately(graph.read("worker_scope_seen", {"key": movies.key})) == ["imdb -> freebase"]
    assert Worker(graph, {kind: lambda j: {}}).run(burst=True) == 0  # no scope: adopted jobs are not its
    assert worker(movies, "movies").run(burst=True) == 0  # the copy is the songs' alone
    assert worker(songs, "songs").run(burst=True) == 1
    assert ran == {"movies": [(jobs[0], {"nodeIds": ["n1"]})], "songs": [(copy, {"nodeIds": ["n1"]})]}
    assert [job(graph, j)["status"] for j in jobs] == ["done", "done"]
    # a configuration whose graphs are deleted is forgotten, with the jobs queued for it alone
    jobs.append(request(graph, kind, {"nodeIds": ["n2"]}))
    jobs.append(f"{jobs[2]}.{songs.key}")
    assert worker(movies, "movies").run(burst=True) == 1
    assert job(graph, jobs[3])["status"] == "queued"
    delete_graphs(graph, f"{namespace}itunes")
    assert graph.read("worker_job", {"id": jobs[3]}) == []
    jobs.append(request(graph, kind, {"nodeIds": ["n3"]}))
    assert worker(movies, "movies").run(burst=True) == 1
    assert graph.read("worker_job", {"id": f"{jobs[4]}.{songs.key}"}) == []  # no copy for it now
    # a worker of it still running renews nothing: it says so once and stays forgotten
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kgn_align.worker"):
        songs_worker.register_scope()
        songs_worker.register_scope()
    assert [r.getMessage() for r in caplog.records if "no longer registered" in r.getMessage()] == [
        f"configuration itunes -> amazon (scope {songs.key}) is no longer registered (its graphs were "
        "deleted?): this worker gets no more jobs; stop it, or restart it to register it again"]
    assert graph.read("graph_worker_scopes", {"prefix": f"{namespace}itunes"}) == []
    # nor does it adopt a job meant for every configuration (a trial's failed it on the deleted
    # graphs, under the id the request had returned): the movies' worker takes it
    jobs.append(request(graph, kind, {"nodeIds": ["n3b"]}))
    assert songs_worker.run(burst=True) == 0
    assert job(graph, jobs[-1])["status"] == "queued"
    assert worker(movies, "movies").run(burst=True) == 1 and job(graph, jobs[-1])["status"] == "done"
    # a job naming a run id is one run's, and a run one configuration's: adopted, not copied
    # (a trial's copies failed on every other configuration: "started with other settings")
    worker(songs, "songs").register_scope()
    jobs.append(request(graph, kind, {"nodeIds": ["n4"], "run_id": "one-run"}))
    jobs.append(request(graph, kind, {"nodeIds": ["n5"]}))
    assert worker(movies, "movies").run(burst=True) == 2
    assert graph.read("worker_job", {"id": f"{jobs[-2]}.{songs.key}"}) == []
    assert graph.read("worker_job", {"id": f"{jobs[-1]}.{songs.key}"}) != []  # the other is copied
    jobs.append(f"{jobs[-1]}.{songs.key}")
    delete_graphs(graph, f"{namespace}itunes")
    delete_graphs(graph, f"{namespace}imdb")


def test_stop_request_finishes_current_job(graph: Graph, jobs: list[str], namespace: str) -> None:
    kind = f"{namespace}stop"
    for i in range(3):
        jobs.append(request(graph, kind, {"i": i}))
    holder: dict[str, Worker] = {}

    def handler(j: Job) -> dict:
        holder["w"].request_stop()  # as if SIGTERM arrived mid-job
        return {"finished": True}

    holder["w"] = Worker(graph, {kind: handler})
    assert holder["w"].run() == 1
    statuses = sorted(job(graph, j)["status"] for j in jobs)
    assert statuses == ["done", "queued", "queued"]


def test_a_second_stop_request_hands_the_job_back_at_once(graph: Graph, jobs: list[str],
                                                          namespace: str) -> None:
    """Two Ctrl-C mid-job stop the worker at once; the job goes back to the queue for the
    next worker instead of staying 'running' under a dead worker until its lease ends."""
    kind = f"{namespace}stop-now"
    jobs.append(request(graph, kind, {}))
    holder: dict[str, Worker] = {}

    def handler(j: Job) -> dict:
        holder["w"].request_stop()
        holder["w"].request_stop()  # raises KeyboardInterrupt, as a second SIGINT does
        return {"finished": True}

    holder["w"] = Worker(graph, {kind: handler}, lease_seconds=600)
    with pytest.raises(KeyboardInterrupt):
        holder["w"].run()
    left = job(graph, jobs[0])
    assert left["status"] == "queued" and "stopped during the job" in left["error"]
    # queued again, it has not finished; and a stop is no fault of the job's: the try does
    # not count towards the attempts after which a job is given up (a trial's 'kgn-align
    # jobs' showed "queued  attempts 1 ... finished <time>")
    assert left["finishedAt"] is None and left["attempts"] == 0
    attempts: list[int] = []
    assert Worker(graph, {kind: lambda j: attempts.append(j.attempts) or {}}).run(burst=True) == 1
    assert attempts == [1] and job(graph, jobs[0])["status"] == "done"
    assert job(graph, jobs[0])["finishedAt"] is not None


def test_the_jobs_command_lists_what_the_worker_did(graph: Graph, jobs: list[str], namespace: str,
                                                    connection, tmp_path) -> None:
    """'kgn-align jobs' shows each job's status and, for a failed one, why — without Cypher
    (a new user's trial found none: the plugin's kgn.jobs is Neo4j's alone)."""
    from click.testing import CliRunner

    from kgn_align.cli import cli

    kind = f"{namespace}listed"
    jobs.append(request(graph, kind, {"ok": True}))
    jobs.append(request(graph, kind, "{'threshold': 0.8}"))  # a Python dict's text: not JSON
    assert Worker(graph, {kind: lambda j: {}}).run(burst=True) == 1
    env = {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
           "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}

    def listed(*args: str) -> dict[str, dict]:
        result = CliRunner().invoke(cli, ["--home", str(tmp_path), "jobs", "--json", "--limit", "1000", *args],
                                    env=env)
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        return {r["id"]: r for r in rows if r["kind"] == kind}

    both = listed()
    good, bad = both[jobs[0]], both[jobs[1]]
    assert good["status"] == "done" and good["attempts"] == 1 and good["error"] is None
    assert bad["status"] == "failed" and "not a JSON object" in bad["error"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ?", good["finished"]), good
    assert set(listed("--status", "failed")) == {jobs[1]}
    table = CliRunner().invoke(cli, ["--home", str(tmp_path), "jobs", "--status", "failed", "--limit", "1000"],
                               env=env)
    line = next(x for x in table.stdout.splitlines() if x.startswith(jobs[1]))
    assert f"{kind}  failed  attempts" in line and \
        "error: params are not a JSON object: got \"{'threshold': 0.8}\" (" in line
    # the whole error, what to do at its end (cut at 160 characters, a trial saw none of it)
    assert len(bad["error"]) > 160 and line.endswith(f"error: {bad['error']}")
    assert "job(s) with status 'failed'" in table.stderr
    # a job adopted by one configuration's worker says which
    from kgn_align.loaders import delete_graphs
    from kgn_align.worker import Scope

    scope = Scope(key=namespace[5:15] + "js", name=f"{namespace} pair", graphs=(f"{namespace}listed",))
    scoped = Worker(graph, {kind: lambda j: {}}, scope=scope)
    try:
        scoped.register_scope()
        jobs.append(request(graph, kind, {"ok": 2}))
        assert listed()[jobs[2]]["scope"] is None  # every configuration's, until one adopts it
        assert scoped.run(burst=True) == 1
        row = listed()[jobs[2]]
        assert (row["scope"], row["configuration"], row["status"]) == (scope.key, scope.name, "done")
        table = CliRunner().invoke(cli, ["--home", str(tmp_path), "jobs", "--limit", "1000"], env=env)
        line = next(x for x in table.stdout.splitlines() if x.startswith(jobs[2] + " "))
        assert f"for {scope.name} ({scope.key})" in line
    finally:
        delete_graphs(graph, f"{namespace}listed")  # forgets the configuration


def test_poison_jobs_fail_at_once_and_never_stall_the_queue(graph: Graph, jobs: list[str],
                                                             namespace: str) -> None:
    kind = f"{namespace}work"
    jobs.append(request(graph, kind, "not json"))
    jobs.append(request(graph, kind, "[1, 2]"))
    jobs.append(request(graph, kind, 5))  # a number, not JSON text: the worker died of it
    jobs.append(request(graph, kind, {"ok": True}))
    ran: list[dict] = []
    assert Worker(graph, {kind: lambda j: ran.append(j.params) or {}}).run(burst=True) == 1
    assert ran == [{"ok": True}]
    first, second, number, good = (job(graph, j) for j in jobs)
    assert first["status"] == "failed" and "not a JSON object" in first["error"]
    assert second["status"] == "failed" and first["attempts"] == 1
    assert number["status"] == "failed" and "params are not a JSON object: got int 5 (set j.params to JSON text" \
        in number["error"], number
    assert good["status"] == "done"


def test_jobs_of_unknown_kinds_fail_with_the_reason(graph: Graph, jobs: list[str], namespace: str,
                                                   caplog) -> None:
    import logging

    kind = f"{namespace}known"
    jobs.append(request(graph, f"{namespace}nobody-runs-this", {}))
    jobs.append(request(graph, kind, {}))
    with caplog.at_level(logging.WARNING, logger="kgn_align.worker"):
        Worker(graph, {kind: lambda j: {}}, known_kinds=frozenset({kind})).run(burst=True)
    # each failed job named with its kind and the kinds known (the shared test database may
    # hold other tests' queued jobs: this one need not be among the first five named)
    said = [r.getMessage() for r in caplog.records if "unknown kind" in r.getMessage()]
    assert said and all(re.fullmatch(rf"job \S+: unknown kind '[^']+' \(known: {re.escape(kind)}\): failed", m)
                        or re.fullmatch(r"\d+ more queued jobs of unknown kinds marked failed", m)
                        for m in said), said
    assert any(f"unknown kind '{namespace}nobody-runs-this'" in m for m in said) or len(said) == 6, said
    unknown, known = (job(graph, j) for j in jobs)
    assert unknown["status"] == "failed" and "unknown job kind" in unknown["error"]
    assert f"{namespace}nobody-runs-this" in unknown["error"] and kind in unknown["error"]
    assert known["status"] == "done"


def test_jobs_made_by_hand_without_a_known_status_fail_with_the_reason(
        graph: Graph, jobs: list[str], connection, namespace: str, caplog) -> None:
    """A job node created with plain Cypher but no status, or a status no worker knows
    ('QUEUED'), is never claimed: an idle worker marks it failed and says how to request
    one, and runs the proper jobs as before."""
    import logging

    import neo4j

    kind = f"{namespace}known"
    jobs.append(request(graph, kind, {}))
    jobs.append(f"{namespace}by-hand")
    password = connection.password.get_secret_value() if connection.password else ""
    with neo4j.GraphDatabase.driver(connection.uri, auth=(connection.user, password)) as drv:
        drv.execute_query("CREATE (:AlignmentJob {id: $id, kind: $kind, params: '{}'})", id=jobs[-1], kind=kind)
        jobs.append(f"{namespace}shouting")
        drv.execute_query("CREATE (:AlignmentJob {id: $id, kind: $kind, params: '{}', status: 'QUEUED', "
                          "requestedAt: datetime()})", id=jobs[-1], kind=kind)
    the_worker = Worker(graph, {kind: lambda j: {}}, known_kinds=frozenset({kind}))
    with caplog.at_level(logging.WARNING, logger="kgn_align.worker"):
        the_worker.run(burst=True)
    proper, by_hand, shouting = (job(graph, j) for j in jobs)
    assert proper["status"] == "done"
    assert by_hand["status"] == "failed" and "kgn.requestAlignment" in by_hand["error"]
    assert f"job {namespace}by-hand (kind '{kind}') has no status" in caplog.text
    assert shouting["status"] == "failed" and "unknown status" in shouting["error"]
    assert "'queued'" in shouting["error"] and "kgn.requestAlignment" in shouting["error"]
    assert f"job {namespace}shouting (kind '{kind}') has status 'QUEUED'" in caplog.text
    assert the_worker.failed_unrun == 2
    # one made while the worker runs is failed at an idle moment soon after (the check ran
    # with the hourly housekeeping: a trial's waited), not an hour later
    jobs.append(f"{namespace}later")
    with neo4j.GraphDatabase.driver(connection.uri, auth=(connection.user, password)) as drv:
        drv.execute_query("CREATE (:AlignmentJob {id: $id, kind: $kind, params: '{}', status: 'Queued', "
                          "requestedAt: datetime()})", id=jobs[-1], kind=kind)
    the_worker.status_check_seconds = 0.0  # (a minute by default)
    the_worker.run(burst=True)
    assert job(graph, jobs[-1])["status"] == "failed" and the_worker.failed_unrun == 3


def test_jobs_made_by_hand_without_a_string_id_or_with_runaway_params_fail_and_stop_no_worker(
        graph: Graph, jobs: list[str], connection, namespace: str, caplog) -> None:
    """A queued job node made by hand without an id, or with a number for one, was claimed
    and then stopped the worker (its record needs the id as text), every worker after it
    too; params nested thousands deep did the same (a code review found both). Now the
    claim passes the id-less over and an idle worker fails them saying why; the runaway
    params fail their job alone. The proper job runs either way."""
    import logging

    import neo4j

    kind = f"{namespace}ids"
    jobs.append(request(graph, kind, {}))
    jobs.append(request(graph, kind, "[" * 50_000 + "]" * 50_000))
    password = connection.password.get_secret_value() if connection.password else ""
    with neo4j.GraphDatabase.driver(connection.uri, auth=(connection.user, password)) as drv:
        try:
            drv.execute_query("CREATE (:AlignmentJob {kind: $kind, params: '{}', status: 'queued', "
                              "requestedAt: datetime() - duration('PT1H')}), "
                              "(:AlignmentJob {id: 7, kind: $kind, params: '{}', status: 'queued', "
                              "requestedAt: datetime() - duration('PT1H')})", kind=kind)
            the_worker = Worker(graph, {kind: lambda j: {}}, known_kinds=frozenset({kind}))
            with caplog.at_level(logging.WARNING, logger="kgn_align.worker"):
                the_worker.run(burst=True)
            proper, runaway = (job(graph, j) for j in jobs)
            assert proper["status"] == "done"
            assert runaway["status"] == "failed" and "nested too deeply" in runaway["error"]
            by_hand = drv.execute_query("MATCH (j:AlignmentJob {kind: $kind}) WHERE j.id IS NULL OR j.id = 7 "
                                        "RETURN j.id AS id, j.status AS status, j.error AS error ORDER BY id",
                                        kind=kind).records
            assert [(r["id"], r["status"]) for r in by_hand] == [(7, "failed"), (None, "failed")]
            assert all("kgn.requestAlignment" in r["error"] and "no id" in r["error"] for r in by_hand)
            assert f"job (no id) (kind '{kind}') has no id so no worker would run it" in caplog.text
            assert f"job 7 (kind '{kind}') has id 7, not a string, so no worker would run it" in caplog.text
            assert the_worker.failed_unrun == 2
        finally:
            drv.execute_query("MATCH (j:AlignmentJob {kind: $kind}) WHERE j.id IS NULL OR j.id = 7 DELETE j",
                              kind=kind)


def test_a_worker_busy_with_a_long_job_keeps_its_configuration_registered(
        graph: Graph, jobs: list[str], namespace: str, connection) -> None:
    """The registration that 'clean' and other configurations' workers read was renewed only
    when the worker was idle: a backfill of hours let it lapse. The job's heartbeat renews it
    when due."""
    from kgn_align.worker import Scope

    kind = f"{namespace}long"
    pair = Scope(key=namespace[5:15] + "lg", name=f"{namespace} long pair", graphs=(f"{namespace}long",))
    seen: list[int] = []

    def long_job(job: Job) -> dict:
        seen.append(graph.read("worker_scope_seen", {"key": pair.key})[0]["seen"])
        time.sleep(1.0)  # a few heartbeats
        seen.append(graph.read("worker_scope_seen", {"key": pair.key})[0]["seen"])
        return {}

    the_worker = Worker(graph, {kind: long_job}, lease_seconds=0.6, scope=pair)
    the_worker.register_scope()
    the_worker.scope_seconds = 0.0  # (an hour by default)
    jobs.append(request(graph, kind, {}))
    import neo4j

    password = connection.password.get_secret_value() if connection.password else ""
    with neo4j.GraphDatabase.driver(connection.uri, auth=(connection.user, password)) as drv:
        drv.execute_query("MATCH (j:AlignmentJob {id: $id}) SET j.scope = $scope", id=jobs[-1], scope=pair.key)
    the_worker.run(max_jobs=1)
    assert job(graph, jobs[-1])["status"] == "done"
    started, ended = seen
    assert ended > started  # renewed while the job ran


def test_a_job_for_no_known_configuration_fails_with_the_reason(
        graph: Graph, jobs: list[str], connection, namespace: str, caplog, tmp_path) -> None:
    """A job created by plain Cypher whose scope names no worker configuration (a misspelt
    key, or the configuration's name where its key belongs) was never claimed and stayed
    queued in silence (a new user's trial): an idle worker marks it failed, naming the key of
    a configuration whose name it gives, and leaves the jobs of known configurations alone."""
    import neo4j

    from kgn_align.loaders import delete_graphs
    from kgn_align.worker import Scope

    kind = f"{namespace}scoped"
    pair = Scope(key=namespace[5:15] + "sc", name=f"{namespace} scoped pair", graphs=(f"{namespace}scoped",))
    mine = Worker(graph, {kind: lambda j: {}}, known_kinds=frozenset({kind}), scope=pair)
    mine.register_scope()
    password = connection.password.get_secret_value() if connection.password else ""
    made = {"typo": pair.key + "x", "by-name": pair.name, "right": pair.key}
    with neo4j.GraphDatabase.driver(connection.uri, auth=(connection.user, password)) as drv:
        for what, scope in made.items():
            jobs.append(f"{namespace}{what}")
            drv.execute_query("CREATE (:AlignmentJob {id: $id, kind: $kind, params: '{}', status: 'queued', "
                              "scope: $scope, requestedAt: datetime()})", id=jobs[-1], kind=kind, scope=scope)
    from click.testing import CliRunner

    from kgn_align.cli import cli

    listed = CliRunner().invoke(cli, ["--home", str(tmp_path), "jobs", "--status", "queued", "--limit", "1000"],
                                env={"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
                                     "NEO4J_PASSWORD": password})
    line = next(x for x in listed.stdout.splitlines() if x.startswith(jobs[0] + " "))
    assert line.endswith(f"for no known configuration ({pair.key}x: no worker will run it)"), line
    other = Worker(graph, {f"{namespace}other": lambda j: {}}, known_kinds=frozenset({kind}))
    with caplog.at_level(logging.WARNING, logger="kgn_align.worker"):
        other.run(burst=True)  # a worker of no configuration, running none of these: it sweeps
    typo, by_name, right = (job(graph, j) for j in jobs)
    assert typo["status"] == "failed" and by_name["status"] == "failed", (typo, by_name)
    assert typo["error"].startswith(f"scope '{pair.key}x' is no worker configuration of this database (known: ")
    assert f"{pair.key} = {pair.name}" in typo["error"]
    assert f"that is the name of {pair.key}: set the key" in by_name["error"]
    assert "kgn.requestAlignment(kind, params, configuration)" in by_name["error"]
    assert f"job {namespace}typo (kind '{kind}'): marked failed: scope '{pair.key}x'" in caplog.text
    assert right["status"] == "queued" and other.failed_unrun == 2
    listed = CliRunner().invoke(cli, ["--home", str(tmp_path), "jobs", "--status", "failed", "--limit", "1000"],
                                env={"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
                                     "NEO4J_PASSWORD": password})
    line = next(x for x in listed.stdout.splitlines() if x.startswith(jobs[0] + " "))
    assert f"for no known configuration ({pair.key}x)  error: scope '{pair.key}x'" in line, line  # ended: no 'will run'
    assert mine.run(burst=True) == 1 and job(graph, jobs[-1])["status"] == "done"
    delete_graphs(graph, f"{namespace}scoped")


def test_a_scoped_job_fails_saying_so_where_no_configuration_is_registered(
        graph: Graph, jobs: list[str], connection, namespace: str) -> None:
    """On a database where no configured worker ever ran (no KgnWorkerScope at all: library
    Workers without a scope), a job requested for a configuration was left queued in silence:
    the check collected the OPTIONAL MATCH's null row as one known configuration, and every
    job's test against it was null. An idle worker now fails it, saying to start one."""
    import neo4j

    kind = f"{namespace}unscoped"
    password = connection.password.get_secret_value() if connection.password else ""
    with neo4j.GraphDatabase.driver(connection.uri, auth=(connection.user, password)) as drv:
        kept = [r["p"] for r in drv.execute_query("MATCH (s:KgnWorkerScope) RETURN properties(s) AS p").records]
        drv.execute_query("MATCH (s:KgnWorkerScope) DELETE s")
        try:
            jobs.append(f"{namespace}for-none")
            drv.execute_query("CREATE (:AlignmentJob {id: $id, kind: $kind, params: '{}', status: 'queued', "
                              "scope: 'abc123', requestedAt: datetime()})", id=jobs[-1], kind=kind)
            other = Worker(graph, {f"{namespace}other": lambda j: {}}, known_kinds=frozenset({kind}))
            other.run(burst=True)
            failed = job(graph, jobs[-1])
        finally:
            drv.execute_query("UNWIND $kept AS p CREATE (s:KgnWorkerScope) SET s += p", kept=kept)
    assert failed["status"] == "failed", failed
    assert failed["error"].startswith("scope 'abc123' is no worker configuration of this database "
                                      "(none registered: start kgn-align worker first)"), failed["error"]
    assert other.failed_unrun == 1


def test_cli_worker_refuses_bad_params_before_any_work(graph: Graph, jobs: list[str], connection,
                                                       namespace: str, tmp_path) -> None:
    from click.testing import CliRunner

    from kgn_align import datasets, loaders
    from kgn_align.cli import cli

    loaders.load_kg(graph, datasets.read_kg("srprs_en_fr").slice(20), prefix=namespace)
    jobs.append(request(graph, "backfill", {"treshold": 0.99, "k": -5, "dataset": "nope"}))
    jobs.append(request(graph, "backfill", {"threshold": True}))
    jobs.append(request(graph, "changed", {"nodeIds": ["4:x:1"], "total": "abc"}))
    env = {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
           "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}
    # no model exists under this home: parameters are refused before a model is looked for
    ran = CliRunner().invoke(cli, ["--home", str(tmp_path), "worker", "--burst", "--dataset",
                                   "srprs_en_fr", "--prefix", namespace], env=env)
    assert ran.exit_code == 1, ran.output  # a burst whose jobs failed says so by its status
    bad_keys, bad_bool, bad_total = (job(graph, j) for j in jobs)
    assert bad_keys["status"] == "failed" and bad_keys["attempts"] == 1
    assert "unknown key 'treshold' (did you mean 'threshold'?)" in bad_keys["error"]
    assert "unknown key 'dataset' (known: k, policy, run_id, threshold)" in bad_keys["error"]
    assert "k:" in bad_keys["error"]
    assert bad_bool["status"] == "failed" and "threshold" in bad_bool["error"]
    assert bad_total["status"] == "failed" and "total" in bad_total["error"]
    # one line per finished job on stdout: the local time (as on the worker's log lines beside
    # them), id, kind, status, seconds, edges created
    lines = [line for line in ran.stdout.splitlines() if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d job ", line)]
    assert len(lines) == 3, ran.stdout
    for line, (job_id, kind) in zip(lines, zip(jobs, ("backfill", "backfill", "changed"))):
        assert line[20:].startswith(f"job {job_id} {kind}: failed in "), line
        assert " s: bad params for a " in line and "edges:" not in line and "\n" not in line
    assert "unknown key 'treshold'" in lines[0]
    assert ran.stdout.strip().endswith("worker stopped after 3 job(s), 3 failed")


def test_cli_worker_max_jobs_stops_after_that_many_and_says_if_they_failed(
        graph: Graph, jobs: list[str], connection, namespace: str, tmp_path) -> None:
    """--max-jobs N is a batch run, as --burst is: it exits after N jobs, with status 1 when
    one of them did not get done, and leaves the rest queued."""
    import re

    from click.testing import CliRunner

    from kgn_align import datasets, loaders
    from kgn_align.cli import cli

    loaders.load_kg(graph, datasets.read_kg("srprs_en_fr").slice(20), prefix=namespace)
    jobs.extend(request(graph, "backfill", {"treshold": 0.5}) for _ in range(2))
    env = {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
           "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}
    ran = CliRunner().invoke(cli, ["--home", str(tmp_path), "worker", "--max-jobs", "1", "--no-warm",
                                   "--dataset", "srprs_en_fr", "--prefix", namespace], env=env)
    assert ran.exit_code == 1, ran.output
    assert re.search(r"worker stopped after 1 job\(s\), 1 (failed|queued again)$", ran.stdout.strip()), ran.stdout
    assert [job(graph, j)["status"] for j in jobs].count("queued") >= 1


def test_cli_worker_refuses_a_model_that_is_not_there_before_taking_a_job(
        graph: Graph, jobs: list[str], connection, namespace: str, tmp_path) -> None:
    """--model naming no checkpoint stops the worker at start, as backfill does; without
    --model and nothing trained yet it starts (the first training is picked up later)."""
    from click.testing import CliRunner

    from kgn_align import datasets, loaders
    from kgn_align.cli import cli

    loaders.load_kg(graph, datasets.read_kg("srprs_en_fr").slice(20), prefix=namespace)
    jobs.append(request(graph, "backfill", {"threshold": 0.5}))
    env = {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
           "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}
    ran = CliRunner().invoke(cli, ["--home", str(tmp_path), "worker", "--burst", "--dataset", "srprs_en_fr",
                                   "--prefix", namespace, "--model", "nosuchmodel"], env=env)
    assert ran.exit_code == 1, ran.output
    assert "no checkpoint" in ran.output and "nosuchmodel" in ran.output and "Traceback" not in ran.output
    queued = job(graph, jobs[0])
    assert queued["status"] == "queued" and queued["attempts"] == 0


def test_a_worker_that_lost_its_lease_stops_before_writing(graph: Graph, jobs: list[str],
                                                            namespace: str, connection) -> None:
    kind = f"{namespace}lease"
    jobs.append(request(graph, kind, {}))
    wrote: list[str] = []

    def handler(j: Job) -> dict:
        take_over(connection, j.id)  # while this one works
        wait_for_lost_lease(j)
        j.check_lease()  # what run_backfill does before each batch it writes
        wrote.append(j.id)
        return {}

    worker = Worker(graph, {kind: handler}, lease_seconds=0.3, name="me")
    claimed = worker.claim()
    assert claimed is not None and claimed.id == jobs[0]
    assert worker.execute(claimed) == "lost" and wrote == []
    assert job(graph, jobs[0])["worker"] == "thief"


def test_jobs_run_together_go_back_to_the_queue_when_one_lease_is_lost(
        graph: Graph, jobs: list[str], namespace: str, connection) -> None:
    """Another worker takes over one of the jobs run together (its lease expired): the run
    stops before its next write, and the others, still this worker's, stayed claimed until
    their own lease ran out, then counted a try more (a code review). They are queued again
    at once now, their try not counted."""
    from kgn_align.jobs import merge_changed

    kind = f"{namespace}changed"
    jobs.append(request(graph, kind, {"nodeIds": ["a"]}))
    jobs.append(request(graph, kind, {"nodeIds": ["b"]}))

    def handler(j: Job) -> dict:
        take_over(connection, j.id)
        wait_for_lost_lease(j)
        j.check_lease()
        return {}

    outcomes: list = []
    worker = Worker(graph, {kind: handler}, lease_seconds=0.3, name="me", together={kind: merge_changed},
                    on_outcome=outcomes.append)
    claimed = worker.claim()
    assert claimed is not None and claimed.id == jobs[0] and [c.id for c in claimed.companions] == [jobs[1]]
    assert worker.execute(claimed) == "lost"
    lead, companion = (job(graph, j) for j in jobs)
    assert lead["worker"] == "thief" and lead["status"] == "running"  # the other's
    assert companion["status"] == "queued" and companion["attempts"] == 0, companion
    assert [(o.id, o.status) for o in outcomes] == [(jobs[0], "lost"), (jobs[1], "queued")]


def test_a_job_another_worker_took_meanwhile_is_not_reported_done(graph: Graph, jobs: list[str],
                                                                   namespace: str, connection, caplog) -> None:
    """A handler that never checks its lease can end after another worker took the job over:
    the outcome was not recorded (the job is the other's), yet this worker reported it done,
    in silence. It says so now, and counts the job as lost."""
    kind = f"{namespace}taken"
    jobs.append(request(graph, kind, {}))

    def handler(j: Job) -> dict:  # taken over before the heartbeat looks
        take_over(connection, j.id)
        return {"wrote": 1}

    worker = Worker(graph, {kind: handler}, lease_seconds=60, name="me")
    claimed = worker.claim()
    assert claimed is not None and claimed.id == jobs[0]
    with caplog.at_level(logging.WARNING, logger="kgn_align.worker"):
        assert worker.execute(claimed) == "lost"
    assert f"job {jobs[0]} ended (done) but is no longer this worker's" in caplog.text
    record = job(graph, jobs[0])
    assert record["worker"] == "thief" and record["status"] == "running"  # the other's to record


def test_a_closed_driver_is_a_broken_connection_and_the_worker_reconnects(
        graph: Graph, jobs: list[str], namespace: str, connection, caplog) -> None:
    """A driver closed under the worker is transient by its type (ConnectionBroken): the
    worker reconnects through ``connect`` and runs the job, reports it once, and says that
    the server answers again (its last words were that it did not)."""
    import logging

    from kgn_align.errors import ConnectionBroken
    from kgn_align.worker import JobOutcome

    closed = Graph(connection)
    closed.close()
    with pytest.raises(ConnectionBroken, match="connection broke"):
        closed.read("worker_job", {"id": "none"})
    kind = f"{namespace}after-close"
    jobs.append(request(graph, kind, {}))
    fresh: list[Graph] = []
    outcomes: list[JobOutcome] = []

    def connect() -> Graph:
        fresh.append(Graph(connection))
        return fresh[-1]

    worker = Worker(closed, {kind: lambda j: {"created": 2}}, poll_seconds=0.1, connect=connect,
                    on_outcome=outcomes.append)
    try:
        with caplog.at_level(logging.INFO, logger="kgn_align.worker"):
            assert worker.run(burst=True) == 1
    finally:
        for g in fresh:
            g.close()
    assert len(fresh) == 1 and worker.graph is fresh[0]
    said = [r.getMessage() for r in caplog.records if r.name == "kgn_align.worker"]
    away = next(i for i, m in enumerate(said) if m.startswith("claiming a job failed: the graph server is away"))
    assert "the graph server answers again: claiming a job went through, the worker goes on" in said[away + 1:]
    assert job(graph, jobs[0])["status"] == "done"
    (outcome,) = outcomes
    assert (outcome.id, outcome.kind, outcome.status, outcome.result) == (jobs[0], kind, "done", {"created": 2})
    assert 0 <= outcome.seconds < 30 and outcome.error is None


def test_reconnect_closes_the_old_graph_once(connection, tmp_path, monkeypatch) -> None:
    """The worker's connect (App.reconnect) owns the graphs it makes; the worker closes none."""
    from collections import Counter

    from kgn_align.cli import App

    app = App(config_path=None, home=tmp_path, connection=connection, datasets=None)
    first = app.graph()
    closes: Counter[int] = Counter()
    close = Graph.close

    def counted(self: Graph) -> None:
        closes[id(self)] += 1
        close(self)

    monkeypatch.setattr(Graph, "close", counted)
    worker = Worker(first, {}, connect=app.reconnect)
    worker.reconnect()
    try:
        assert worker.graph is app.graph() and worker.graph is not first
        assert closes[id(first)] == 1
        assert worker.graph.read("worker_job", {"id": "none"}) == []  # the new one works
    finally:
        app.close()
    assert closes[id(worker.graph)] == 1


def test_finished_jobs_and_runs_are_pruned_after_their_retention(graph: Graph, connection, namespace: str,
                                                                 tmp_path) -> None:
    """A worker deletes jobs that finished, and backfill runs that completed, longer ago than
    its retention, when idle; queued and running jobs and unfinished runs stay whatever
    their age. 'clean --only-bookkeeping DAYS' does the same on demand, and nothing else."""
    from datetime import datetime, timedelta, timezone

    import neo4j
    from click.testing import CliRunner

    from kgn_align.cli import cli
    from kgn_align.jobs import prune_finished

    old = datetime.now(timezone.utc) - timedelta(days=10)
    password = connection.password.get_secret_value() if connection.password else ""
    made: list[str] = []
    with neo4j.GraphDatabase.driver(connection.uri, auth=(connection.user, password)) as drv:
        def make(label: str, status: str, finished: bool = True, now: bool = False) -> str:
            made.append(f"{namespace}{len(made)}")
            at = "datetime()" if now else "$old"
            drv.execute_query(f"CREATE (n:{label} {{id: $id, kind: $kind, status: $status, requestedAt: $old"
                              + (f", finishedAt: {at}" if finished else "") + "})",
                              id=made[-1], kind=f"{namespace}nobody-runs-this", status=status, old=old)
            return made[-1]

        def left() -> set[str]:
            return {r["id"] for r in drv.execute_query(
                "MATCH (n) WHERE (n:AlignmentJob OR n:KgnBackfillRun) AND n.id IN $ids RETURN n.id AS id",
                ids=made).records}

        try:
            for label, status in (("AlignmentJob", "done"), ("AlignmentJob", "failed"), ("KgnBackfillRun", "done")):
                make(label, status)
            kept = {make("AlignmentJob", "done", now=True), make("AlignmentJob", "queued", finished=False),
                    make("AlignmentJob", "running", finished=False), make("KgnBackfillRun", "running", finished=False)}
            Worker(graph, {f"{namespace}echo": lambda j: {}},
                   housekeeping=lambda g: prune_finished(g, timedelta(days=7))).run(burst=True)
            assert left() == kept
            # on demand, from the CLI: only the bookkeeping older than the days given
            gone = {make("AlignmentJob", "done"), make("KgnBackfillRun", "done")}
            env = {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user, "NEO4J_PASSWORD": password}
            ran = CliRunner().invoke(cli, ["--home", str(tmp_path), "clean", "--only-bookkeeping", "5"], env=env)
            assert ran.exit_code == 0, ran.output
            assert json.loads(ran.stdout)["bookkeeping_nodes"] >= len(gone) and left() == kept
        finally:
            drv.execute_query("MATCH (n) WHERE (n:AlignmentJob OR n:KgnBackfillRun) AND n.id IN $ids "
                              "DETACH DELETE n", ids=made)
