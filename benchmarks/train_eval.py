"""Train + evaluate the pair model on a benchmark from in-memory trees; print JSON.

    python benchmarks/train_eval.py DATASET [--variant full|no_cross|no_self|names_only|uniform|name_cosine]

KG sets (dbp15k_*, srprs_en_fr): DBP15K trains on the first 30% of gold pairs and tests on
the other 70% (SRPRS: its own split); each test source is ranked against its top-k test
targets by name cosine (gold not forced in), re-scored by the model.

Table sets (via kgn_align.datasets): dblp_acm (Paper entities with Author / Venue
neighbours; gold shuffled with seed 0 and split 30/70; each test DBLP paper ranked against
its top-k ACM papers by name cosine among those not matched in training; F1 with one-to-one
matching and PR-AUC) and itunes_amazon (Song entities with Artist / Album / Genre
neighbours; trained on the positives of its train split; threshold = best F1 on its valid
split, classification F1 on its test split).

``--eval-sources N`` evaluates a fixed random subset (seed 0) of N test sources: the cheap
shared setting used for ablations (recorded in the JSON). Results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.kg_data import load_kg, load_table, sample_trees  # noqa: E402
from kgn_align.evaluation import rank, summarise  # noqa: E402
from kgn_align.features import NgramFeaturizer, neighbour_context, with_context  # noqa: E402
from kgn_align.metrics import best_f1, classification_metrics, one_to_one_f1  # noqa: E402
from kgn_align.model.inputs import SideInputs, build_vocabulary  # noqa: E402
from kgn_align.model.pair_model import ModelConfig  # noqa: E402
from kgn_align.training import TrainConfig, save_checkpoint, score_pairs, train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TABLES = ("dblp_acm", "itunes_amazon")
VARIANTS = {
    "full": {},
    "no_cross": {"cross_attention": False},
    "no_self": {"self_attention": False},
    "names_only": {"gnn": False},
    "uniform": {},  # same model, uniform neighbour sampling
    "name_cosine": None,  # no model at all: rank by level-0 cosine
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Clock:
    """Wall and CPU seconds of a phase (CPU time shows the work when cores are shared)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        w, c = time.perf_counter(), time.process_time()
        out = (round(w - self.wall, 1), round(c - self.cpu, 1))
        self.wall, self.cpu = w, c
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--variant", default="full", choices=sorted(VARIANTS))
    ap.add_argument("--names", default="translated", choices=["translated", "native", "both"],
                    help="KG entity names: machine-translated, native (from the URI), or both joined")
    ap.add_argument("--k", type=int, default=None, help="candidates per test source (KG 50, dblp_acm 20)")
    ap.add_argument("--k1", type=int, default=10)
    ap.add_argument("--k2", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=None, help="default 5")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-sources", type=int, default=None,
                    help="evaluate on a fixed random subset (seed 0) of this many test sources")
    ap.add_argument("--context", type=float, default=0.0,
                    help="beta: append beta * the neighbourhood name vector to each entity's level-0 "
                         "vector (0 = names only); blocking, s0 and the slot encoder all see it")
    ap.add_argument("--tag", default="", help="suffix of the result file name (e.g. 'ablation')")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    clock = Clock()
    table = args.dataset in TABLES
    k = args.k or (20 if table else 50)
    args.epochs = args.epochs or 5

    data = load_table(args.dataset) if table else load_kg(args.dataset, names=args.names)
    n1 = len(data.names[0])
    featurizer = NgramFeaturizer.fit(data.names[0] + data.names[1])
    feats = featurizer.transform(data.names[0] + data.names[1])
    if args.context > 0:
        parts = []
        for s, rows in ((0, slice(0, n1)), (1, slice(n1, None))):
            edges = torch.as_tensor(data.triples[s][:, [0, 2]].T.copy())
            parts.append(with_context(feats[rows], neighbour_context(feats[rows], edges), args.context))
        feats = torch.cat(parts)
    weighted = args.variant != "uniform"
    stores = [
        sample_trees(len(data.names[s]), data.triples[s], k1=args.k1, k2=args.k2, seed=s, weighted=weighted,
                     seeds=None if data.seeds is None else data.seeds[s],
                     entity_type=None if data.types is None else data.types[s],
                     types=data.type_names)
        for s in (0, 1)
    ]
    relations = build_vocabulary(*(s.relations for s in stores))
    types = build_vocabulary(*(s.types for s in stores))
    side_a = SideInputs.build(stores[0], feats[:n1], relations, types)
    side_b = SideInputs.build(stores[1], feats[n1:], relations, types)
    prep = clock.lap()

    train_pairs = torch.as_tensor(data.train)
    test = torch.as_tensor(data.test)
    setting = "all test sources"
    if args.eval_sources and args.eval_sources < len(test):
        pick = np.sort(np.random.default_rng(0).choice(len(test), args.eval_sources, replace=False))
        setting = f"fixed random subset (seed 0) of {args.eval_sources} of {len(test)} test sources"
    else:
        pick = np.arange(len(test))
    if args.dataset == "dblp_acm":
        # candidate pool: ACM papers not matched in training
        taken = set(data.train[:, 1].tolist())
        pool = torch.as_tensor([r for r in data.seeds[1].tolist() if r not in taken])
    else:
        pool = torch.as_tensor(data.test[:, 1])  # all test targets (standard protocol)
    result: dict[str, object] = {
        "dataset": args.dataset, "variant": args.variant, "k": k, "k1": args.k1, "k2": args.k2,
        "hidden": args.hidden, "epochs": args.epochs, "threads": args.threads, "weighted_sampling": weighted,
        "eval_setting": setting, "train_pairs": int(train_pairs.size(0)), "context_beta": args.context,
    }
    if not table:
        result["names"] = args.names
    model = None
    train_t = (0.0, 0.0)
    if VARIANTS[args.variant] is not None:
        mcfg = ModelConfig(feature_dim=feats.size(1), num_relations=len(relations), num_types=len(types),
                           hidden=args.hidden, **VARIANTS[args.variant])
        tcfg = TrainConfig(epochs=args.epochs, num_threads=args.threads)
        if table:
            tcfg.hard_pool = 20
            tcfg.valid_candidates = 10
            tcfg.batch_size = 16
        res = train(mcfg, side_a, side_b, train_pairs, tcfg)
        model = res.model
        train_t = clock.lap()
        version = save_checkpoint(RESULTS / "checkpoints" / f"{args.dataset}-{args.variant}.pt", model,
                                  relations=relations, types=types, metrics=res.metrics, train_config=tcfg,
                                  features={**featurizer.state(), "context_beta": args.context})
        result.update(model_version=version, history=res.history,
                      calibration=[float(model.calib_scale), float(model.calib_bias)])
    clock.lap()
    stem = f"{args.dataset}-{args.names}-{args.variant}" if not table else f"{args.dataset}-{args.variant}"
    if args.context > 0:
        stem += f"-context{args.context:g}"
    out = args.out or RESULTS / f"{stem}{'-' + args.tag if args.tag else ''}.json"
    if args.dataset == "itunes_amazon":
        metrics = classify_labelled(model, side_a, side_b, data.labelled)
    else:
        src = test[pick]
        ranking = rank(model, side_a, side_b, src[:, 0], pool, k=k)
        metrics = summarise(ranking, src[:, 1], pr_curve=out.with_suffix(".png"))
        if table:
            metrics.update(one_to_one_f1(ranking.scores, ranking.candidates, src[:, 0], src))
    eval_t = clock.lap()
    result.update(metrics=metrics, prep_seconds=prep[0], train_seconds=train_t[0], train_cpu_seconds=train_t[1],
                  eval_seconds=eval_t[0], eval_cpu_seconds=eval_t[1], peak_rss_mb=round(peak_rss_mb(), 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def classify_labelled(model, side_a: SideInputs, side_b: SideInputs, labelled: dict[str, np.ndarray]) -> dict[str, float]:
    """Score the labelled valid and test pairs; threshold = best F1 on valid, applied to test."""
    def scores(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(labelled[split])
        if model is None:
            s = torch.nn.functional.cosine_similarity(side_a.features[rows[:, 0]], side_b.features[rows[:, 1]], dim=-1)
        else:
            _, s = score_pairs(model, side_a, side_b, rows[:, 0], rows[:, 1])
        return s, rows[:, 2].bool()

    vs, vy = scores("valid")
    ts, ty = scores("test")
    _, t_hi = best_f1(vs, vy)
    # max-margin cut: halfway between the lowest valid score kept at the best F1 and the next
    # lower valid score (best_f1 returns the highest threshold reaching it, biased to precision)
    below = vs[vs < t_hi]
    threshold = float((t_hi + float(below.max())) / 2) if below.numel() else float(t_hi)
    pred = ts >= threshold
    tp = float((pred & ty).sum())
    precision = tp / max(float(pred.sum()), 1.0)
    recall = tp / max(float(ty.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    test_m = classification_metrics(ts, ty)
    return {"test_f1": f1, "test_precision": precision, "test_recall": recall, "threshold_from_valid": threshold,
            "test_pr_auc": test_m["pr_auc"], "test_best_f1_oracle": test_m["best_f1"],
            "valid_best_f1": best_f1(vs, vy)[0], "test_pairs": float(len(ty)), "test_positives": float(ty.sum())}


if __name__ == "__main__":
    main()
