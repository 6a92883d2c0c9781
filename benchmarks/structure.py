"""Does structure find what names cannot? DBLP-ACM with a seeded share of titles blanked.

Loads DBLP-ACM under its own prefix with ``kgn-align load tables``, then — as a user's
graph with missing titles would be — removes the name of a seeded ``--share`` of the
held-out DBLP papers (their authors and venue stay), trains with ``kgn-align train`` and
judges with ``kgn-align evaluate --gold`` on exactly those papers (defaults otherwise):
precision and recall of the edges a default backfill would write for them, for the model
and both baselines. A names-only scorer cannot find them: their name vector is zero::

    KGN_ALIGN_HOME=... .venv/bin/python benchmarks/structure.py [--share 0.3] [--seed 0]

Writes ``benchmarks/results/structure_dblp_acm.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

import neo4j

from quality import RESULTS, run  # noqa: E402  (the same process accounting)

from kgn_align import datasets, loaders  # noqa: E402
from kgn_align.config import connection_from_env  # noqa: E402
from kgn_align.servers import running  # noqa: E402

PREFIX = "blanked/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ds = datasets.read_tables("dblp_acm")
    config = loaders.preset_config(ds, prefix=PREFIX)
    held_out = [(a, b) for split, rows in ds.splits.items() if split != "train" for a, b, y in rows if y]
    blanked = random.Random(args.seed).sample(held_out, int(round(args.share * len(held_out))))
    connection = connection_from_env()
    if connection.uri is None:
        state = running(Path(os.environ.get("KGN_ALIGN_HOME", Path.home() / ".kgn-align")))
        if state is None:
            raise SystemExit("no graph server: start one with 'kgn-align server start' or set NEO4J_URI")
        uri, auth = state.uri, (state.user, state.password.get_secret_value())
    else:
        uri, auth = connection.uri, (connection.user, connection.password.get_secret_value())
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        costs = {"load": run(["load", "tables", "dblp_acm", "--prefix", PREFIX], logs / "load.log")}
        with neo4j.GraphDatabase.driver(uri, auth=auth) as driver:
            driver.execute_query(
                f"UNWIND $keys AS k MATCH (p:{config.source.label} {{graph: $g, key: k}}) "
                "REMOVE p.name, p.title", keys=[a for a, _ in blanked], g=config.source.value)
        gold = logs / "blanked.csv"
        gold.write_text("source,target\n" + "".join(f"{a},{b}\n" for a, b in blanked))
        costs["train"] = run(["train", "--dataset", "dblp_acm", "--prefix", PREFIX], logs / "train.log")
        costs["evaluate"] = run(["evaluate", "--dataset", "dblp_acm", "--prefix", PREFIX,
                                 "--gold", str(gold)], logs / "evaluate.log")
    text = costs["evaluate"].pop("stdout")
    for step in costs.values():
        step.pop("stdout", None)
    report = json.loads(text[text.index("{"):])
    result = {"dataset": "dblp_acm", "blanked_sources": len(blanked), "share": args.share,
              "seed": args.seed, "evaluate": report, "costs": costs}
    (RESULTS / "structure_dblp_acm.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    for name, m in report["methods"].items():
        print(f"{name:<22} on {len(blanked)} blanked papers: precision {m['precision']:.4f} "
              f"recall {m['recall']:.4f} F1 {m['f1']:.4f}")


if __name__ == "__main__":
    main()
