"""Request -> SAME_AS edge latency of Cypher-triggered jobs, on the Neo4j kgn-align starts.

A dbp15k_fr_en slice (``--pairs``, default 2,000 pairs: that many entities per side) is
loaded into a fresh Neo4j (APOC + kgn-align's plugin), a small model is trained, and a
``kgn-align worker`` process runs as users run it. Then, ``--requests`` times, one source
entity is edited with plain Cypher (``SET s.note = ...``: no kgn-align code); the plugin's
change capture queues a ``changed`` job, the worker re-aligns what the change can move, and
the SAME_AS edge from that entity appears. Each request's latency runs from the commit of
the edit to the moment the edge is readable (where an earlier job, re-aligning an edited
entity's neighbours, wrote it already: to the moment this request's job is done; the next
request waits for that job either way); the job node's timestamps split it into
capture (commit -> job queued), queue (-> claimed) and run (-> done), and the run into the
worker's stages (``stages_s`` in the job's result: refresh, prepare, align, write).

Sources are chosen (before any request) among held-out pairs whose best candidate scores
above the threshold, each used once, so every request must end in a new edge::

    .venv/bin/python benchmarks/job_latency.py [--pairs 2000] [--requests 50]

``--flurry N`` then edits N more such sources back to back, one transaction each (an
application writing entity by entity), and times the first commit -> every one of their
edges readable, with how many re-alignments the worker ran for them: captured changes
queue a job per transaction, and the jobs waiting when the worker claims one run with it.

The worker keeps its snapshot between jobs, so a job redraws only the edited entity's
neighbour list and searches only the sources the edit can move; ``--pairs 15000`` is the
whole of dbp15k_fr_en (about 19,600 / 19,700 entities per side).

Writes ``benchmarks/results/job_latency_dbp15k_fr_en.json`` (``_PAIRS.json`` for other
``--pairs``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import neo4j

from kgn_align import datasets, loaders
from kgn_align.graph import Graph
from kgn_align.scoring import ModelScorer
from kgn_align.servers.neo4j import Neo4jServer
from kgn_align.snapshot import take
from kgn_align.training import TrainConfig
from kgn_align.workflows import train_model
from kgn_align.writeback import labelled_pairs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _flurry(drv: neo4j.Driver, src_graph: str, sources: list[str], edges: Any,
            timeout: float) -> dict[str, Any]:
    """Edit ``sources`` back to back, one transaction each; wait until each has its edge and
    every job their edits queued is done. Returns the seconds, the jobs queued and how many
    re-alignments ran them (jobs that ran with another count in that one's)."""
    start = time.time()
    for i, key in enumerate(sources):
        drv.execute_query("MATCH (s:Entity {graph: $g, key: $k}) SET s.note = $i",
                          g=src_graph, k=key, i=f"flurry {i}")
    committed = time.time() - start
    while time.time() - start < timeout:
        jobs = drv.execute_query(
            "MATCH (j:AlignmentJob {kind: 'changed'}) WHERE j.requestedAt.epochMillis >= $since "
            "RETURN j.status AS status, j.result AS result", since=int(start * 1000)).records
        if len(jobs) >= len(sources) and all(j["status"] == "done" for j in jobs) \
                and all(edges(key) for key in sources):
            break
        time.sleep(0.05)
    seconds = time.time() - start
    results = [json.loads(j["result"] or "{}") for j in jobs]
    return {"edits": len(sources), "edits_committed_s": round(committed, 3),
            "all_edges_s": round(seconds, 3), "jobs_queued": len(jobs),
            "jobs_done": sum(j["status"] == "done" for j in jobs),
            "realignments": sum("run_with" not in r for r in results),
            "edges_appeared": sum(bool(edges(key)) for key in sources)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--flurry", type=int, default=0,
                        help="then edit this many more sources back to back, one transaction each")
    parser.add_argument("--out", help="write the JSON here instead of benchmarks/results/")
    args = parser.parse_args(argv)
    ds = datasets.read_kg("dbp15k_fr_en").slice(args.pairs)
    report: dict[str, Any] = {"benchmark": "job_latency", "dataset": "dbp15k_fr_en",
                              "entities_per_side": [len(s.uris) for s in ds.sides],
                              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}
    with tempfile.TemporaryDirectory(prefix="kgn-latency-") as tmp:
        server = Neo4jServer(Path(tmp) / "neo4j", heap="2g")
        state = server.start()
        report["server"] = {"kind": "neo4j", "version": state.version}
        worker = None
        rows: list[dict[str, Any]] = []
        try:
            with Graph(state.connection()) as graph:
                loaders.load_kg(graph, ds)
                config = loaders.preset_config(ds)
                snapshot = take(graph, config)
                trained = train_model(graph, config, Path(tmp) / "models", snapshot=snapshot,
                                      train_config=TrainConfig(epochs=1, max_steps=150))
                scorer = ModelScorer(snapshot, trained, labelled=labelled_pairs(graph, config))
                gold = {str(s): str(t) for s, t in ds.test_pairs}
                sure = sorted(((p.score, p.source) for p in scorer(list(gold))
                               if gold[p.source] == p.target and p.score >= args.threshold + 0.1),
                              reverse=True)
                sources = [s for _, s in sure[: args.requests]]
                flurry = [s for _, s in sure[args.requests: args.requests + args.flurry]]
            env = {**os.environ, "NEO4J_URI": state.uri, "NEO4J_USER": state.user,
                   "NEO4J_PASSWORD": state.password.get_secret_value()}
            worker_log = Path(tmp) / "worker.log"
            with open(worker_log, "wb") as log_file:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "kgn_align.cli", "--home", tmp, "worker", "--dataset",
                     "dbp15k_fr_en", "--model", str(trained.path), "--poll", "0.1"],
                    env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
            # the worker imports torch, loads the model, samples both sides and scores them
            # (--warm) before its first claim: requests start once it says so
            warm_deadline = time.monotonic() + 900
            while "worker warm:" not in worker_log.read_text(errors="replace"):  # not "warming up"
                if worker.poll() is not None or time.monotonic() > warm_deadline:
                    raise SystemExit(f"the worker did not warm up: {worker_log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.5)
            report["worker_warm_up"] = next(line for line in worker_log.read_text().splitlines()
                                            if "worker warm:" in line)
            auth = (state.user, state.password.get_secret_value())
            with neo4j.GraphDatabase.driver(state.uri, auth=auth) as drv:
                src_graph = config.source.value
                def edges(key: str) -> int:
                    return drv.execute_query(
                        "MATCH (s:Entity {graph: $g, key: $k})-[r:SAME_AS]->() "
                        "WHERE r.review IS NULL RETURN count(r) AS n", g=src_graph, k=key).records[0]["n"]

                def this_job(since: float) -> list[Any]:
                    """The 'changed' job this request queued, once done: the first one queued
                    since its edit (requests wait for their job, so nothing else is queued)."""
                    return drv.execute_query(
                        "MATCH (j:AlignmentJob {kind: 'changed', status: 'done'}) "
                        "WHERE j.requestedAt.epochMillis >= $since "
                        "RETURN j.requestedAt.epochMillis AS queued, j.startedAt.epochMillis AS started, "
                        "j.finishedAt.epochMillis AS finished, j.result AS result "
                        "ORDER BY j.requestedAt LIMIT 1", since=int(since * 1000)).records

                for i, key in enumerate(sources):
                    # an earlier job may have written this source's edge already (re-aligning
                    # an edited entity's neighbours): then the request ends when its own job
                    # is done, not when an edge that was there all along is read
                    already = bool(edges(key))
                    start = time.time()
                    drv.execute_query("MATCH (s:Entity {graph: $g, key: $k}) SET s.note = $i",
                                      g=src_graph, k=key, i=i)
                    while True:
                        found = edges(key) if not already else (this_job(start) and edges(key))
                        if found or time.time() - start > args.timeout:
                            break
                        time.sleep(0.02)
                    latency = time.time() - start
                    # the edge lands before the job is marked done: wait for its timestamps
                    # (and for the job to finish, so that the next request does not queue)
                    for _ in range(200):
                        job = this_job(start)
                        if job or not found:
                            break
                        time.sleep(0.05)
                    row = {"source": key, "edge": bool(found), "latency_s": round(latency, 3),
                           "edge_there_before": already}
                    if job and job[0]["finished"]:
                        j = job[0]
                        row |= {"capture_s": round(j["queued"] / 1000 - start, 3),
                                "queue_s": round((j["started"] - j["queued"]) / 1000, 3),
                                "run_s": round((j["finished"] - j["started"]) / 1000, 3),
                                "stages_s": json.loads(j["result"] or "{}").get("stages_s", {})}
                    rows.append(row)
                    print(json.dumps(row), flush=True)

                if flurry:
                    report["flurry"] = _flurry(drv, src_graph, flurry, edges, args.timeout)
                    print(json.dumps(report["flurry"]), flush=True)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    worker.kill()
                if not all(r["edge"] for r in rows) or worker.returncode not in (0, 143):
                    # what the worker said is gone with the temporary directory: show its end
                    print(worker_log.read_text(errors="replace")[-4000:], file=sys.stderr)
            server.stop()
    ok = [r["latency_s"] for r in rows if r["edge"]]
    report["requests"] = len(rows)
    report["edges_appeared"] = len(ok)
    if ok:
        report["latency_s"] = {"p50": pct(ok, 0.5), "p95": pct(ok, 0.95), "max": max(ok),
                               "mean": round(statistics.fmean(ok), 3)}
        for part in ("capture_s", "queue_s", "run_s"):
            values = [r[part] for r in rows if part in r]
            if values:
                report[part.replace("_s", "_p50_s")] = pct(values, 0.5)
        stages = [r["stages_s"] for r in rows if r.get("stages_s")]
        report["stages_p50_s"] = {name: pct([st[name] for st in stages if name in st], 0.5)
                                  for name in (stages[0] if stages else {})}
    report["target_p95_s"] = 2.0
    report["load_average_after"] = os.getloadavg()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    # waited-for children: the worker and the server, together
    report["worker_and_server_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
    report["rows"] = rows
    out = RESULTS / ("job_latency_dbp15k_fr_en.json" if args.pairs == 2000
                     else f"job_latency_dbp15k_fr_en_{args.pairs}.json")
    if args.out:
        out = Path(args.out)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}), "->", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
