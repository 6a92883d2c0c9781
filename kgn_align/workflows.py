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
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import torch

from kgn_align.attributes import never_agreeing
from kgn_align.coldstart import ColdStartConfig
from kgn_align.config import AlignConfig
from kgn_align.errors import KgnAlignError, clipped
from kgn_align.evaluation import Gold
from kgn_align.graph import Graph
from kgn_align.model.inputs import build_vocabulary
from kgn_align.model.pair_model import ModelConfig
from kgn_align.preflight import MIN_ACCEPTED
from kgn_align.metrics import plot_pr_curve
from kgn_align.scoring import VARIANTS, ModelScorer, TrainedModel, reading_settings, side_selection
from kgn_align.snapshot import Progress, Snapshot, take
from kgn_align.writeback import labelled_pairs, reviewed_as
from kgn_align.training import TrainConfig, save_checkpoint, train

log = logging.getLogger(__name__)


def _too_few(graph: Graph, config: AlignConfig, accepted: int) -> KgnAlignError:
    """Too few accepted pairs to train on, said with the likely cause: reviews pointing the
    other way (swapped sides), else none marked yet."""
    from kgn_align.preflight import reviews_by_direction, swapped_text

    backward, _ = reviews_by_direction(graph, config)
    why = (f"; {swapped_text(config, backward)}: are [source] and [target] swapped?"
           if backward > accepted else " (mark known pairs with r.review = 'accepted')")
    return KgnAlignError(f"only {accepted} accepted {config.same_as_type} pairs between the two "
                         f"sides: training needs at least {MIN_ACCEPTED}{why}")


def train_model(graph: Graph, config: AlignConfig, models_dir: Path, *,
                train_config: TrainConfig | None = None, hidden: int = 32, context_beta: float = 0.0,
                snapshot: Snapshot | None = None, progress: Progress | None = None,
                model_options: dict[str, Any] | None = None, attributes: bool = True) -> TrainedModel:
    """Train on the reviewed SAME_AS edges in the graph (accepted: matches; rejected:
    non-matches); save ``<models_dir>/<version>.pt``. ``model_options`` override
    :class:`~kgn_align.model.pair_model.ModelConfig` fields (ablations); ``attributes=False``
    leaves the config's ``attribute_properties`` out of the model (an ablation). The graph
    is read for the reviews and (without ``snapshot``) the sample; the rest is
    :func:`train_on_snapshot`. A ``snapshot`` must have been taken with ``config``
    (``ValueError`` otherwise)."""
    start = time.perf_counter()
    if snapshot is not None and snapshot.config != config:
        raise ValueError("the snapshot was taken with another configuration than the one given: "
                         "the model would record the one and have read the other")
    labelled = labelled_pairs(graph, config)
    reviewed = reviewed_as(labelled, "accepted")
    if len(reviewed) < MIN_ACCEPTED:  # said before the sampling
        raise _too_few(graph, config, len(reviewed))
    snapshot = snapshot or take(graph, config, progress=progress)
    accepted = len(_in_snapshot(snapshot, reviewed))
    if accepted < MIN_ACCEPTED:
        raise _too_few(graph, config, accepted)
    return train_on_snapshot(snapshot, labelled, models_dir, train_config=train_config, hidden=hidden,
                             context_beta=context_beta, model_options=model_options,
                             attributes=attributes, started=start)


def _in_snapshot(snapshot: Snapshot, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs whose source and target are both entities of the snapshot's sides."""
    return [p for p in pairs if p[0] in snapshot.source.aligned_row and p[1] in snapshot.target.aligned_row]


def train_on_snapshot(snapshot: Snapshot, labelled: Sequence[tuple[str, str, str]], models_dir: Path, *,
                      train_config: TrainConfig | None = None, hidden: int = 32, context_beta: float = 0.0,
                      model_options: dict[str, Any] | None = None, attributes: bool = True,
                      started: float | None = None) -> TrainedModel:
    """Train on ``labelled`` pairs ``(source key, target key, 'accepted' | 'rejected')``
    (:func:`~kgn_align.writeback.labelled_pairs`) over a snapshot already taken, with no
    graph server: featurise, build the relation and type vocabularies, train the pair model
    (:func:`~kgn_align.training.train`, on CUDA when present), distil the cold-start
    student, save ``<models_dir>/<version>.pt`` and ``latest.pt``. Pairs with a key outside
    the snapshot are left out. ``started``: a ``time.perf_counter()`` reading that the
    checkpoint's ``train_seconds`` counts from (default: now).

    Raises :class:`KgnAlignError` when fewer than :data:`MIN_ACCEPTED` accepted pairs remain.
    """
    start = time.perf_counter() if started is None else started
    config = snapshot.config
    accepted = _in_snapshot(snapshot, reviewed_as(labelled, "accepted"))
    if len(accepted) < MIN_ACCEPTED:
        raise KgnAlignError(f"only {len(accepted)} accepted pairs among the snapshot's entities: "
                            f"training needs at least {MIN_ACCEPTED}")
    featurizer, level0 = snapshot.fit_level0()
    relations = build_vocabulary(snapshot.source.store.relations, snapshot.target.store.relations)
    types = build_vocabulary(snapshot.source.store.types, snapshot.target.store.types)
    compared = list(config.attribute_properties) if attributes else []
    side_a, side_b = snapshot.inputs(featurizer, relations, types, context_beta, level0, compared)
    pairs = torch.stack([snapshot.source.rows([a for a, _ in accepted]),
                         snapshot.target.rows([b for _, b in accepted])], dim=1)
    if compared and side_a.attributes is not None and side_b.attributes is not None:
        for warning in never_agreeing(side_a.attributes, side_b.attributes, pairs[:, 0], pairs[:, 1], compared):
            log.warning("%s", warning)
    rejected = _in_snapshot(snapshot, reviewed_as(labelled, "rejected"))
    negatives = None
    if rejected:
        negatives = torch.stack([snapshot.source.rows([a for a, _ in rejected]),
                                 snapshot.target.rows([b for _, b in rejected])], dim=1)
    model_config = ModelConfig(feature_dim=side_a.features.size(1), num_relations=len(relations),
                               num_types=len(types), hidden=hidden, num_attributes=len(compared),
                               **(model_options or {}))
    tcfg = train_config or TrainConfig()
    log.info("training on %d accepted pairs and %d rejected ones", len(accepted), len(rejected))
    result = train(model_config, side_a, side_b, pairs, tcfg, negatives=negatives)
    log.info("distilling the cold-start student for entities without neighbours")
    student = snapshot.distil_student(level0, ColdStartConfig(seed=tcfg.seed))
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=models_dir, suffix=".tmp", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    metrics = {**result.metrics, "train_seconds": round(time.perf_counter() - start, 1),
               "accepted_pairs": len(accepted), "validation_pairs": len(result.validation),
               "train_pairs": len(accepted) - len(result.validation), "rejected_pairs": len(rejected)}
    try:
        version = _save(tmp_path, models_dir, result, relations=relations, types=types,
                        metrics=metrics, tcfg=tcfg, featurizer=featurizer, context_beta=context_beta,
                        compared=compared, config=config, student=student, snapshot=snapshot)
    except BaseException:  # Ctrl-C while saving: no half-written file left, latest.pt as it was
        tmp_path.unlink(missing_ok=True)
        (models_dir / "latest.pt.tmp").unlink(missing_ok=True)
        raise
    final = models_dir / f"{version}.pt"
    log.info("model %s saved to %s", version, final)
    return TrainedModel.load(final)


def _save(tmp_path: Path, models_dir: Path, result: Any, *, relations: Any, types: Any,
          metrics: dict[str, Any], tcfg: TrainConfig, featurizer: Any, context_beta: float,
          compared: Any, config: AlignConfig, student: Any, snapshot: Any) -> str:
    """Write the checkpoint to ``tmp_path``, then move it to ``<version>.pt`` and copy it
    over ``latest.pt``, each by an atomic rename: an interrupted save leaves latest.pt the
    previous model, never a truncated file. Returns the version."""
    version = save_checkpoint(tmp_path, result.model, relations=relations, types=types,
                              metrics=metrics, train_config=tcfg,
                              features={**featurizer.state(), "context_beta": context_beta,
                                        "attribute_properties": compared,
                                        "sampling": config.sampling.tree_settings(),
                                        "reading": reading_settings(config),
                                        "sides": side_selection(config)},
                              student=student, validation=[
                                  (snapshot.source.table.keys[int(a)], snapshot.target.table.keys[int(b)])
                                  for a, b in result.validation.tolist()])
    final = models_dir / f"{version}.pt"
    shutil.copy(tmp_path, models_dir / "latest.pt.tmp")  # with its mode: 0600, as the temporary file
    tmp_path.replace(final)
    (models_dir / "latest.pt.tmp").replace(models_dir / "latest.pt")
    return version


def read_gold(path: Path) -> list[tuple[str, str]]:
    """Gold pairs from a CSV/TSV file: ``source_key,target_key`` per line (tab-separated when
    the line holds a tab; either key may be in double quotes, as spreadsheets write CSV, and
    then holds commas); a first line ``source,target`` or ``source_key,target_key`` (any
    case) is a header."""
    from kgn_align.datasets import read_lines
    from kgn_align.errors import InputError

    import csv

    pairs = []
    for number, line in read_lines(path):
        # CSV as spreadsheets write it: a key in double quotes may hold a comma (a DBpedia URI)
        parts = [p.strip() for p in next(csv.reader([line], delimiter="\t" if "\t" in line else ","))]
        if len(parts) != 2 or not all(parts):
            raise InputError(f"expected 'source_key,target_key', got {clipped(line, 60)!r}", path=str(path),
                             line=number)
        if number == 1 and [p.lower() for p in parts] in (["source", "target"], ["source_key", "target_key"]):
            continue  # a header
        pairs.append((parts[0], parts[1]))
    if not pairs:
        raise InputError("no gold pairs: expected a line 'source_key,target_key' per pair "
                         "(a header 'source,target' or 'source_key,target_key' is allowed)", path=str(path))
    targets: dict[str, set[str]] = {}  # both directions in one pass: a source's targets,
    sources_of: dict[str, list[str]] = {}  # a target's sources (each line once)
    for source, target in dict.fromkeys(pairs):
        targets.setdefault(source, set()).add(target)
        sources_of.setdefault(target, []).append(source)
    several = sorted(s for s, t in targets.items() if len(t) > 1)
    if several:
        raise InputError(f"{len(several)} source key(s) have more than one gold target (e.g. "
                         f"{', '.join(repr(s) for s in several[:3])}): Hits@1 and precision "
                         "assume one answer per source; keep one line per source",
                         path=str(path))
    shared = sorted(t for t, s in sources_of.items() if len(s) > 1)
    if shared:  # a source graph may list one entity twice; a pasted line repeats a target too
        first = shared[0]
        log.warning("%s: %d target key(s) are the gold target of more than one source (e.g. %r, of %s): "
                    "each such source is judged against it, but one-to-one gives a target to one "
                    "source only; check for a typo if the source graph lists no entity twice",
                    path, len(shared), first, ", ".join(repr(s) for s in sources_of[first][:3]))
    return pairs


def _gold_in_graph(pairs: dict[str, str], sources: Collection[str], targets: Collection[str],
                   config: AlignConfig, shown: int = 3) -> dict[str, str]:
    """The gold pairs whose both keys are entities of their sides. The others are left
    out with a warning naming up to ``shown`` of the unknown keys, with a near miss (a
    typo in a gold file would otherwise shrink the test set unnoticed)."""
    from kgn_align.errors import did_you_mean

    known = {a: b for a, b in pairs.items() if a in sources and b in targets}
    if len(known) == len(pairs):
        return known
    examples = []
    swapped = sum(a in targets and b in sources for a, b in pairs.items() if a not in known)
    # most of the gold missing is a part of the data loaded (load --pairs), not typos
    partial = 2 * (len(pairs) - len(known)) > len(pairs)
    for a, b in pairs.items():
        if a in sources and b in targets:
            continue
        if a in targets and b in sources:
            examples.append(f"{a!r} is a key of {config.target.name!r} and {b!r} one of "
                            f"{config.source.name!r}: give the source key first")
        else:
            for key, side, keys in ((a, config.source, sources), (b, config.target, targets)):
                if key not in keys:
                    examples.append(f"{key!r} is not on the side {side.name!r}"
                                    f"{'' if partial and known else did_you_mean(key, list(keys))}")
                    break
        if len(examples) == shown:
            break
    named = f"(e.g. {'; '.join(examples)})" + (f"; {swapped} of them name the target first" if swapped else "")
    if not known:
        raise KgnAlignError(f"none of the {len(pairs)} gold pairs are entities of the two sides {named}")
    log.warning("%d of %d gold pairs are left out: their keys are not entities of the sides %s%s",
                len(pairs) - len(known), len(pairs), named,
                "; most of the gold is not in the graph: is it the gold of other graphs (or, "
                "for a benchmark, was a part of it loaded, with load --pairs)?" if partial else "")
    return known


def evaluate_alignment(graph: Graph, config: AlignConfig, scorer: ModelScorer, gold: Gold,
                       options: Any = None, *, methods: Sequence[str] = tuple(VARIANTS),
                       pr_curve: Path | None = None) -> dict[str, Any]:
    """Judge what a backfill with ``options`` would write over the *whole* source side,
    for the scorer and its baselines (:data:`kgn_align.scoring.VARIANTS`, everything else
    equal), in one invocation.

    Per method: the edges of a dry run of :func:`kgn_align.backfill.run_backfill` (the
    product's own selection, reviews, policy and threshold) judged by
    :func:`~kgn_align.evaluation.judge_edges`; Hits@1/10 and MRR of the gold sources
    ranked among every open target (by the edge score) and under the usual protocol
    (among the gold targets only, by the assignment score); the calibration (ECE and the
    reliability table) of every candidate pair of the gold sources (of every source when
    the gold is complete). ``pr_curve``: PR curve and reliability diagram of the first
    method, as a PNG.
    """
    from kgn_align.backfill import BackfillOptions, run_backfill
    from kgn_align.evaluation import judge_edges, judge_labelled, list_ranks, reliability
    from kgn_align.metrics import ranking_metrics

    options = options or BackfillOptions()
    snapshot = scorer.snapshot
    src, tgt = snapshot.source, snapshot.target
    known = _gold_in_graph(gold.pairs, src.aligned_row, tgt.aligned_row, config)
    outside = len(gold.pairs) - len(known)
    gold, settled, accepted = _settle(graph, config, Gold(known, gold.complete, gold.labelled))
    known = gold.pairs
    if not known:
        raise KgnAlignError("every gold pair is already settled by a reviewed SAME_AS: nothing to judge")
    g_src = [src.aligned_row[a] for a in known]
    g_tgt = [tgt.aligned_row[b] for b in known.values()]
    out: dict[str, Any] = {
        "model": scorer.trained.version, "policy": options.policy.value,
        "threshold": options.threshold, "candidates_per_source": scorer.k,
        "bootstrap": scorer.bootstrap,
        "gold_pairs": len(known), "gold_pairs_not_in_graph": outside, "gold_complete": gold.complete,
        "gold_pairs_settled_by_review": settled["settled"],
        "settled_agreeing_with_gold": settled["settled_agreeing"],
        "sources_scored": int(scorer.sources.numel()), "open_targets": int(scorer.pool.numel()),
        "methods": {},
    }
    for name in methods:
        started = time.perf_counter()
        variant = scorer if name == scorer.variant else scorer.with_variant(name)
        alignment = variant.alignment
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "edges.csv"
            summary = run_backfill(graph, config, variant, variant.stamp,
                                   options.model_copy(update={"dry_run": path}))
            edges = read_edge_csv(path)
        metrics = judge_edges(edges, gold)
        metrics["shared_targets"] = summary.shared_targets
        if gold.labelled:
            metrics["labelled_test_pairs"] = judge_labelled(edges, accepted, gold.labelled)
        matrix = alignment.matrix
        ranks = list_ranks(matrix.row, matrix.col, alignment.prob, g_src, g_tgt)
        metrics["all_targets"] = {k: round(v, 4) for k, v in ranking_metrics(ranks).items()}
        protocol = variant.align(torch.tensor(sorted(set(g_src))), torch.tensor(sorted(set(g_tgt))),
                                 beta=alignment.beta, nameless_beta=alignment.nameless_beta,
                                 calibrate=False)
        ranks = list_ranks(protocol.matrix.row, protocol.matrix.col, protocol.log_assignment,
                           g_src, g_tgt)
        metrics["protocol"] = {k: round(v, 4) for k, v in ranking_metrics(ranks).items()}
        answer = {src.aligned_row[a]: tgt.aligned_row[b] for a, b in known.items()}
        judged = (torch.ones_like(matrix.row, dtype=torch.bool) if gold.complete
                  else torch.isin(matrix.row, torch.tensor(g_src)))
        labels = torch.tensor([float(answer.get(r) == c) for r, c in
                               zip(matrix.row[judged].tolist(), matrix.col[judged].tolist())])
        metrics["calibration"] = reliability(alignment.prob[judged], labels, options.threshold)
        metrics["logit_weight"] = alignment.beta
        metrics["pseudo_seeds"] = len(variant.pseudo) if variant.pseudo is not None else None
        metrics["calibrator"] = alignment.calibrator.describe() if alignment.calibrator else None
        metrics["counterpart_share"] = (round(alignment.calibrator.counterpart_share, 3)
                                        if alignment.calibrator else None)
        if alignment.nameless_beta is not None:
            nameless = alignment.nameless_calibrator
            metrics["sources_without_name"] = {
                "count": int(variant.nameless[variant.sources].sum()),
                "logit_weight": alignment.nameless_beta,
                "calibrator": nameless.describe() if nameless is not None else None}
        metrics["seconds"] = round(time.perf_counter() - started, 1)
        out["methods"][name] = metrics
        if pr_curve is not None and name == methods[0]:
            title = (f"{config.source.name} -> {config.target.name}, {name} "
                     f"(model {scorer.trained.version}), {len(known)} gold pairs")
            plot_pr_curve(alignment.prob[judged], labels, pr_curve, title=title,
                          reliability=metrics["calibration"]["bins"])
    return out


def read_edge_csv(path: Path) -> list[tuple[str, str, float]]:
    """``(source, target, score)`` of the would-be edges in a dry run's CSV file (its rows
    less the edges the run would retract)."""
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return [(r["source"], r["target"], float(r["score"])) for r in csv.DictReader(fh)
                if r.get("change") != "retracted"]


def judge_graph_edges(graph: Graph, config: AlignConfig, gold: Gold,
                      model: str | None = None) -> dict[str, Any]:
    """The model-written SAME_AS edges now in the graph (review not set; optionally one
    model's), judged as :func:`evaluate_alignment` judges a dry run's, against the gold
    pairs whose both entities are in the graph."""
    from kgn_align.evaluation import judge_edges
    from kgn_align.scorers import read_side
    from kgn_align.writeback import read_edges

    sources = set(read_side(graph, config, config.source)[0])
    targets = set(read_side(graph, config, config.target)[0])
    gold, _, accepted = _settle(graph, config, Gold(_gold_in_graph(gold.pairs, sources, targets, config),
                                                     gold.complete))
    reviewed = {a for a, _ in accepted}
    edges = [(e.source, e.target, float(e.score or 0.0)) for e in read_edges(graph, config, model)
             if e.model_written and e.source not in reviewed]
    return judge_edges(edges, gold)


def _accepted(graph: Graph, config: AlignConfig) -> list[tuple[str, str]]:
    return reviewed_as(labelled_pairs(graph, config), "accepted")


def _settle(graph: Graph, config: AlignConfig,
            gold: Gold) -> tuple[Gold, dict[str, int], list[tuple[str, str]]]:
    """:func:`~kgn_align.evaluation.settle` ``gold`` against the graph's accepted reviews,
    with a warning naming the gold pairs a review contradicts (both ways of judging say
    the same). Returns the gold left to judge, the settled counts and the accepted pairs."""
    from kgn_align.evaluation import contradicted, settle

    accepted = _accepted(graph, config)
    disputed = contradicted(gold, accepted)
    if disputed:
        log.warning("%d gold pair(s) contradict an accepted review and are left out of the judging "
                    "(%s%s): check those gold rows or reviews", len(disputed), "; ".join(disputed[:3]),
                    "; ..." if len(disputed) > 3 else "")
    kept, settled = settle(gold, accepted)
    return kept, settled, accepted


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)


