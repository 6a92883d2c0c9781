"""Candidate recall@k (blocking) on KG benchmarks, from name features alone.

For every held-out (test) pair, is the gold target among the source entity's top-k
candidates, searched over *all* entities of the target side? This bounds the recall of
everything downstream. Until the bi-encoder exists, the embeddings are:

- ``names``: character n-gram hashing of the translated names (sklearn
  ``HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4))``, L2-normalised), reduced
  to a dense 512-d vector by a fixed Gaussian random projection, then re-normalised;
- ``names+neighbours``: the same, concatenated with 0.5 x the mean vector of the
  entity's neighbours (one hop, either direction): a parameter-free stand-in for a
  structural bi-encoder.

Prints JSON and writes ``benchmarks/results/candidates.json``::

    .venv/bin/python benchmarks/candidates_bench.py [--datasets dbp15k_fr_en srprs_en_fr]
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
import scipy.sparse as sp
import torch

from kgn_align.candidates import recall_at_k, search
from kgn_align.datasets import KGDataset, local_name, read_kg

log = logging.getLogger("candidates_bench")
RESULTS = Path(__file__).resolve().parent / "results" / "candidates.json"
DIM = 512
NEIGHBOUR_WEIGHT = 0.5


def name_vectors(names: list[str], seed: int = 0) -> np.ndarray:
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=2**18,
                            alternate_sign=False, norm="l2")
    sparse = vec.transform(names).astype(np.float32)
    proj = np.random.default_rng(seed).standard_normal((sparse.shape[1], DIM)).astype(np.float32)
    dense = np.asarray(sparse @ proj)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return dense / norms


def neighbour_mean(x: np.ndarray, triples: list[tuple[int, str, int]], row: dict[int, int]) -> np.ndarray:
    heads = [row[h] for h, _, _ in triples]
    tails = [row[t] for _, _, t in triples]
    n = x.shape[0]
    adj = sp.coo_matrix((np.ones(2 * len(heads), np.float32), (heads + tails, tails + heads)),
                        shape=(n, n)).tocsr()
    deg = np.asarray(adj.sum(1)).ravel()
    deg[deg == 0] = 1.0
    return np.asarray(sp.diags(1.0 / deg) @ adj @ x)


def run(name: str, ks: tuple[int, ...]) -> dict[str, object]:
    ds: KGDataset = read_kg(name)
    keys = [sorted(side.uris) for side in ds.sides]
    rows = [{k: r for r, k in enumerate(ks_)} for ks_ in keys]
    start = time.perf_counter()
    # Both sides share one projection (same seed): the spaces must be the same.
    vectors = [name_vectors([s.names.get(i) or local_name(s.uris[i]) for i in keys[k]])
               for k, s in enumerate(ds.sides)]
    featurise_s = time.perf_counter() - start
    gold = [(rows[0][a], rows[1][b]) for a, b in ds.test_pairs]
    queries = torch.tensor([g[0] for g in gold])
    gold_rows = [(i, b) for i, (_, b) in enumerate(gold)]
    variants = {
        "names": [torch.from_numpy(v) for v in vectors],
        "names+neighbours": [
            torch.nn.functional.normalize(torch.from_numpy(np.hstack(
                [v, NEIGHBOUR_WEIGHT * neighbour_mean(v, s.triples, rows[k])])), dim=-1)
            for k, (v, s) in enumerate(zip(vectors, ds.sides))],
    }
    out: dict[str, object] = {"test_pairs": len(gold), "source_entities": len(keys[0]),
                              "target_entities": len(keys[1]),
                              "featurise_seconds": round(featurise_s, 2)}
    for variant, (src, tgt) in variants.items():
        t0 = time.perf_counter()
        cands = search(src[queries], tgt, max(ks), backend="auto")
        seconds = time.perf_counter() - t0
        recall = recall_at_k(cands, gold_rows, ks)
        out[variant] = {f"recall@{k}": round(v, 4) for k, v in recall.items()}
        out[variant]["search_seconds"] = round(seconds, 2)  # type: ignore[index]
        log.info("%s %s: %s (%.1f s)", name, variant, recall, seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["dbp15k_fr_en", "srprs_en_fr"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    ks = (1, 10, 50)
    result = {
        "benchmark": "candidate recall@k (gold target among top-k over all target entities)",
        "features": "char_wb (2,4) hashing of translated names, 512-d random projection",
        "search": "kgn_align.candidates.search, backend auto (exact below 50k targets)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch_threads": torch.get_num_threads()},
        "datasets": {name: run(name, ks) for name in args.datasets},
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
