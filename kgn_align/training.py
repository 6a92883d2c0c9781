"""Training the pair model: gold pairs, hard + random negatives, early stopping, checkpoints.

Each step takes ``B`` gold pairs ``(a, b)``; every ``a`` is scored against its gold ``b``,
``hard_negatives`` look-alikes drawn from its ``hard_pool`` nearest side-b entities by
level-0 (name) vectors, and ``random_negatives`` uniform ones. The loss is a listwise
softmax over each ``a``'s candidates (what ranking needs) plus pairwise BCE (what a
threshold needs). The best epoch by validation Hits@1 is kept; its logits on the validation
candidate lists fit the Platt calibration (a pair on its own) and the candidate-list
calibration (a pair against its source's other candidates, what backfills score).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from kgn_align.assignment import linear_text
from kgn_align.candidates import dense_topk
from kgn_align.coldstart import ColdStartMLP
from kgn_align.errors import CheckpointError
from kgn_align.model.inputs import SideInputs, on_device, pair_attributes
from kgn_align.model.pair_model import ModelConfig, PairModel

log = logging.getLogger(__name__)

#: 3: also the validation pairs, on which a scorer fits its calibration (format 2: the hash
#: covered weights, features, vocabularies, config and student; format 1 weights only)
CHECKPOINT_FORMAT = 3


@dataclass
class TrainConfig:
    epochs: int = 8
    batch_size: int = 32  #: gold pairs per step (each brings 1 + negatives pairs)
    hard_negatives: int = 10
    random_negatives: int = 5
    hard_pool: int = 50
    lr: float = 3e-3
    weight_decay: float = 1e-5
    patience: int = 2
    valid_fraction: float = 0.1
    #: at least this many pairs held out (a third of the pairs at most): a scorer fits its
    #: calibration on their lists, and 10 % of a small seed alignment is too few to fit it
    min_validation: int = 30
    valid_candidates: int = 20  #: gold + this many - 1 look-alikes per validation source
    bce_weight: float = 0.5
    seed: int = 0
    max_steps: int | None = None  #: stop after this many steps in total (tests, smoke runs)
    log_every: int = 50
    #: torch CPU threads while training on CPU, restored afterwards; None (default) leaves
    #: torch's setting (every core). On dbp15k_fr_en, 2-core machine, otherwise idle: 250
    #: steps 34 s on two threads, 46 s on one (a core busy elsewhere turns that round)
    num_threads: int | None = None


@dataclass
class TrainResult:
    model: PairModel
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    #: ``(V, 2)`` rows of the pairs held out for validation: never trained on, so the
    #: scorer can fit its calibration on them (:mod:`kgn_align.assignment`)
    validation: Tensor | None = None


def pick_device() -> torch.device:
    """CUDA when available, CPU otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def hard_negative_pool(side_a: SideInputs, side_b: SideInputs, sources: Tensor, gold: Tensor, k: int) -> Tensor:
    """For each source, its ``k`` nearest side-b entities (among those with a tree) by
    level-0 vectors, gold removed (the last column is dropped where the gold was not among
    them). Shapes: ``(Q,), (Q,) -> (Q, k)`` side-b entity rows.
    """
    scorable = torch.nonzero(side_b.tree_position >= 0, as_tuple=True)[0]
    _, idx = dense_topk(side_a.features[sources], side_b.features[scorable], k + 1)
    idx = scorable[idx]
    not_gold = idx != gold.unsqueeze(1)
    # keep the first k non-gold entries per row, in rank order
    order = torch.argsort((~not_gold).to(torch.int8), dim=1, stable=True)
    return torch.gather(idx, 1, order)[:, :k]


def _candidates(pool: Tensor, gold: Tensor, n_hard: int, n_random: int, scorable: Tensor, gen: torch.Generator) -> Tensor:
    """``(B, 1 + n_hard + n_random)`` side-b rows: gold first, then sampled negatives
    (random ones drawn from ``scorable``, the side-b rows that have a tree)."""
    b = gold.numel()
    pick = torch.argsort(torch.rand(b, pool.size(1), generator=gen), dim=1)[:, :n_hard]
    hard = torch.gather(pool, 1, pick)
    slot = torch.randint(0, scorable.numel(), (b, n_random), generator=gen)
    rand = scorable[slot]
    rand = torch.where(rand == gold.unsqueeze(1), scorable[(slot + 1) % scorable.numel()], rand)
    return torch.cat([gold.unsqueeze(1), hard, rand], dim=1)


#: pairs per forward pass when scoring on the CPU. dbp15k_fr_en, 60,000 candidate pairs
#: (k = 20), ``score_pairs`` alone on this 2-core CPU, the sizes alternated in one process
#: (2026-12-07): 256 -> 11,500-13,800 pairs/s, 512 -> 14,400-18,000, 768 -> 15,400-17,300,
#: 1,024 -> 13,300-14,100 (a batch's slot tensors then outgrow the caches); on one thread
#: (the worker's) 256 -> 9,400-9,900, 512 -> 9,900. Before the per-entity projection
#: tables (one thread): 256 -> 6,700, 1,024 -> 5,400. The logits agree whatever the batch
#: to a few ulps (82 of 312,220 fr_en pairs differ between 256 and 512, by 2.9e-6 at most)
SCORE_BATCH_PAIRS = 512
#: the most pairs per forward pass when scoring on CUDA. On an H200 (dbp15k_fr_en, k = 10,
#: ``score_pairs`` alone, trees collated on the device): 256 -> 29,800 pairs/s, 1,024 ->
#: 119,700, 4,096 -> 328,900, 8,192 -> 473,400, 16,384 -> 649,300, 32,768 -> 839,600: each
#: batch's fixed cost (launches, index bookkeeping that waits on the device) bounds it, so
#: fewer, larger batches win (benchmarks/results/pipeline_profile.md)
SCORE_BATCH_PAIRS_CUDA = 32_768
#: GPU memory a pair takes in a scoring forward pass (k1 = k2 = 10 trees; the same H200 run:
#: 1,349 MB at 8,192 pairs a batch, 4,745 MB at 32,768)
SCORE_BYTES_PER_PAIR_CUDA = 141_000


def score_batch_pairs(device: torch.device | str, *, free_bytes: int | None = None) -> int:
    """Pairs per forward pass when scoring on ``device``: :data:`SCORE_BATCH_PAIRS` on the
    CPU; on CUDA the largest power of two up to :data:`SCORE_BATCH_PAIRS_CUDA` whose forward
    pass (:data:`SCORE_BYTES_PER_PAIR_CUDA` a pair) takes at most a quarter of the device's
    free memory (``free_bytes``, default: ``torch.cuda.mem_get_info``), at least
    :data:`SCORE_BATCH_PAIRS`."""
    device = torch.device(device)
    if device.type != "cuda":
        return SCORE_BATCH_PAIRS
    free = torch.cuda.mem_get_info(device)[0] if free_bytes is None else free_bytes
    batch = SCORE_BATCH_PAIRS_CUDA
    while batch > SCORE_BATCH_PAIRS and batch * SCORE_BYTES_PER_PAIR_CUDA > free // 4:
        batch //= 2
    return batch


def score_pairs(
    model: PairModel,
    side_a: SideInputs,
    side_b: SideInputs,
    rows_a: Tensor,
    rows_b: Tensor,
    *,
    batch_pairs: int | None = None,
    device: torch.device | None = None,
) -> tuple[Tensor, Tensor]:
    """Logits and calibrated probabilities for pairs ``(rows_a[i], rows_b[i])``, batched
    (``batch_pairs`` per forward pass; default :func:`score_batch_pairs` of the device), in
    inference mode; each side's entity table and its first-layer projections are computed
    once for all batches (:meth:`PairModel.entity_tables`). The pairs are scored in
    :func:`padding_order` and handed back in theirs. The result does not depend on the
    batch size or on which pairs share a batch (to float rounding). Shapes: ``(P,), (P,)
    -> (P,), (P,)``, on the CPU."""
    device = device or next(model.parameters()).device
    batch_pairs = batch_pairs or score_batch_pairs(device)
    side_a, side_b = on_device(side_a, device), on_device(side_b, device)  # collate there
    # within one batch the order pads nothing less
    order = padding_order(side_a, side_b, rows_a, rows_b) if rows_a.numel() > batch_pairs \
        else torch.arange(rows_a.numel())
    rows_a, rows_b = rows_a[order], rows_b[order]
    was_training = model.training
    model.eval()
    fa, fb = side_a.features.to(device), side_b.features.to(device)
    logits, probs = [], []
    with torch.inference_mode():
        ta = model.entity_tables(fa, side_a.entity_types().to(device))
        tb = model.entity_tables(fb, side_b.entity_types().to(device))
        for start in range(0, rows_a.numel(), batch_pairs):
            ra, rb = rows_a[start : start + batch_pairs], rows_b[start : start + batch_pairs]
            ba = side_a.batch(ra).to(device)
            bb = side_b.batch(rb).to(device)
            out = model(ba, bb, fa, fb, tables_a=ta, tables_b=tb,
                        attributes=pair_attributes(side_a, side_b, ra, rb))
            logits.append(out.logit.cpu())
            probs.append(out.prob.cpu())
    model.train(was_training)
    if not logits:
        return torch.empty(0), torch.empty(0)
    back = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel()))
    return torch.cat(logits)[back], torch.cat(probs)[back]


def padding_order(side_a: SideInputs, side_b: SideInputs, rows_a: Tensor, rows_b: Tensor) -> Tensor:
    """A permutation of the pairs ``(rows_a[i], rows_b[i])`` that puts pairs with trees of
    like size next to each other: by the hop-2 slots of the source's tree, then of the
    target's (stable). Cross-graph attention compares the two trees' slots in one block
    padded to a batch's largest trees, so a batch of like pairs pads less: on dbp15k_fr_en's
    candidate pairs the padded block is 1.15 times the slots compared instead of 2.1 times
    in the candidates' own order. Shapes: ``(P,), (P,) -> (P,)``, on the CPU."""
    def hop2(side: SideInputs, rows: Tensor) -> Tensor:
        per_tree = side.store.slots_at_depth(2).cpu()
        return per_tree[side.tree_position.cpu()[rows.cpu()].clamp(min=0)]

    size_a, size_b = hop2(side_a, rows_a), hop2(side_b, rows_b)
    return torch.argsort(size_a * (int(size_b.max()) + 1) + size_b, stable=True)


def train(
    model_config: ModelConfig,
    side_a: SideInputs,
    side_b: SideInputs,
    pairs: Tensor,
    config: TrainConfig | None = None,
    *,
    device: torch.device | None = None,
    negatives: Tensor | None = None,
) -> TrainResult:
    """Train a :class:`PairModel` on gold ``pairs`` (``(P, 2)`` entity rows a, b).

    ``negatives`` (``(R, 2)`` rows a, b): pairs people rejected. Each step also sees a
    batch of them as pointwise non-matches (binary cross-entropy towards 0, weighted like
    the list loss's BCE term), so a pair once rejected scores low even where names agree.
    """
    config = config or TrainConfig()
    if pairs.dim() != 2 or pairs.size(1) != 2 or pairs.size(0) < 2:
        raise ValueError("pairs must be (P, 2) with P >= 2")
    device = device or pick_device()
    threads = torch.get_num_threads()
    if config.num_threads and device.type == "cpu":
        torch.set_num_threads(config.num_threads)
    try:
        return _train(model_config, side_a, side_b, pairs, config, device, negatives)
    finally:  # scoring afterwards (batches of SCORE_BATCH_PAIRS) gains from every core
        torch.set_num_threads(threads)


def validation_count(accepted: int, config: TrainConfig | None = None) -> int:
    """How many of ``accepted`` pairs training holds out for validation (the pairs a scorer
    later fits its calibration on): ``valid_fraction`` of them, at least ``min_validation``
    but no more than a third."""
    config = config or TrainConfig()
    return max(1, int(round(config.valid_fraction * accepted)), min(config.min_validation, accepted // 3))


def _train(model_config: ModelConfig, side_a: SideInputs, side_b: SideInputs, pairs: Tensor,
           config: TrainConfig, device: torch.device, negatives: Tensor | None) -> TrainResult:
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    started = time.perf_counter()

    perm = torch.randperm(pairs.size(0), generator=gen)
    n_valid = validation_count(pairs.size(0), config)
    if n_valid < config.min_validation:
        log.warning("only %d of the %d accepted pairs are held out for validation (%d or more once there "
                    "are %d accepted pairs): the scores' calibration, fitted on them, moves when reviews "
                    "change, and a source without a counterpart may get a confident edge", n_valid,
                    pairs.size(0), config.min_validation, 3 * config.min_validation)
    valid, train_pairs = pairs[perm[:n_valid]], pairs[perm[n_valid:]]
    pool = hard_negative_pool(side_a, side_b, train_pairs[:, 0], train_pairs[:, 1], config.hard_pool)
    v_neg = hard_negative_pool(side_a, side_b, valid[:, 0], valid[:, 1], config.valid_candidates - 1)
    v_cands = torch.cat([valid[:, 1:], v_neg], dim=1)  # gold in column 0
    log.info(
        "training on %d pairs (%d held out for validation), %d candidates per source, device %s",
        train_pairs.size(0), n_valid, 1 + config.hard_negatives + config.random_negatives, device,
    )

    v_labels = torch.zeros(v_cands.shape)
    v_labels[:, 0] = 1.0

    def validation_logits() -> Tensor:
        """``(V, C)`` logits of the validation lists (gold in column 0) under the current weights."""
        logit, _ = score_pairs(model, side_a, side_b, valid[:, 0].repeat_interleave(v_cands.size(1)),
                               v_cands.reshape(-1), device=device)
        return logit.view(v_cands.shape)

    model = PairModel(model_config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scorable = torch.nonzero(side_b.tree_position >= 0, as_tuple=True)[0]
    side_a, side_b = on_device(side_a, device), on_device(side_b, device)  # batches collated there
    fa, fb = side_a.features.to(device), side_b.features.to(device)
    history: list[dict[str, float]] = []
    best: tuple[float, float] = (-1.0, float("inf"))
    best_state: dict[str, Tensor] | None = None
    best_logit: Tensor | None = None
    best_epoch, bad_epochs, step = 0, 0, 0
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(train_pairs.size(0), generator=gen)
        losses = []
        for start in range(0, order.numel(), config.batch_size):
            idx = order[start : start + config.batch_size]
            src, gold = train_pairs[idx, 0], train_pairs[idx, 1]
            cands = _candidates(pool[idx], gold, config.hard_negatives, config.random_negatives, scorable, gen)
            k = cands.size(1)
            ra, rb = src.repeat_interleave(k), cands.reshape(-1)
            ba = side_a.batch(ra).to(device)
            bb = side_b.batch(rb).to(device)
            logit = model(ba, bb, fa, fb, attributes=pair_attributes(side_a, side_b, ra, rb)).logit.view(-1, k)
            labels = torch.zeros_like(logit)
            labels[:, 0] = 1.0
            loss = F.cross_entropy(logit, torch.zeros(logit.size(0), dtype=torch.long, device=device))
            loss = loss + config.bce_weight * F.binary_cross_entropy_with_logits(logit, labels)
            if negatives is not None and negatives.size(0):
                pick = torch.randint(0, negatives.size(0), (min(config.batch_size, negatives.size(0)),),
                                     generator=gen)
                ra, rb = negatives[pick, 0], negatives[pick, 1]
                na, nb = side_a.batch(ra).to(device), side_b.batch(rb).to(device)
                rejected = model(na, nb, fa, fb, attributes=pair_attributes(side_a, side_b, ra, rb)).logit.view(-1)
                loss = loss + config.bce_weight * F.binary_cross_entropy_with_logits(
                    rejected, torch.zeros_like(rejected))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
            if step % config.log_every == 0:
                log.info("epoch %d step %d loss %.4f", epoch + 1, step, float(np.mean(losses[-config.log_every :])))
            if config.max_steps is not None and step >= config.max_steps:
                break
        v_logit = validation_logits()
        v_hits1 = float((v_logit.argmax(1) == 0).double().mean())
        v_loss = float(F.cross_entropy(v_logit, torch.zeros(v_logit.size(0), dtype=torch.long)))
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "valid_loss": v_loss, "valid_hits@1": v_hits1,
               "seconds": time.perf_counter() - started}
        history.append(row)
        log.info("epoch %d of %d: train loss %.4f, valid loss %.4f, valid Hits@1 %.4f", epoch + 1,
                 config.epochs, row["train_loss"], v_loss, v_hits1)
        if (v_hits1, -v_loss) > (best[0], -best[1]):
            best = (v_hits1, v_loss)
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best_logit = v_logit  # the calibration below fits these: no second scoring pass
            best_epoch, bad_epochs = epoch + 1, 0
        else:
            bad_epochs += 1
            if bad_epochs > config.patience and epoch + 1 < config.epochs:
                log.info("stopping early after epoch %d of %d (no gain for %d epochs)", epoch + 1,
                         config.epochs, bad_epochs)
                break
        if config.max_steps is not None and step >= config.max_steps:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
        log.info("kept epoch %d of %d: the best validation Hits@1 (%.4f), then the lowest validation loss "
                 "(%.4f)", best_epoch, len(history), best[0], best[1])
    if best_logit is None:
        best_logit = validation_logits()
    t, b = model.calibrate(best_logit.reshape(-1), v_labels.reshape(-1))
    log.info("calibrated: p = sigmoid(%s)", linear_text([t], ["logit"], b))
    t, m, b = model.calibrate_lists(best_logit, v_labels)
    log.info("in candidate lists: p = sigmoid(%s)", linear_text([t, m], ["logit", "margin"], b))
    seconds = time.perf_counter() - started
    metrics = {"valid_hits@1": best[0], "valid_loss": best[1], "kept_epoch": best_epoch,
               "epochs_run": len(history), "train_seconds": seconds, "steps": step}
    return TrainResult(model=model, history=history, metrics=metrics, seconds=seconds,
                       validation=valid.clone())


def _digest(h: Any, value: Any) -> None:
    """Feed ``value`` (tensors, dicts, lists and plain scalars, nested) into ``h``, canonically:
    dict keys in order, each value tagged with its type, tensors by dtype, shape and bytes."""
    if isinstance(value, Tensor):
        t = value.detach().cpu().contiguous()
        h.update(b"T" + str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    elif isinstance(value, dict):
        h.update(b"D%d" % len(value))
        for key in sorted(value, key=str):
            h.update(b"K" + str(key).encode())
            _digest(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(b"L%d" % len(value))
        for item in value:
            _digest(h, item)
    elif value is None or isinstance(value, (bool, int, float, str)):
        h.update(b"S" + type(value).__name__.encode() + repr(value).encode())
    else:
        raise TypeError(f"cannot hash a {type(value).__name__} into a model version")


def model_version(state_dict: dict[str, Tensor], **scoring: Any) -> str:
    """Short content hash (sha256, 12 hex digits) of the weights and of everything else that
    changes a score: ``scoring`` holds the featurizer state (n-gram IDF, hashing settings,
    context weight), the relation and type vocabularies, the model config and the cold-start
    student. Any difference in any of them gives another version."""
    h = hashlib.sha256()
    _digest(h, {"state_dict": dict(state_dict), **scoring})
    return h.hexdigest()[:12]


def checkpoint_version(ckpt: dict[str, Any]) -> str:
    """The version a checkpoint's contents hash to (see :func:`model_version`)."""
    return model_version(ckpt["state_dict"], config=ckpt["config"], relations=ckpt["relations"],
                         types=ckpt["types"], features=ckpt["features"], student=ckpt["student"],
                         validation=ckpt["validation"])


def save_checkpoint(
    path: str | Path,
    model: PairModel,
    *,
    relations: list[str],
    types: list[str],
    metrics: dict[str, float] | None = None,
    train_config: TrainConfig | None = None,
    features: dict[str, Any] | None = None,
    student: ColdStartMLP | None = None,
    validation: list[tuple[str, str]] | None = None,
) -> str:
    """Write a checkpoint of tensors and plain types only (``weights_only`` loadable);
    returns the model version (:func:`checkpoint_version`: a content hash of everything in
    it that changes a score, so the ``model`` property of written edges names exactly what
    scored them)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    student_state = student.state() if student is not None else None
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "version": "",
        "state_dict": state,
        "config": model.config.to_dict(),
        "relations": list(relations),
        "types": list(types),
        "metrics": {k: v if isinstance(v, int) else round(float(v), 6)
                    for k, v in (metrics or {}).items()},
        "train_config": asdict(train_config) if train_config else {},
        "features": dict(features or {}),
        "student": student_state,
        "validation": [[str(a), str(b)] for a, b in (validation or [])],
    }
    version = ckpt["version"] = checkpoint_version(ckpt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return version


def load_checkpoint(path: str | Path, *, device: torch.device | str = "cpu") -> tuple[PairModel, dict[str, Any]]:
    """Rebuild the model from a checkpoint (``weights_only=True``: no code is unpickled).
    The model is moved to ``device``; the rest of the checkpoint stays on the CPU (the
    featurizer's and the student's tensors meet numpy and CPU tensors there).

    The stored version is checked against everything that changes a score (weights,
    featurizer, vocabularies, config, student: :func:`checkpoint_version`), so a file
    changed in any of them is refused. Raises :class:`CheckpointError` with one line.
    """
    try:  # everything but the model's weights (featurizer, student) is read on the CPU
        ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise CheckpointError(f"{path}: not a kgn-align checkpoint (torch.load cannot read it: "
                              f"{type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        what = f"a {type(ckpt).__name__}" if not isinstance(ckpt, dict) else "a dict without a 'format' entry"
        raise CheckpointError(f"{path}: not a kgn-align checkpoint (a torch file holding {what}; "
                              f"'kgn-align train' writes checkpoints)")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        found = ckpt.get("format")
        raise CheckpointError(f"{path}: unsupported checkpoint format {found!r} (this kgn-align "
                              f"reads format {CHECKPOINT_FORMAT}: train the model again)")
    try:
        actual = checkpoint_version(ckpt)
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: incomplete checkpoint ({exc})") from None
    if actual != ckpt["version"]:
        raise CheckpointError(f"{path}: contents do not match the recorded version "
                              f"{ckpt['version']} (the file was changed after training)")
    model = PairModel(ModelConfig.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), ckpt
