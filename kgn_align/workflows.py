"""The end-to-end jobs that the CLI, the worker and the demo run, over the graph.

Thin orchestration over the stages: snapshot (sample + names) -> training -> checkpoint;
snapshot + model -> evaluation against held-out gold; snapshot + model -> backfill.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from kgn_align.coldstart import ColdStartConfig
from kgn_align.config import AlignConfig
from kgn_align.errors import KgnAlignError
from kgn_align.evaluation import rank, summarise
from kgn_align.features import NgramFeaturizer
from kgn_align.graph import Graph
from kgn_align.model.inputs import build_vocabulary
from kgn_align.model.pair_model import ModelConfig
from kgn_align.scoring import ModelScorer, TrainedModel
from kgn_align.snapshot import Progress, Snapshot, take
from kgn_align.writeback import labelled_pairs
from kgn_align.training import TrainConfig, save_checkpoint, train

log = logging.getLogger(__name__)


def train_model(graph: Graph, config: AlignConfig, models_dir: Path, *,
                train_config: TrainConfig | None = None, hidden: int = 32, context_beta: float = 0.0,
                snapshot: Snapshot | None = None, progress: Progress | None = None) -> TrainedModel:
    """Train on the reviewed SAME_AS edges in the graph (accepted: matches; rejected:
    non-matches); save ``<models_dir>/<version>.pt``."""
    start = time.perf_counter()
    snapshot = snapshot or take(graph, config, progress=progress)
    labelled = labelled_pairs(graph, config)
    accepted = [(a, b) for a, b, review in labelled if review == "accepted"
                and a in snapshot.source.aligned_row and b in snapshot.target.aligned_row]
    if len(accepted) < 10:
        raise KgnAlignError(
            f"only {len(accepted)} accepted {config.same_as_type} pairs between the two sides: "
            "training needs at least 10 (mark known pairs with r.review = 'accepted')")
    featurizer = NgramFeaturizer.fit(snapshot.source.names + snapshot.target.names)
    relations = build_vocabulary(snapshot.source.store.relations, snapshot.target.store.relations)
    types = build_vocabulary(snapshot.source.store.types, snapshot.target.store.types)
    level0 = snapshot.level0(featurizer)
    side_a, side_b = snapshot.inputs(featurizer, relations, types, context_beta, level0)
    pairs = torch.stack([snapshot.source.rows([a for a, _ in accepted]),
                         snapshot.target.rows([b for _, b in accepted])], dim=1)
    rejected = [(a, b) for a, b, review in labelled if review == "rejected"
                and a in snapshot.source.aligned_row and b in snapshot.target.aligned_row]
    negatives = None
    if rejected:
        negatives = torch.stack([snapshot.source.rows([a for a, _ in rejected]),
                                 snapshot.target.rows([b for _, b in rejected])], dim=1)
    model_config = ModelConfig(feature_dim=side_a.features.size(1), num_relations=len(relations),
                               num_types=len(types), hidden=hidden)
    tcfg = train_config or TrainConfig()
    log.info("training on %d accepted pairs and %d rejected ones", len(accepted), len(rejected))
    result = train(model_config, side_a, side_b, pairs, tcfg, negatives=negatives)
    log.info("distilling the cold-start student for entities without neighbours")
    student = snapshot.distil_student(level0, ColdStartConfig(seed=tcfg.seed))
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=models_dir, suffix=".tmp", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    metrics = {**result.metrics, "train_seconds": round(time.perf_counter() - start, 1),
               "train_pairs": len(accepted), "rejected_pairs": len(rejected)}
    version = save_checkpoint(tmp_path, result.model, relations=relations, types=types,
                              metrics=metrics, train_config=tcfg,
                              features={**featurizer.state(), "context_beta": context_beta},
                              student=student)
    final = models_dir / f"{version}.pt"
    tmp_path.replace(final)
    shutil.copyfile(final, models_dir / "latest.pt")
    log.info("model %s saved to %s", version, final)
    return TrainedModel.load(final)


def read_gold(path: Path) -> list[tuple[str, str]]:
    """Gold pairs from a CSV/TSV file: ``source_key,target_key`` per line (header allowed)."""
    from kgn_align.datasets import read_lines
    from kgn_align.errors import InputError

    pairs = []
    for number, line in read_lines(path):
        parts = [p.strip() for p in line.replace("\t", ",").split(",")]
        if len(parts) != 2 or not all(parts):
            raise InputError("expected 'source_key,target_key'", path=str(path), line=number)
        if number == 1 and parts == ["source", "target"]:
            continue
        pairs.append((parts[0], parts[1]))
    targets: dict[str, set[str]] = {}
    for source, target in pairs:
        targets.setdefault(source, set()).add(target)
    several = sorted(s for s, t in targets.items() if len(t) > 1)
    if several:
        raise InputError(f"{len(several)} source key(s) have more than one gold target (e.g. "
                         f"{', '.join(repr(s) for s in several[:3])}): Hits@1 and precision "
                         "assume one answer per source; keep one line per source",
                         path=str(path))
    return pairs


def evaluate_model(scorer: ModelScorer, gold: Sequence[tuple[str, str]], *, k: int = 50,
                   pr_curve: Path | None = None) -> dict[str, Any]:
    """Rank each gold source's candidates among the gold targets (the standard protocol:
    candidates by the backfill's blocking vectors, re-scored by the model; a gold missed by
    blocking is a miss). ``scorer`` brings the snapshot, model and vectors, computed once."""
    snapshot, trained = scorer.snapshot, scorer.trained
    known = [(a, b) for a, b in gold if a in snapshot.source.aligned_row and b in snapshot.target.aligned_row]
    if not known:
        raise KgnAlignError("none of the gold pairs are entities of the two sides")
    sources = snapshot.source.rows([a for a, _ in known])
    targets = snapshot.target.rows([b for _, b in known])
    pool = torch.unique(targets)
    start = time.perf_counter()
    ranking = rank(trained.model, scorer.side_a, scorer.side_b, sources, pool, k=k,
                   blocking=(scorer.block_a, scorer.block_b))
    config = snapshot.config
    title = (f"{config.source.name} -> {config.target.name} ({config.source.value or config.source.label}), "
             f"model {trained.version}, {len(known)} gold pairs")
    metrics = summarise(ranking, targets, pr_curve=pr_curve, title=title)
    metrics.update(gold_pairs=len(known), skipped_pairs=len(gold) - len(known),
                   seconds=round(time.perf_counter() - start, 2))
    return {"model": trained.version, "metrics": metrics}


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def edge_metrics(edges: Sequence[Any], gold: Sequence[tuple[str, str]]) -> dict[str, float | int]:
    """Precision, recall and Hits@1 of model-written SAME_AS edges against held-out gold.

    Only edges whose source is a gold source count (the others belong to entities without
    a held-out answer). Hits@1: the source's best-scored written edge is its gold target;
    a source with no edge above the threshold is a miss.
    """
    truth = dict(gold)
    mine = [e for e in edges if e.review is None and e.source in truth]
    hits = sum(1 for e in mine if truth[e.source] == e.target)
    best: dict[str, Any] = {}
    for e in mine:
        if e.source not in best or (e.score or 0) > (best[e.source].score or 0):
            best[e.source] = e
    top1 = sum(1 for s, e in best.items() if truth[s] == e.target)
    precision = hits / len(mine) if mine else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "hits@1": round(top1 / len(truth), 4) if truth else 0.0,
            "edges_on_gold_sources": len(mine), "gold_pairs": len(truth)}


def threshold_metrics(scorer: ModelScorer, gold: Sequence[tuple[str, str]],
                      thresholds: Sequence[float], reviews: Any = None) -> list[dict[str, float]]:
    """What a backfill with policy ``best`` and this ``scorer`` would write for the gold
    sources at each of ``thresholds``, scored against the gold: the same scorer, policy
    and :class:`~kgn_align.writeback.Reviews`, without the graph (the gold sources are
    scored once)."""
    from kgn_align.writeback import Edge, Policy, best_per_source

    # the gold pairs whose both ends are in the graph, as evaluate_model counts them (a
    # slice of a benchmark holds only some of its gold)
    snapshot = scorer.snapshot
    gold = [(a, b) for a, b in gold
            if a in snapshot.source.aligned_row and b in snapshot.target.aligned_row]
    sources = sorted({a for a, _ in gold})
    scored = scorer(sources)
    if reviews is not None:
        scored = reviews.allowed(scored, Policy.BEST)
    out = []
    for threshold in thresholds:
        chosen = best_per_source(scored, threshold)
        edges = [Edge(source=p.source, target=p.target, score=p.score) for p in chosen]
        out.append({"threshold": threshold, **edge_metrics(edges, gold)})
    return out
