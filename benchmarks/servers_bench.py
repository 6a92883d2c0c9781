"""Neo4j and ArcadeDB side by side, in one run: load, sampling and SAME_AS write-back.

For each server kind it starts a fresh server of that kind (``kgn_align.servers``: the
same code as ``kgn-align server start``) in a temporary folder, then through the product's
own code:

1. loads all of a KG benchmark (``loaders.load_kg``): nodes/s, relationships/s;
2. samples the two-hop neighbourhood of every entity of both sides (``Sampler``, default
   k1 = k2 = 10): seeds/s;
3. writes ``--edges`` SAME_AS edges (``writeback.write_pairs``, policy-free: the pairs as
   given), timed on its own: edges/s; then the same again (an idempotent re-run: nothing
   created).

Every stage records wall seconds, CPU seconds of this process and of the server process,
and the load average, so figures taken on a busy machine can be told apart::

    .venv/bin/python benchmarks/servers_bench.py [--dataset dbp15k_fr_en] [--kinds neo4j,arcadedb]

Writes ``benchmarks/results/servers_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kgn_align import datasets, loaders
from kgn_align.config import SamplingConfig
from kgn_align.graph import Graph
from kgn_align.sampling.server import Sampler
from kgn_align.servers import server_for
from kgn_align.writeback import ModelStamp, ScoredPair, write_pairs

RESULTS = Path(__file__).resolve().parent / "results"
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its waited-for children (from /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICKS


def timed(server_pid: int, fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``fn``; wall seconds, CPU seconds here and in the server, load average after."""
    wall, cpu, server = time.perf_counter(), time.process_time(), process_cpu_s(server_pid)
    value = fn()
    return value, {"wall_s": round(time.perf_counter() - wall, 2),
                   "client_cpu_s": round(time.process_time() - cpu, 2),
                   "server_cpu_s": round(process_cpu_s(server_pid) - server, 2),
                   "load_average_1m": round(os.getloadavg()[0], 2)}


def run_kind(kind: str, ds: datasets.KGDataset, edges: int, heap: str) -> dict[str, Any]:
    result: dict[str, Any] = {"server": kind}
    with tempfile.TemporaryDirectory(prefix=f"kgn-bench-{kind}-") as tmp:
        server = server_for(kind, Path(tmp), heap=heap)  # type: ignore[arg-type]
        state, started = timed(os.getpid(), server.start)
        result["version"] = state.version
        started.pop("server_cpu_s")  # the server did not exist before: only wall time counts
        result["start"] = started
        try:
            with Graph(state.connection()) as graph:
                report, load = timed(state.pid, lambda: loaders.load_kg(graph, ds))
                result["load"] = {**load, "nodes": report.nodes,
                                  "relationships": report.relationships,
                                  "stage_seconds": report.stage_seconds,
                                  "nodes_per_s": round(report.nodes / report.stage_seconds["nodes"]),
                                  "rels_per_s": round(report.relationships
                                                      / report.stage_seconds["relationships"])}
                config = loaders.preset_config(ds)
                sampler = Sampler(graph, config, SamplingConfig())
                stores, sample = timed(state.pid, lambda: [sampler.sample_side(w)
                                                           for w in ("source", "target")])
                seeds = sum(s.num_trees for s in stores)
                result["sampling"] = {**sample, "seeds": seeds,
                                      "seeds_per_s": round(seeds / sample["wall_s"])}
                pairs = _pairs(ds, edges)
                stamp = ModelStamp(model="bench-writeback", method="benchmark")
                written, write = timed(state.pid, lambda: write_pairs(graph, config, pairs, stamp))
                result["writeback"] = {**write, "edges": written.created,
                                       "edges_per_s": round(written.created / write["wall_s"])}
                again, rerun = timed(state.pid, lambda: write_pairs(graph, config, pairs, stamp))
                result["writeback_rerun"] = {**rerun, "created": again.created,
                                             "unchanged": again.unchanged,
                                             "pairs_per_s": round(len(pairs) / rerun["wall_s"])}
        finally:
            server.stop()
    return result


def _pairs(ds: datasets.KGDataset, n: int) -> list[ScoredPair]:
    """``n`` distinct source -> target pairs with scores: test pairs first, then shuffled ones."""
    rng = random.Random(0)
    sources = [str(i) for i in ds.sides[0].uris]
    targets = [str(i) for i in ds.sides[1].uris]
    chosen = {(str(s), str(t)) for s, t in ds.test_pairs}
    while len(chosen) < n:
        chosen.add((rng.choice(sources), rng.choice(targets)))
    ordered = sorted(chosen)[:n]
    return [ScoredPair(source=s, target=t, score=round(rng.random(), 4)) for s, t in ordered]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="dbp15k_fr_en")
    parser.add_argument("--kinds", default="neo4j,arcadedb")
    parser.add_argument("--edges", type=int, default=20_000)
    parser.add_argument("--heap", default="2g")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    ds = datasets.read_kg(args.dataset)
    report: dict[str, Any] = {
        "benchmark": "servers", "dataset": args.dataset,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "runs": []}
    for kind in args.kinds.split(","):
        run = run_kind(kind, ds, args.edges, args.heap)
        print(json.dumps(run), flush=True)
        report["runs"].append(run)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = args.out or RESULTS / f"servers_{args.dataset}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print("->", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
