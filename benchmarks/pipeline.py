"""The whole pipeline, stage by stage, on Neo4j and ArcadeDB side by side, with a scaling series.

For each server kind and each scale it starts a fresh server of that kind
(``kgn_align.servers``, as ``kgn-align server start`` does) in a temporary folder, and runs
the product's own code, as the CLI runs it:

========== ================================================================ ============
stage      product code                                                     rate
========== ================================================================ ============
load       ``loaders.load_kg`` (as ``kgn-align load kg [--pairs N]``)       rels/s
sample     ``snapshot.take``: two-hop trees of both sides, and their names   seeds/s
featurise  ``Snapshot.fit_level0`` (as ``train`` featurises)                 entities/s
block      ``Snapshot.distil_student`` + ``Snapshot.blocking`` +            pairs/s
           ``candidates.search_pool`` for every source entity (k each)
train      ``workflows.train_model`` (small ``TrainConfig`` by default)      pairs/s
score      ``scoring.ModelScorer`` over every source entity                  pairs/s
pair_model ``training.score_pairs`` on the candidate pairs of ``score``:        pairs/s
           the pair model's forward passes alone, timed again on their own
write      ``backfill.run_backfill`` over the scores of ``score`` (policy    edges/s
           best, threshold 0.5): the backfill's write path alone
writeback  ``writeback.write_pairs`` of ``--edges`` other scored pairs (ones  edges/s
           no review rules out: the write refuses those),
           timed on its own; then ``writeback_rerun``: the same again
           (idempotent: nothing created); then ``writeback_warm``: as many
           pairs again, new ones, on the server the stages before warmed
           (its JIT has compiled the query: a long-running server's rate)
========== ================================================================ ============

Every stage records wall seconds, CPU seconds of this process and of the server process
(the server's also by thread: Bolt query workers, JIT compilers, GC, other), peak RSS of
both during the stage (``VmHWM`` from ``/proc``, reset before the stage), and the 1-minute
load average after it: this machine is shared, so read the load average with every figure.
``memory`` gives the bytes per entity of what the backfill's scorer holds while it scores
(level-0 vectors, blocking vectors with the seed anchors, anchor vectors, sampled trees,
neighbour lists, entity tables and names).

Scales: a scale ``s < 1`` loads the slice ``KGDataset.slice(n)`` (what ``load kg --pairs
n`` loads) with ``n`` chosen so the slice holds about ``s`` of the dataset's entities; ``s
>= 1`` loads the whole dataset. ``scaling`` gives each stage's cost per entity per scale
(``--series-kinds``: the kinds that run every scale; the others run the largest only).
Every scale starts its own server, so each load meets a cold JVM, as a first load does.
Torch threads as in the CLI: torch's default (all cores; ``torch_threads`` in the JSON)::

    PYTHONPATH=. python benchmarks/pipeline.py [--kinds neo4j,arcadedb] [--dataset dbp15k_fr_en]
        [--scales 0.25,0.5,1] [--series-kinds neo4j] [--full-train] [--quick]

Prints one JSON object and writes it to ``benchmarks/results/pipeline_<dataset>.json``
(``--quick``: a 200-pair slice, a few training steps, printed only unless ``--out``).

``--end-to-end`` measures instead what a user waits for, graph in -> SAME_AS out: on a
fresh server of each kind with the dataset loaded (the load not counted), the product's
own commands as separate processes with their defaults, ``kgn-align train --dataset D``
then ``kgn-align backfill --dataset D`` (5 epochs, 20 candidates per source, policy best,
threshold 0.5): each one's wall and CPU seconds (its own, from ``wait4``), its peak RSS,
the server's CPU seconds, the load average; and their sum against issue 12's target
(3 min, 1.5 GB peak). Written to ``benchmarks/results/pipeline_<dataset>_end_to_end.json``.

``--snapshot-out PATH`` saves the sample a run took (and the reviewed pairs) for a machine
without a graph server — the GPU machine that issue 12's GPU targets need, which has no JVM:
``--from-snapshot PATH`` runs there the stages that read no graph (featurise, block, train
with ``kgn-align train``'s default epochs through ``workflows.train_on_snapshot``, score,
pair_model), on CUDA when present, and composes the end to end figure from them and the
sample and write stages of a CPU report (``--cpu-figures``). ``benchmarks/gpu.sh`` runs it
with the unit tests on such a machine. Written to ``benchmarks/results/pipeline_<dataset>_<cuda|cpu>.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

if __package__ in (None, ""):  # run as a script: the repository root holds ``benchmarks``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.quality import run as run_command  # noqa: E402
from benchmarks.servers_bench import process_cpu_s  # noqa: E402
from kgn_align import datasets, loaders  # noqa: E402
from kgn_align.backfill import BackfillOptions, run_backfill  # noqa: E402
from kgn_align.candidates import search_pool  # noqa: E402
from kgn_align.graph import Graph  # noqa: E402
from kgn_align.memory import keep_batch_buffers  # noqa: E402
from kgn_align.scoring import ModelScorer, TrainedModel  # noqa: E402
from kgn_align.servers import server_for  # noqa: E402
from kgn_align.snapshot import Snapshot, take  # noqa: E402
from kgn_align.training import (  # noqa: E402
    SCORE_BATCH_PAIRS, SCORE_BATCH_PAIRS_CUDA, TrainConfig, pick_device, score_pairs)
from kgn_align.workflows import train_model, train_on_snapshot  # noqa: E402
from kgn_align.writeback import ModelStamp, Reviews, ScoredPair, labelled_pairs, write_pairs  # noqa: E402

log = logging.getLogger("pipeline")
RESULTS = Path(__file__).resolve().parent / "results"
TICKS = os.sysconf("SC_CLK_TCK")
STAGES = ("load", "sample", "featurise", "block", "train", "score", "pair_model", "write",
          "writeback", "writeback_rerun", "writeback_warm")
#: candidates per source entity: 10, as when the committed figures were taken (the
#: backfill's default is CANDIDATES_PER_SOURCE = 20 since; pairs/s do not depend on it)
K = 10
QUICK_PAIRS = 200


# ------------------------------------------------------------------------ measuring
def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set (``VmHWM``) of ``pid`` in MB since start or the last reset."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def reset_peak_rss(pid: int | str = "self") -> bool:
    """Start a new peak-RSS window for ``pid`` (Linux: ``clear_refs`` 5); False if refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def thread_cpu_s(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds of each of ``pid``'s live threads with its role: ``query`` (Bolt
    workers), ``jit`` (the JVM's compilers), ``gc``, ``other`` (see :func:`cpu_by_role`)."""
    out: dict[int, tuple[str, float]] = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as fh:
                stat = fh.read()
        except OSError:  # the thread ended
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ticks = stat.rsplit(")", 1)[1].split()
        # Linux keeps the first 15 characters of a thread's name ("neo4j.BoltWorke")
        role = ("query" if name.startswith(("neo4j.BoltWork", "BOLT-")) else
                "jit" if "CompilerThre" in name else
                "gc" if name.startswith(("GC Thread", "G1 ")) else "other")
        out[int(task)] = (role, (int(ticks[11]) + int(ticks[12])) / TICKS)
    return out


def cpu_by_role(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
                total: float) -> dict[str, float]:
    """Where a server's CPU went between two :func:`thread_cpu_s` readings, e.g. compiling
    on a cold JVM: each thread alive at the end counts from the first reading (or from its
    birth); ``ended``: the rest of the process's ``total`` — threads that ended in between
    (ArcadeDB ends a Bolt thread with its connection), whose time no reading saw. Summing
    the live threads of each reading instead gave negative figures there."""
    out = {"query": 0.0, "jit": 0.0, "gc": 0.0, "other": 0.0}
    for tid, (role, seconds) in after.items():
        out[role] += seconds - before.get(tid, (role, 0.0))[1]
    out["ended"] = max(total - sum(out.values()), 0.0)
    return {k: round(v, 2) for k, v in out.items()}


class Meter:
    """Times stages: wall, CPU here and in the server, peak RSS of both, load average."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid  # None: no server (--from-snapshot)
        self.stages: dict[str, dict[str, Any]] = {}

    def __call__(self, stage: str, fn: Callable[[], Any]) -> Any:
        log.info("stage %s ...", stage)
        pid = self.server_pid
        fresh = reset_peak_rss() and (pid is None or reset_peak_rss(pid))
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        wall, cpu = time.perf_counter(), time.process_time()
        server = process_cpu_s(pid) if pid is not None else 0.0
        threads = thread_cpu_s(pid) if pid is not None else {}
        value = fn()
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - wall
        after = thread_cpu_s(pid) if pid is not None else {}
        server_cpu = process_cpu_s(pid) - server if pid is not None else 0.0
        self.stages[stage] = {
            "wall_s": round(wall, 3),
            "client_cpu_s": round(time.process_time() - cpu, 2),
            "server_cpu_s": round(server_cpu, 2),
            "server_cpu_s_by_thread": cpu_by_role(threads, after, server_cpu),
            "client_peak_rss_mb": peak_rss_mb(),
            "server_peak_rss_mb": peak_rss_mb(pid) if pid is not None else None,
            "peak_rss_is_per_stage": fresh,
            "load_average_1m": round(os.getloadavg()[0], 2)}
        if cuda:
            self.stages[stage]["gpu_peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        log.info("stage %s: %s", stage, self.stages[stage])
        return value

    def rate(self, stage: str, unit: str, count: float, seconds: float | None = None) -> None:
        """Add ``<unit>_per_s`` (``count`` over the stage's wall time, or ``seconds``)."""
        s = seconds if seconds is not None else self.stages[stage]["wall_s"]
        self.stages[stage][unit] = count
        self.stages[stage][f"{unit}_per_s"] = round(count / s, 1) if s else None


def nbytes(*objs: Any) -> int:
    """Bytes held by tensors, arrays, strings and containers reachable from ``objs``
    (dataclass fields followed; a tensor storage shared by two objects counted once)."""
    seen: set[int] = set()

    def walk(o: Any) -> int:
        if isinstance(o, torch.Tensor):
            storage = o.untyped_storage()
            if storage.data_ptr() in seen:
                return 0
            seen.add(storage.data_ptr())
            return storage.nbytes()
        if id(o) in seen:
            return 0
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            return o.nbytes
        if sp.issparse(o):
            return sum(a.nbytes for a in (o.data, o.indices, o.indptr) if isinstance(a, np.ndarray))
        if isinstance(o, (str, bytes, int, float)) or o is None:
            return sys.getsizeof(o)
        if isinstance(o, dict):
            return sys.getsizeof(o) + sum(walk(k) + walk(v) for k, v in o.items())
        if isinstance(o, (list, tuple, set)):
            return sys.getsizeof(o) + sum(walk(v) for v in o)
        if is_dataclass(o):
            return sum(walk(getattr(o, f.name)) for f in fields(o))
        return sys.getsizeof(o)

    return sum(walk(o) for o in objs)


# ------------------------------------------- calls to the scoring APIs, one small function each
def block(snap: Snapshot, level0: Any, sources: torch.Tensor, pool: torch.Tensor) -> tuple[Any, Any, Any]:
    student = snap.distil_student(level0)
    vectors = snap.blocking(level0, student)
    return student, vectors, search_pool(vectors[0], vectors[1], sources, pool, K)


def train(graph: Graph, snap: Snapshot, models_dir: Path, config: TrainConfig) -> TrainedModel:
    return train_model(graph, snap.config, models_dir, train_config=config, snapshot=snap)


def make_scorer(snap: Snapshot, trained: TrainedModel) -> ModelScorer:
    return ModelScorer(snap, trained, k=K)


def score_all(scorer: ModelScorer, keys: Sequence[str], batch: int = 1000) -> list[ScoredPair]:
    return [p for start in range(0, len(keys), batch) for p in scorer(keys[start:start + batch])]


def backfill_write(graph: Graph, snap: Snapshot, scored: dict[str, list[ScoredPair]],
                   stamp: ModelStamp) -> Any:
    """The backfill over scores computed before: what it times is selection, reviews, the
    policy and the batched writes with their checkpoints."""
    def lookup(keys: Sequence[str]) -> list[ScoredPair]:
        return [p for k in keys for p in scored.get(k, ())]

    options = BackfillOptions(run_id=f"bench-{uuid.uuid4().hex[:8]}")
    return run_backfill(graph, snap.config, lookup, stamp, options)


def write(graph: Graph, snap: Snapshot, pairs: list[ScoredPair], stamp: ModelStamp) -> Any:
    return write_pairs(graph, snap.config, pairs, stamp)


# ------------------------------------------------------------------------- one run
def train_config(args: argparse.Namespace) -> TrainConfig:
    if args.full_train:
        return TrainConfig()
    return TrainConfig(epochs=1, max_steps=args.max_steps)


def scaled(ds: datasets.KGDataset, scale: float) -> datasets.KGDataset:
    """About ``scale`` of the dataset's entities: a ``slice`` (as ``load kg --pairs``) below 1."""
    if scale >= 1:
        return ds
    entities = sum(len(s.uris) for s in ds.sides)
    return ds.slice(max(10, round(scale * entities / 2)))


def run_scale(kind: str, ds: datasets.KGDataset, scale: float, args: argparse.Namespace) -> dict[str, Any]:
    part = scaled(ds, scale)
    result: dict[str, Any] = {"server": kind, "scale": scale,
                              "gold_pairs": len(part.train_pairs) + len(part.test_pairs)}
    with tempfile.TemporaryDirectory(prefix=f"kgn-pipeline-{kind}-") as tmp:
        server = server_for(kind, Path(tmp), heap=args.heap)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        state = server.start()
        result["version"] = state.version
        result["server_start_s"] = round(time.perf_counter() - t0, 2)
        meter = Meter(state.pid)
        try:
            with Graph(state.connection()) as graph:
                _stages(graph, part, meter, result, Path(tmp), args)
        finally:
            server.stop()
    result["stages"] = meter.stages
    entities = result["entities"]
    result["per_entity_ms"] = {
        stage: {k: round(m[k] / entities * 1000, 4) for k in ("wall_s", "client_cpu_s", "server_cpu_s")}
        for stage, m in meter.stages.items()}
    return result


def _stages(graph: Graph, ds: datasets.KGDataset, meter: Meter, result: dict[str, Any],
            tmp: Path, args: argparse.Namespace) -> None:
    report = meter("load", lambda: loaders.load_kg(graph, ds))
    result.update(entities=report.nodes, relationships=report.relationships,
                  seed_pairs=report.seed_pairs)
    meter.stages["load"]["stage_seconds"] = report.stage_seconds
    meter.rate("load", "rels", report.relationships, report.stage_seconds["relationships"])
    meter.rate("load", "nodes", report.nodes, report.stage_seconds["nodes"])

    config = loaders.preset_config(ds)
    snap = meter("sample", lambda: take(graph, config))
    meter.rate("sample", "seeds", snap.source.store.num_trees + snap.target.store.num_trees)
    if args.snapshot_out is not None:
        save_snapshot(args.snapshot_out, snap, labelled_pairs(graph, config))

    tcfg = train_config(args)
    trained, scorer, scored = model_stages(snap, meter, tcfg,
                                           lambda: train(graph, snap, tmp / "models", tcfg))

    by_source: dict[str, list[ScoredPair]] = {}
    for p in scored:
        by_source.setdefault(p.source, []).append(p)
    summary = meter("write", lambda: backfill_write(graph, snap, by_source, trained.stamp))
    meter.stages["write"].update(pairs_selected=summary.pairs_selected, batches=summary.batches_now)
    meter.rate("write", "edges", summary.writes.created)

    chosen = {(p.source, p.target) for p in scored if p.score >= 0.5}  # a superset of what was written
    # pairs a review rules out are refused by every write (checked again at write time):
    # timing them would time nothing
    unwritten = Reviews(labelled_pairs(graph, snap.config)).allowed(
        (p for p in scored if (p.source, p.target) not in chosen), "best")
    others = unwritten[:args.edges]
    stamp = ModelStamp(model="bench-writeback", method="benchmark")
    done = meter("writeback", lambda: write(graph, snap, others, stamp))
    meter.rate("writeback", "edges", done.created)
    again = meter("writeback_rerun", lambda: write(graph, snap, others, stamp))
    meter.stages["writeback_rerun"]["created"] = again.created
    meter.rate("writeback_rerun", "pairs", again.pairs)
    fresh = unwritten[args.edges:2 * args.edges]
    warm = meter("writeback_warm", lambda: write(graph, snap, fresh, stamp))
    meter.rate("writeback_warm", "edges", warm.created)

    result["memory"] = memory(snap, scorer)


def model_stages(snap: Snapshot, meter: Meter, tcfg: TrainConfig,
                 train_fn: Callable[[], TrainedModel]) -> tuple[TrainedModel, ModelScorer, list[ScoredPair]]:
    """The stages that read no graph: featurise, block, train (``train_fn``), score and
    pair_model, on CUDA when present (as the CLI). Returns the model, the scorer and its
    scores of every source entity."""
    level0 = meter("featurise", snap.fit_level0)[1]
    meter.rate("featurise", "entities", len(snap.source.names) + len(snap.target.names))

    sources = torch.tensor(sorted(snap.source.aligned_row.values()), dtype=torch.long)
    pool = torch.tensor(sorted(snap.target.aligned_row.values()), dtype=torch.long)

    student, blocking, candidates = meter("block", functools.partial(block, snap, level0, sources, pool))
    meter.rate("block", "pairs", int((candidates.index >= 0).sum()))
    # training and the backfill's scorer compute their own: these would only swell their peaks
    del level0, student, blocking, candidates

    trained = meter("train", train_fn)
    steps = int(trained.metrics.get("steps", 0))
    meter.stages["train"]["steps"] = steps
    meter.rate("train", "pairs", steps * tcfg.batch_size * (1 + tcfg.hard_negatives + tcfg.random_negatives))

    keys = sorted(snap.source.aligned_row)

    def score() -> tuple[ModelScorer, float, list[ScoredPair]]:
        t = time.perf_counter()
        scorer = make_scorer(snap, trained)
        setup = time.perf_counter() - t
        return scorer, setup, score_all(scorer, keys)

    scorer, setup_s, scored = meter("score", score)
    meter.stages["score"]["setup_s"] = round(setup_s, 3)  # its own featurise + blocking vectors
    meter.rate("score", "pairs", len(scored))
    matrix = scorer.alignment.matrix
    meter("pair_model", lambda: score_pairs(trained.model, scorer.side_a, scorer.side_b, matrix.row, matrix.col))
    meter.rate("pair_model", "pairs", int(matrix.row.numel()))

    return trained, scorer, scored


def memory(snap: Snapshot, scorer: ModelScorer) -> dict[str, Any]:
    """Bytes (and bytes per entity) of what a backfill holds while it scores, both sides:
    the scorer's level-0 vectors, the blocking vectors it searches (with the seed anchors),
    the anchor vectors, the sampled trees and neighbour lists, the entity tables and names."""
    entities = len(snap.source.table.keys) + len(snap.target.table.keys)
    parts = {
        "level0_vectors": nbytes(scorer.side_a.features, scorer.side_b.features),
        "blocking_vectors": nbytes(scorer.block_a, scorer.block_b),
        "anchor_vectors": nbytes(scorer.anchor_a, scorer.anchor_b),
        "trees": nbytes(snap.source.store, snap.target.store),
        "neighbour_lists": nbytes(snap.source.lists, snap.target.lists),
        "entity_tables_and_names": nbytes(snap.source.table, snap.target.table, snap.source.names,
                                          snap.target.names, snap.source.labels, snap.target.labels,
                                          snap.source.aligned_row, snap.target.aligned_row),
    }
    out: dict[str, Any] = {"entities": entities}
    for name, size in parts.items():
        out[name] = {"bytes": size, "bytes_per_entity": round(size / entities, 1)}
    total = nbytes(snap.source, snap.target, scorer.side_a, scorer.side_b, scorer.anchored)
    out["all_distinct"] = {"bytes": total, "bytes_per_entity": round(total / entities, 1)}
    return out


# ------------------------------------------ the model's stages on a machine without a server
def save_snapshot(path: Path, snap: Snapshot, labelled: list[tuple[str, str, str]]) -> None:
    """What ``--from-snapshot`` reads: both sides' sample and the reviewed pairs, pickled
    (a file of this benchmark's own, carried to a machine without a graph server: the GPU
    machine of issue 12)."""
    torch.save({"snapshot": snap, "labelled": labelled}, path)
    log.info("snapshot -> %s (%.1f MB)", path, path.stat().st_size / 2**20)


def cli_default_epochs() -> int:
    """``kgn-align train``'s default ``--epochs``, read off the command itself."""
    from kgn_align.cli import train as train_command

    return next(int(p.default) for p in train_command.params if p.name == "epochs")  # type: ignore[arg-type]


def from_snapshot(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """featurise, block, train (``workflows.train_on_snapshot``, with ``kgn-align train``'s
    default epochs), score and pair_model on a snapshot saved by ``--snapshot-out``; on CUDA
    when present. ``composed_end_to_end``: what ``train`` + ``backfill`` would take on this
    machine with each server of ``--cpu-figures`` (sample twice, as both commands sample,
    and write, read from that JSON) — composed, not run as commands."""
    saved = torch.load(path, weights_only=False)  # this benchmark's own file (save_snapshot)
    snap, labelled = saved["snapshot"], saved["labelled"]
    device = pick_device()
    result: dict[str, Any] = {"server": None, "snapshot": path.name, "device": str(device),
                              "entities": len(snap.source.table.keys) + len(snap.target.table.keys)}
    if device.type == "cuda":
        t = time.perf_counter()
        torch.zeros(1, device=device)
        torch.cuda.synchronize()
        result["cuda"] = {"name": torch.cuda.get_device_name(device), "torch": torch.__version__,
                          "cuda": torch.version.cuda, "context_init_s": round(time.perf_counter() - t, 2)}
    meter = Meter(None)
    tcfg = TrainConfig(epochs=cli_default_epochs())
    with tempfile.TemporaryDirectory(prefix="kgn-pipeline-snapshot-") as tmp:
        trained, scorer, scored = model_stages(snap, meter, tcfg, lambda: train_on_snapshot(
            snap, labelled, Path(tmp) / "models", train_config=tcfg))
    if args.profile is not None:
        profile_pair_model(trained, scorer, args.profile)
        result["pair_model_by_batch"] = pair_model_by_batch(trained, scorer)
    result["train_settings"] = {"epochs": tcfg.epochs, "epochs_run": trained.metrics.get("epochs_run"),
                                "model_device": str(next(trained.model.parameters()).device)}
    result["stages"] = meter.stages
    result["scored_pairs"] = len(scored)
    if args.cpu_figures is not None:
        result["composed_end_to_end"] = composed(meter.stages, json.loads(args.cpu_figures.read_text()),
                                                 result["entities"])
    return result


def profile_pair_model(trained: TrainedModel, scorer: ModelScorer, path: Path, top: int = 30) -> None:
    """The pair_model stage once more under cProfile (after the timed stages, so that the
    figures are not skewed): its ``top`` functions by cumulative time, as text, to ``path``."""
    import cProfile
    import io
    import pstats

    matrix = scorer.alignment.matrix
    profiler = cProfile.Profile()
    profiler.enable()
    score_pairs(trained.model, scorer.side_a, scorer.side_b, matrix.row, matrix.col)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    path.write_text(text.getvalue())


def pair_model_by_batch(trained: TrainedModel, scorer: ModelScorer) -> dict[str, dict[str, float]]:
    """pairs/s (and the GPU's peak memory, MB) of ``score_pairs`` over the score stage's
    pairs at several batch sizes: the CPU's default ``SCORE_BATCH_PAIRS`` up to 4 times the
    CUDA default ``SCORE_BATCH_PAIRS_CUDA`` (``training.score_batch_pairs``)."""
    matrix = scorer.alignment.matrix
    cuda = torch.cuda.is_available()
    out = {}
    for batch in (SCORE_BATCH_PAIRS, 1024, 4096, SCORE_BATCH_PAIRS_CUDA, 2 * SCORE_BATCH_PAIRS_CUDA,
                  4 * SCORE_BATCH_PAIRS_CUDA):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        score_pairs(trained.model, scorer.side_a, scorer.side_b, matrix.row, matrix.col, batch_pairs=batch)
        if cuda:
            torch.cuda.synchronize()
        out[str(batch)] = {"pairs_per_s": round(matrix.row.numel() / (time.perf_counter() - t), 1),
                           "gpu_peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None}
    return out


#: issue 12's target for graph in -> SAME_AS out on a GPU: seconds
GPU_END_TO_END_TARGET_S = 30


def composed(stages: dict[str, dict[str, Any]], cpu: dict[str, Any], entities: int) -> dict[str, Any]:
    """Per server of a CPU pipeline report: 2 x sample + write from that report's run of
    the same number of ``entities``, train + score from ``stages`` (this machine)."""
    out: dict[str, Any] = {}
    for run in cpu.get("runs", []):
        kind = run["server"]
        if run.get("entities") != entities:
            continue
        parts = {"sample_x2": round(2 * run["stages"]["sample"]["wall_s"], 2),
                 "train": stages["train"]["wall_s"], "score": stages["score"]["wall_s"],
                 "write": run["stages"]["write"]["wall_s"]}
        total = round(sum(parts.values()), 1)
        out[kind] = {"scale": run["scale"], "wall_s": parts, "total_s": total,
                     "target_s": GPU_END_TO_END_TARGET_S, "met": total <= GPU_END_TO_END_TARGET_S,
                     "not_counted": "two process starts (imports), the sampling's and writing's "
                                    "server on this machine rather than the CPU machine"}
    return out or {"none": f"no run of {entities} entities in the CPU report"}


# ------------------------------------------------------------- end to end, as a user runs it
#: issue 12's target for graph in -> SAME_AS out on this CPU: seconds, peak RSS in MB
END_TO_END_TARGET = {"wall_s": 180, "peak_rss_mb": 1536}


def command(meter: Meter, name: str, args: list[str], env: dict[str, str], log_path: Path) -> str:
    """Run ``kgn-align ARGS`` as its own process under ``meter`` (stage ``name``), with
    ``benchmarks/quality.py``'s process accounting: the stage's client figures are that
    process's own (``wait4``). Returns its stdout."""
    cost = meter(name, functools.partial(run_command, args, log_path, env))
    meter.stages[name].update(command=cost["command"], client_cpu_s=cost["cpu_s"],
                              client_peak_rss_mb=cost["peak_rss_mb"], peak_rss_is_per_stage=True)
    return cost["stdout"]


def end_to_end(kind: str, ds: datasets.KGDataset, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """``kgn-align train`` then ``kgn-align backfill`` (defaults) on a fresh server of ``kind``
    holding ``ds`` (loaded first, not timed)."""
    result: dict[str, Any] = {"server": kind}
    with tempfile.TemporaryDirectory(prefix=f"kgn-end-to-end-{kind}-") as tmp:
        server = server_for(kind, Path(tmp), heap=args.heap)  # type: ignore[arg-type]
        state = server.start()
        result["version"] = state.version
        meter = Meter(state.pid)
        try:
            connection = state.connection()
            with Graph(connection) as graph:
                report = loaders.load_kg(graph, ds)
            result.update(entities=report.nodes, relationships=report.relationships)
            env = {**os.environ, "NEO4J_URI": connection.uri or "", "NEO4J_USER": connection.user,
                   "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else "",
                   "NEO4J_DATABASE": connection.database or "", "KGN_ALIGN_HOME": str(Path(tmp) / "home")}
            steps = [["train", "--dataset", name], ["backfill", "--dataset", name, "--no-progress"]]
            if args.max_steps:
                steps[0] += ["--max-steps", str(args.max_steps)]
            out = ""
            for step in steps:
                out = command(meter, step[0], step, env, Path(tmp) / f"{step[0]}.log")
            result["backfill_summary"] = [line.strip() for line in out.splitlines() if line.strip()]
        finally:
            server.stop()
    result["commands"] = meter.stages
    total = round(sum(m["wall_s"] for m in meter.stages.values()), 1)
    peak = max(m["client_peak_rss_mb"] for m in meter.stages.values())
    result["total"] = {"wall_s": total, "client_peak_rss_mb": peak,
                       "client_cpu_s": round(sum(m["client_cpu_s"] for m in meter.stages.values()), 1),
                       "server_cpu_s": round(sum(m["server_cpu_s"] for m in meter.stages.values()), 1),
                       "target": END_TO_END_TARGET,
                       "met": total <= END_TO_END_TARGET["wall_s"] and peak <= END_TO_END_TARGET["peak_rss_mb"]}
    return result


# --------------------------------------------------------------------------- report
HEADLINE = {"load": "rels_per_s", "sample": "seeds_per_s", "featurise": "entities_per_s",
            "block": "pairs_per_s", "train": "pairs_per_s", "score": "pairs_per_s",
            "pair_model": "pairs_per_s",
            "write": "edges_per_s", "writeback": "edges_per_s", "writeback_rerun": "pairs_per_s",
            "writeback_warm": "edges_per_s"}


def side_by_side(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per stage, per server: wall, CPU, rate, at each server's largest scale."""
    largest: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run["server"] not in largest or run["scale"] > largest[run["server"]]["scale"]:
            largest[run["server"]] = run
    table: dict[str, Any] = {}
    for stage in STAGES:
        table[stage] = {}
        for kind, run in largest.items():
            m = run["stages"].get(stage)
            if m is not None:
                table[stage][kind] = {"wall_s": m["wall_s"], "client_cpu_s": m["client_cpu_s"],
                                      "server_cpu_s": m["server_cpu_s"],
                                      HEADLINE[stage]: m.get(HEADLINE[stage]),
                                      "load_average_1m": m["load_average_1m"]}
    return table


def scaling(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per server, per stage: wall ms per entity at each scale (entities in brackets)."""
    out: dict[str, Any] = {}
    for run in sorted(runs, key=lambda r: r["scale"]):
        kind = out.setdefault(run["server"], {"entities": [], "relationships": []})
        kind["entities"].append(run["entities"])
        kind["relationships"].append(run["relationships"])
        for stage, per in run["per_entity_ms"].items():
            kind.setdefault(stage, {"wall_ms_per_entity": [], "cpu_ms_per_entity": []})
            kind[stage]["wall_ms_per_entity"].append(per["wall_s"])
            kind[stage]["cpu_ms_per_entity"].append(round(per["client_cpu_s"] + per["server_cpu_s"], 4))
    return out


def main(argv: list[str] | None = None) -> int:
    keep_batch_buffers()  # as the CLI sets up its process
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="dbp15k_fr_en")
    parser.add_argument("--kinds", default="neo4j,arcadedb", help="server kinds, comma-separated")
    parser.add_argument("--scales", default="0.25,0.5,1",
                        help="fractions of the entities, comma-separated (1: the whole dataset)")
    parser.add_argument("--edges", type=int, default=20_000, help="pairs for the writeback stage")
    parser.add_argument("--max-steps", type=int, default=None, help="training steps cap")
    parser.add_argument("--full-train", action="store_true",
                        help="train with the default TrainConfig (8 epochs) instead of 1 epoch")
    parser.add_argument("--heap", default="2g", help="server JVM heap")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: a {QUICK_PAIRS}-pair slice, 5 training steps, 200 edges")
    parser.add_argument("--series-kinds", default=None,
                        help="kinds that run every scale (default: all); the others run the largest only")
    parser.add_argument("--end-to-end", action="store_true",
                        help="time 'kgn-align train' + 'kgn-align backfill' as a user runs them "
                        "(defaults) on each kind instead of the stages")
    parser.add_argument("--snapshot-out", type=Path, default=None,
                        help="save the sample of the largest scale's run there (for --from-snapshot)")
    parser.add_argument("--from-snapshot", type=Path, default=None,
                        help="no server: run the model's stages (featurise, block, train, score, "
                        "pair_model) on a snapshot saved by --snapshot-out, on CUDA when present")
    parser.add_argument("--cpu-figures", type=Path, default=RESULTS / "pipeline_dbp15k_fr_en.json",
                        help="with --from-snapshot: a CPU pipeline report whose sample and write "
                        "stages compose the end to end figure")
    parser.add_argument("--profile", type=Path, default=None,
                        help="with --from-snapshot: profile the pair_model stage again after the "
                        "timed stages (cProfile, cumulative) and write the text there")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    scales = [float(s) for s in args.scales.split(",")]
    kinds = args.kinds.split(",")
    series = kinds if args.series_kinds is None else args.series_kinds.split(",")
    # As the CLI: every stage runs under torch's default threads (all cores; training under
    # TrainConfig.num_threads when set).
    ds = datasets.read_kg(args.dataset) if args.from_snapshot is None else None  # the snapshot holds the sample
    if args.quick and ds is not None:
        ds = ds.slice(QUICK_PAIRS)
        args.max_steps, args.edges = 5, min(args.edges, 200)
    report: dict[str, Any] = {
        "benchmark": "pipeline end to end" if args.end_to_end else "pipeline",
        "dataset": args.dataset, "quick": args.quick,
        "settings": {"heap": args.heap, "torch_threads": torch.get_num_threads()},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "note": "shared machine: read each figure with its load average",
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}}
    if args.from_snapshot is not None:
        report["benchmark"] = "pipeline from a snapshot"
        report["runs"] = [from_snapshot(args.from_snapshot, args)]
    elif args.end_to_end:
        report["end_to_end"] = [end_to_end(kind, ds, args.dataset, args) for kind in kinds]
    else:
        report["settings"].update(scales=scales, series_kinds=series, k=K, edges=args.edges,
                                  train=vars(train_config(args)))
        report["runs"] = [run_scale(kind, ds, scale, args) for kind in kinds
                          for scale in (scales if kind in series else [max(scales)])]
        report["side_by_side"] = side_by_side(report["runs"])
        report["scaling"] = scaling(report["runs"])
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text, flush=True)
    stem = f"pipeline_{args.dataset}{'_end_to_end' if args.end_to_end else ''}"
    if args.from_snapshot is not None:
        stem = f"pipeline_{args.dataset}_{report['runs'][0]['device'].split(':')[0]}"
    out = args.out or (None if args.quick else RESULTS / f"{stem}.json")
    if out is not None:
        out.write_text(text + "\n")
        log.info("-> %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
