"""End-to-end backfill of a whole KG benchmark (GNN pair model, or name similarity).

Loads the dataset into a fresh namespace of the server (``NEO4J_URI`` or the embedded one
started here), backfills every source entity (policy ``best``, threshold 0.5), reads the
edges back and reports seconds, pairs scored per second, edges written per second, and
precision/recall of the written edges against the held-out test pairs. Writes
``benchmarks/results/backfill_<dataset>.json``::

    .venv/bin/python benchmarks/backfill_bench.py [--dataset dbp15k_fr_en] [--scorer gnn|names]

With ``--scorer gnn`` it first trains the pair model on the seed pairs in the graph, and
checks that the written edges' precision/recall equal what ``kgn-align evaluate
--threshold`` computes for the same model and threshold (the same scorer, without writing).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

from kgn_align import datasets, loaders
from kgn_align.backfill import BackfillOptions, forget_run, run_backfill
from kgn_align.config import connection_from_env
from kgn_align.graph import Graph
from kgn_align.scorers import NameSimilarityScorer
from kgn_align.writeback import ModelStamp, read_edges

RESULTS = Path(__file__).resolve().parent / "results"
SWEEP = (0.1, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9)  #: extra thresholds evaluated (not written): the trade-off


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="dbp15k_fr_en")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--scorer", choices=["gnn", "names"], default="gnn")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = None
    connection = connection_from_env()
    if connection.uri is None:
        from kgn_align.servers.arcadedb import ArcadeDBServer

        server = ArcadeDBServer(Path(tempfile.mkdtemp(prefix="kgn-bench-")))
        connection = server.start().connection()
    prefix = f"bench-{uuid.uuid4().hex[:8]}/"
    graph = Graph(connection)
    try:
        ds = datasets.read_kg(args.dataset)
        t0 = time.perf_counter()
        loaders.load_kg(graph, ds, prefix=prefix)
        load_s = time.perf_counter() - t0
        config = loaders.preset_config(ds, prefix=prefix)
        extra: dict[str, object] = {}
        t1 = time.perf_counter()
        if args.scorer == "gnn":
            from kgn_align.scoring import ModelScorer
            from kgn_align.snapshot import take
            from kgn_align.training import TrainConfig
            from kgn_align.workflows import train_model

            snapshot = take(graph, config)
            extra["sample_seconds"] = round(time.perf_counter() - t1, 1)
            t_train = time.perf_counter()
            trained = train_model(graph, config, Path(tempfile.mkdtemp(prefix="kgn-models-")),
                                  snapshot=snapshot, train_config=TrainConfig(epochs=args.epochs))
            extra["train_seconds"] = round(time.perf_counter() - t_train, 1)
            extra["model"] = trained.version
            scorer = ModelScorer(snapshot, trained, k=10)
            stamp = trained.stamp
        else:
            scorer = NameSimilarityScorer(graph, config, k=10)
            stamp = ModelStamp(model="names@bench", method=scorer.method)
        scorer_s = time.perf_counter() - t1
        run_id = f"bench-{prefix[6:14]}"
        summary = run_backfill(graph, config, scorer, stamp,
                               BackfillOptions(run_id=run_id, batch_size=args.batch_size,
                                               threshold=args.threshold))
        backfill_s = time.perf_counter() - t1
        edges = [e for e in read_edges(graph, config) if e.review is None]
        test = {(str(a), str(b)) for a, b in ds.test_pairs}
        test_sources = {a for a, _ in test}
        on_test = [(e.source, e.target) for e in edges if e.source in test_sources]
        hits = sum(p in test for p in on_test)
        result = {
            "dataset": args.dataset, "server": graph.dialect.product, "cpus": os.cpu_count(),
            "source_entities": summary.entities, "batch_size": args.batch_size,
            "load_seconds": round(load_s, 1),
            "scorer_setup_seconds": round(scorer_s, 1),
            "backfill_seconds_end_to_end": round(backfill_s, 1),
            "pairs_scored": summary.pairs_scored,
            "pairs_scored_per_backfill_second": round(summary.pairs_scored / summary.seconds, 1),
            "edges_written": summary.writes.created,
            "edges_written_per_backfill_second": round(summary.writes.created / summary.seconds, 1),
            "precision_on_test_sources": round(hits / max(len(on_test), 1), 4),
            "recall_on_test_pairs": round(hits / len(test), 4),
            "scorer": args.scorer, "threshold": args.threshold, **extra,
            "note": "policy best; per-second rates divide by the whole backfill (scoring and "
                    "writing interleaved); end to end includes sampling and training for gnn",
        }
        if args.scorer == "gnn":
            from kgn_align.workflows import threshold_metrics

            gold = [(str(a), str(b)) for a, b in ds.test_pairs]
            # the written edges must equal the first; the others show the trade-off
            at = threshold_metrics(scorer, gold, [args.threshold, *SWEEP])
            result["evaluate_at_threshold"] = {k: v for k, v in at[0].items() if k != "threshold"}
            result["evaluate_threshold_sweep"] = at[1:]
        forget_run(graph, run_id)
    finally:
        loaders.delete_graphs(graph, prefix)
        graph.close()
        if server is not None:
            server.stop()
    text = json.dumps(result, indent=2)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.scorer == "names" else "_gnn"
    (RESULTS / f"backfill_{args.dataset}{suffix}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
