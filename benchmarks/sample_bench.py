"""Benchmark: sample every entity of dbp15k_fr_en (both sides) through Cypher.

Loads the dataset with kgn-align's own loader (skipped when already loaded), then for each
side: prepare (entity table, hashes, index), ``Sampler.sample_side`` (one
``sampling_lists`` round trip per batch), and optionally a ``sample_seeds`` run
(``sampling_trees``, the per-seed path) on a slice. Writes a JSON report: seeds/s, p50/p95
batch latency, rows per seed, and where the time went (server + wire, Bolt decoding in
this process, tree building, preparation). With ``--check`` the trees are compared with
the in-memory reference.

Usage::

    python benchmarks/sample_bench.py                      # embedded ArcadeDB (temp dir)
    python benchmarks/sample_bench.py --data-dir /tmp/kgn  # keep/reuse the loaded server
    NEO4J_URI=bolt://... NEO4J_PASSWORD=... python benchmarks/sample_bench.py
    python benchmarks/sample_bench.py --pairs 200 --check   # a smoke run on a slice
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kgn_align import datasets, loaders  # noqa: E402
from kgn_align.config import SamplingConfig, connection_from_env  # noqa: E402
from kgn_align.graph import Graph  # noqa: E402
from kgn_align.sampling import Sampler, sample_in_memory  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def side_report(sampler: Sampler, seconds: float, seeds: int) -> dict[str, Any]:
    st = sampler.stats
    return {
        "seeds": seeds,
        "seconds": round(seconds, 3),
        "seeds_per_s": round(seeds / seconds, 1) if seconds else None,
        "batches": st.batches,
        "batch_latency_p50_s": round(percentile(st.batch_latency_s, 0.5), 4),
        "batch_latency_p95_s": round(percentile(st.batch_latency_s, 0.95), 4),
        "rows_per_seed": round(st.rows / seeds, 2) if seeds else None,
        "time_split_s": {
            "prepare (entity table, hashes, index)": round(st.prepare_s, 3),
            "server + wire (batch wall - client CPU)": round(st.server_s, 3),
            "Bolt decoding (client CPU during fetch)": round(st.transfer_s, 3),
            "tree building (rows -> TreeStore)": round(st.build_s, 3),
        },
        "dropped_neighbours": st.dropped,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="dbp15k_fr_en")
    parser.add_argument("--data-dir", help="embedded server directory to keep (default: temporary)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--k1", type=int, default=10)
    parser.add_argument("--k2", type=int, default=10)
    parser.add_argument("--seeds-slice", type=int, default=2000,
                        help="seeds for the per-seed (sampling_trees) run on each side; 0 skips it")
    parser.add_argument("--check", action="store_true", help="compare with the in-memory reference")
    parser.add_argument("--pairs", type=int, default=None,
                        help="a slice of the set with this many seed pairs (smoke runs; "
                        "loaded under its own graph names, next to the whole set)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    ds = datasets.read_kg(args.dataset)
    prefix = ""
    if args.pairs is not None:
        ds, prefix = ds.slice(args.pairs), f"slice{args.pairs}/"
    connection = connection_from_env()
    server = None
    tmp = None
    if connection.uri is None:
        from kgn_align.servers.arcadedb import ArcadeDBServer

        if args.data_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="kgn-bench-")
        server = ArcadeDBServer(args.data_dir or tmp.name, heap="2g")
        connection = server.start().connection()
    report: dict[str, Any] = {"dataset": args.dataset, "pairs": args.pairs or "all", "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
        # other work on the machine skews the figures: say how busy it was
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}}
    try:
        with Graph(connection) as graph:
            report["server"] = {"product": graph.dialect.product, "version": graph.dialect.version}
            config = loaders.preset_config(ds, prefix=prefix)
            counts = [int(graph.read("graph_count", {"graph": side.value}, {"label": side.label})[0]["nodes"])
                      for side in (config.source, config.target)]
            start = time.perf_counter()
            if counts != [len(s.uris) for s in ds.sides]:
                load = loaders.load_kg(graph, ds, prefix=prefix)
                report["load"] = {"seconds": round(time.perf_counter() - start, 1),
                                  "nodes": load.nodes, "relationships": load.relationships}
            sampling = SamplingConfig(k1=args.k1, k2=args.k2, batch_size=args.batch_size)
            report["sampling"] = sampling.model_dump() | {"concurrency": args.concurrency}
            sides: dict[str, Any] = {}
            total_seeds, total_s = 0, 0.0
            for which, side_data in (("source", ds.sides[0]), ("target", ds.sides[1])):
                sampler = Sampler(graph, config, sampling, concurrency=args.concurrency)
                start = time.perf_counter()
                store = sampler.sample_side(which)
                seconds = time.perf_counter() - start
                entry = side_report(sampler, seconds, store.num_trees)
                entry["slots"] = int(store.slot_entity.numel())
                total_seeds += store.num_trees
                total_s += seconds
                if args.check:
                    edges = [(str(h), r, str(t)) for h, r, t in side_data.triples]
                    ref = sample_in_memory(edges, store.keys, args.k1, args.k2, keys=store.keys)
                    same = all(bool((getattr(ref, f) == getattr(store, f)).all())
                               for f in ("tree_ptr", "slot_entity", "slot_parent", "slot_dir"))
                    names = [store.relations[i] for i in store.slot_rel.tolist() if i >= 0]
                    ref_names = [ref.relations[i] for i in ref.slot_rel.tolist() if i >= 0]
                    entry["equals_in_memory_reference"] = same and names == ref_names
                if args.seeds_slice:
                    per_seed = Sampler(graph, config, sampling, concurrency=args.concurrency)
                    keys = store.keys[: args.seeds_slice]
                    start = time.perf_counter()
                    per_seed.sample_seeds(which, keys)
                    entry["per_seed_path"] = side_report(per_seed, time.perf_counter() - start, len(keys))
                sides[which] = entry
                print(f"{which}: {entry['seeds']} seeds in {entry['seconds']}s "
                      f"({entry['seeds_per_s']}/s), p50 {entry['batch_latency_p50_s']}s, "
                      f"p95 {entry['batch_latency_p95_s']}s, {entry['rows_per_seed']} rows/seed", flush=True)
            report["sides"] = sides
            report["total"] = {"seeds": total_seeds, "seconds": round(total_s, 2),
                               "seeds_per_s": round(total_seeds / total_s, 1),
                               "target_seconds": 60, "met": total_s < 60}
    finally:
        if server is not None:
            server.stop()
        if tmp is not None:
            tmp.cleanup()
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = args.out or ROOT / "benchmarks" / "results" / f"sample_{args.dataset}_{report['server']['product']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["total"]), "->", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
