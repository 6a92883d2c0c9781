"""A graph server restart never kills the worker: idle, it reconnects (to wherever the
restarted server now listens) and runs jobs queued after the restart; busy, the job it held
is re-queued and run once the server is back, even when the server was down longer than
the job's lease. On each server kind kgn-align starts itself."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from kgn_align.errors import ServerUnavailable
from kgn_align.graph import Graph
from kgn_align.servers import free_port, server_for
from kgn_align.worker import Job, RetryPolicy, Worker
from tests.conftest import require_runnable

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _request(graph: Graph, kind: str, params: dict) -> str:
    return graph.write("request_job", {"kind": kind, "params": json.dumps(params)}, kind="plugin")[0]["id"]


def _status(graph: Graph, job_id: str) -> dict:
    return graph.read("worker_job", {"id": job_id})[0]


@pytest.mark.parametrize("kind", ["neo4j", "arcadedb"])
def test_worker_survives_server_restarts(tmp_path: Path, kind: str) -> None:
    require_runnable(kind)
    server = server_for(kind, tmp_path)  # type: ignore[arg-type]
    state = server.start()
    # short driver-side retries: the worker's own backoff is what this test is about
    graph = Graph(state.connection().model_copy(update={"max_retry_time": 2.0}))
    graph.verify(timeout=30)
    restarted = threading.Event()
    ran: list[str] = []

    def slow(job: Job) -> dict:
        # busy: the server goes away while this job runs; the job's queries then fail
        if job.params.get("first") and not restarted.is_set():
            deadline = time.monotonic() + 60
            while not restarted.is_set() and time.monotonic() < deadline:
                time.sleep(0.1)
            raise ServerUnavailable("the server went away mid-job")
        ran.append(job.id)
        return {"ok": True}

    made: list[Graph] = []

    def connect() -> Graph:  # as App.reconnect: makes the new graph, closes the one it replaces
        current = server.state()
        if current is None:
            raise ServerUnavailable("no server running yet")
        made.append(Graph(current.connection().model_copy(update={"max_retry_time": 2.0})))
        if len(made) > 1:
            made[-2].close()
        return made[-1]

    worker = Worker(graph, {"work": slow}, lease_seconds=1.0, poll_seconds=0.2,
                    retry=RetryPolicy(intervals=(0.0, 0.0, 0.0)), connect=connect)
    thread = threading.Thread(target=worker.run, daemon=True)
    busy = _request(graph, "work", {"first": True})
    try:
        thread.start()
        time.sleep(1.0)  # the worker holds the busy job now
        server.stop()
        time.sleep(3.0)  # down for longer than the lease
        server.bolt_port = free_port()  # and back on another port
        state = server.start()
        restarted.set()
        with Graph(state.connection()) as fresh:
            fresh.verify(timeout=30)
            deadline = time.monotonic() + 90
            while _status(fresh, busy)["status"] != "done" and time.monotonic() < deadline:
                time.sleep(0.3)
            assert _status(fresh, busy)["status"] == "done"
            assert thread.is_alive(), "the worker exited on a transient server error"
            # idle: a job queued after the restart runs too
            later = _request(fresh, "work", {})
            deadline = time.monotonic() + 60
            while _status(fresh, later)["status"] != "done" and time.monotonic() < deadline:
                time.sleep(0.3)
            assert _status(fresh, later)["status"] == "done"
            assert ran == [busy, later]
    finally:
        worker.request_stop()
        thread.join(30)
        server.stop()
        graph.close()
        if made:
            made[-1].close()
