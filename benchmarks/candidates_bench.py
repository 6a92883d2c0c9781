"""Candidate recall@k (blocking) on KG benchmarks, with the backfill's own blocking vectors.

For every held-out (test) pair, is the gold target among the source entity's top-k
candidates, searched over *all* entities of the target side (19,993 on dbp15k_fr_en, not
just the 10,500 test targets)? This bounds the recall of everything downstream.

The vectors are the ones ``kgn-align backfill`` blocks on (:mod:`kgn_align.candidates`):

- ``names``: :class:`kgn_align.features.NgramFeaturizer` (TF-IDF char 2-4-grams + words,
  512-d projection) over the feature text the graph path builds (``name_en | name``);
- ``names+neighbours (all)``: ``normalize([x || c])``, ``c`` the sum of *all* one-hop
  neighbours' name vectors;
- ``names+neighbours (sampled)``: the same over the hop-1 neighbours the sampler draws
  (``k1 = 10``, inverse-count weights, the reference sampler that equals the Cypher one):
  exactly what a backfill sees.

Cold start: 1,000 random test pairs are cut loose from all their relationships on one
side (``targets``: new target nodes nobody linked yet; ``sources``: likewise on the source
side; ``both``) and the recall of those 1,000 is measured with the isolated entities'
neighbourhood part left at zero (``zero``) or guessed by the cold-start student
(:mod:`kgn_align.coldstart`, distilled on the cut graph) on both sides (``student``) or on
the target side only (``student_on_targets_only``: what the backfill does), next to the
recall the same pairs had before the cut (``linked``).

Prints JSON and writes ``benchmarks/results/candidates.json``::

    .venv/bin/python benchmarks/candidates_bench.py [--datasets dbp15k_fr_en srprs_en_fr] [--pairs N]

``--pairs N`` runs on a slice of each set (about ``N`` seed pairs, their entities and the triples among them:
``KGDataset.slice``), for a smoke run; the figures in ``results/`` are of the whole sets.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from kgn_align.candidates import blocking_vectors, distil_student, recall_at_k, search
from kgn_align.coldstart import STUDENT_WEIGHT, ColdStartConfig
from kgn_align.datasets import KGDataset, KGSide, local_name, read_kg
from kgn_align.features import NgramFeaturizer
from kgn_align.sampling.reference import sample_in_memory
from kgn_align.snapshot import feature_text

log = logging.getLogger("candidates_bench")
RESULTS = Path(__file__).resolve().parent / "results" / "candidates.json"
KS = (1, 10, 50)
COLD_PAIRS = 1000


def side_text(side: KGSide, ids: list[int]) -> list[str]:
    """What the graph path featurises: ``name_en | name`` (see ``loaders.load_kg``)."""
    return [feature_text([side.names.get(i), local_name(side.uris[i])]) for i in ids]


def all_edges(side: KGSide, row: dict[int, int]) -> Tensor:
    return torch.tensor([[row[h] for h, _, _ in side.triples], [row[t] for _, _, t in side.triples]],
                        dtype=torch.long).reshape(2, -1)


def sampled_edges(side: KGSide, ids: list[int], k1: int = 10) -> Tensor:
    keys = [str(i) for i in ids]
    store = sample_in_memory(((str(h), r, str(t)) for h, r, t in side.triples), keys,
                             k1=k1, k2=1, keys=keys)
    return store.edges()


def recall(source: Tensor, target: Tensor, pairs: Tensor) -> dict[str, float]:
    cands = search(source[pairs[:, 0]], target, max(KS), backend="auto")
    gold = [(i, int(b)) for i, b in enumerate(pairs[:, 1].tolist())]
    return {f"recall@{k}": round(v, 4) for k, v in recall_at_k(cands, gold, KS).items()}


def cut(edges: Tensor, rows: Tensor, n: int) -> Tensor:
    """``edges`` without any edge that touches ``rows``."""
    gone = torch.zeros(n, dtype=torch.bool)
    gone[rows] = True
    return edges[:, ~(gone[edges[0]] | gone[edges[1]])]


def cold_start(x: list[Tensor], edges: list[Tensor], test: Tensor, seed: int = 0) -> dict[str, object]:
    n = min(COLD_PAIRS, len(test))
    pairs = test[torch.from_numpy(np.random.default_rng(seed).choice(len(test), n, replace=False))]
    linked = [blocking_vectors(x[s], edges[s]) for s in (0, 1)]
    out: dict[str, object] = {"pairs": n, "student_weight": STUDENT_WEIGHT,
                              "linked": recall(linked[0], linked[1], pairs)}
    for which, sides in (("targets", (1,)), ("sources", (0,)), ("both", (0, 1))):
        e = [cut(edges[s], pairs[:, s], x[s].size(0)) if s in sides else edges[s] for s in (0, 1)]
        start = time.perf_counter()
        student = distil_student(x, e, ColdStartConfig(seed=seed))
        fit_s = time.perf_counter() - start
        zero = [blocking_vectors(x[s], e[s]) for s in (0, 1)]
        guessed = [blocking_vectors(x[s], e[s], student=student) for s in (0, 1)]
        out[which] = {"zero": recall(zero[0], zero[1], pairs),
                      "student": recall(guessed[0], guessed[1], pairs),
                      "student_on_targets_only": recall(zero[0], guessed[1], pairs),
                      "student_fit_seconds": round(fit_s, 1)}
        log.info("cold %s: %s", which, out[which])
    return out


def run(name: str, cold: bool, pairs: int | None = None) -> dict[str, object]:
    ds: KGDataset = read_kg(name)
    if pairs is not None:
        ds = ds.slice(pairs)
    ids = [sorted(side.uris) for side in ds.sides]
    rows = [{k: r for r, k in enumerate(side_ids)} for side_ids in ids]
    start = time.perf_counter()
    texts = [side_text(s, ids[k]) for k, s in enumerate(ds.sides)]
    featurizer = NgramFeaturizer.fit(texts[0] + texts[1])
    x = [featurizer.transform(t) for t in texts]
    featurise_s = time.perf_counter() - start
    start = time.perf_counter()
    sampled = [sampled_edges(s, ids[k]) for k, s in enumerate(ds.sides)]
    sample_s = time.perf_counter() - start
    full = [all_edges(s, rows[k]) for k, s in enumerate(ds.sides)]
    test = torch.tensor([(rows[0][a], rows[1][b]) for a, b in ds.test_pairs], dtype=torch.long)
    out: dict[str, object] = {"test_pairs": len(test), "source_entities": len(ids[0]),
                              "target_entities": len(ids[1]),
                              "featurise_seconds": round(featurise_s, 2),
                              "sample_seconds": round(sample_s, 2)}
    variants = {
        "names": lambda s: blocking_vectors(x[s], full[s], beta=0.0),
        "names+neighbours (all)": lambda s: blocking_vectors(x[s], full[s]),
        "names+neighbours (sampled)": lambda s: blocking_vectors(x[s], sampled[s]),
    }
    for variant, vectors in variants.items():
        t0 = time.perf_counter()
        src, tgt = vectors(0), vectors(1)
        out[variant] = {**recall(src, tgt, test), "seconds": round(time.perf_counter() - t0, 2)}
        log.info("%s %s: %s", name, variant, out[variant])
    if cold:
        out["cold_start (sampled)"] = cold_start(x, sampled, test)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["dbp15k_fr_en", "srprs_en_fr"])
    parser.add_argument("--no-cold-start", action="store_true", help="skip the cold-start slices")
    parser.add_argument("--pairs", type=int, default=None,
                        help="a slice of each set with this many seed pairs (smoke runs)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    result = {
        "benchmark": "candidate recall@k (gold target among top-k over all target entities)",
        "command": "python benchmarks/candidates_bench.py",
        "features": "NgramFeaturizer (TF-IDF char 2-4 + words, 512-d) of 'name_en | name'; "
                    "neighbour part: kgn_align.candidates.blocking_vectors",
        "search": "kgn_align.candidates.search, backend auto (exact below 50k targets)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch_threads": torch.get_num_threads()},
        "pairs": args.pairs or "all",
        "datasets": {name: run(name, not args.no_cold_start, args.pairs) for name in args.datasets},
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
