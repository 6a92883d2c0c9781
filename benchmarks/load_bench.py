"""Load a whole KG benchmark into a fresh embedded server and print JSON figures.

    python benchmarks/load_bench.py [--dataset dbp15k_fr_en] [--batch-size 5000] [--out FILE]

Uses NEO4J_URI instead of the embedded server when it is set (graphs are prefixed and
deleted afterwards, so a shared server keeps what it had).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import uuid

from kgn_align import datasets, loaders
from kgn_align.config import connection_from_env
from kgn_align.servers.arcadedb import ArcadeDBServer
from kgn_align.graph import Graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="dbp15k_fr_en")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()

    t0 = time.perf_counter()
    ds = datasets.read_kg(args.dataset)
    parse_s = time.perf_counter() - t0
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        if os.environ.get("NEO4J_URI"):
            connection, prefix, product = connection_from_env(), f"bench-{uuid.uuid4().hex[:8]}/", "neo4j"
        else:
            server = ArcadeDBServer(tmp, heap="2g")
            connection, prefix, product = server.start().connection(), "", "arcadedb-embedded"
        try:
            with Graph(connection) as graph:
                report = loaders.load_kg(graph, ds, prefix=prefix, batch_size=args.batch_size)
                t1 = time.perf_counter()
                again = loaders.load_kg(graph, ds, prefix=prefix, batch_size=args.batch_size)
                reload_s = time.perf_counter() - t1
                if prefix:
                    loaders.delete_graphs(graph, prefix)
        finally:
            if server is not None:
                server.stop()
    rels = report.relationships + report.seed_pairs
    result = {
        "benchmark": "load", "dataset": args.dataset, "server": product,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "entities": report.nodes, "relationships": report.relationships,
        "relationship_types": len({r for s in ds.sides for _, r, _ in s.triples}),
        "seed_same_as": report.seed_pairs, "parse_seconds": round(parse_s, 2),
        "seconds": report.seconds,
        "stage_seconds": report.stage_seconds,
        "nodes_per_s": round(report.nodes / report.stage_seconds["nodes"], 1),
        "rels_per_s": round(report.relationships / report.stage_seconds["relationships"], 1),
        "seed_pairs_per_s": round(report.seed_pairs / report.stage_seconds["seed pairs"], 1),
        "overall_rows_per_s": round((report.nodes + rels) / report.seconds, 1),
        "second_load_seconds": round(reload_s, 2),
        "second_load_created": again.nodes_created + again.relationships_created,
        "batch_size": args.batch_size,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
