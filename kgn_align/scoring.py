"""Scoring candidate pairs with a trained pair model, for backfills and evaluation.

The stages, over every source entity the backfill could align at once:

1. **Blocking**: each source's ``k`` best targets by blocking vectors (names +
   sampled neighbourhood names, with the checkpoint's cold-start student for entities
   without neighbours, :mod:`kgn_align.candidates`; + the seed anchors among the sampled
   neighbours, :mod:`kgn_align.seed_propagation`), ranked by CSLS against hubness
   (:class:`~kgn_align.candidates.CslsSearch`), within the same entity type, among the
   targets still open: a target accepted for another source, and a rejected pair, are no
   candidates.
2. **Pair model**: the GNN (cross-encoder) scores each candidate pair; pairs stream
   through it in fixed-size batches.
3. **Global assignment** (:mod:`kgn_align.assignment`): the pair's blocking cosine plus
   ``beta`` times its logit, Sinkhorn-normalised over the whole candidate matrix, so that
   two sources compete for one target and a source whose look-alike is another source's
   match loses it. ``beta`` is the weight under which the model's validation answers are
   most likely after Sinkhorn (``0`` when the model does not help there: then the GNN is
   honestly out of the decision).
4. **Calibration**: a probability per pair, each source's summing to 1 at most (its
   candidates and "no counterpart" in one softmax, :class:`~kgn_align.assignment.Calibrator`),
   fitted on the validation lists with and without their answers (sources with no
   counterpart are calibrated too). The validation
   pairs are accepted ones: they compete in stage 3 while the calibrator is fitted, then
   stages 3 and 4 run again without them on the lists the scores are read from (a settled
   pair takes no other source's assignment mass or margins).
5. **Bootstrapping** (whole-side alignments): the confident mutual best pairs of stages 1-4
   become pseudo-seeds, anchors like the reviewed pairs
   (:func:`~kgn_align.seed_propagation.pseudo_seeds`), and stages 1-4 run again with them;
   the scores are those of the second round. Each variant bootstraps from its own first
   round.

Sources without a name (an all-zero name vector) get their own logit weight and calibrator
in stages 3 and 4, chosen and fitted on the validation sources with their names taken away
(:class:`NamelessLists`): found again by their neighbours alone and scored by the pair model
without their names.

:class:`ModelScorer` computes all of it once, on first use; calling it with a batch of
source keys then looks their pairs up, so batches, resumed runs and the order of calls
give the same scores. Its :meth:`ModelScorer.with_variant` gives the baselines with everything
else equal: ``propagation-sinkhorn`` (``beta = 0``: names and seed anchors propagated to
neighbours plus Sinkhorn, in the manner of SEU and LightEA) and ``neighbourhood-cosine``
(``beta = 0``, no Sinkhorn).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import scipy.sparse as sp
import torch
from torch import Tensor

from kgn_align.assignment import (
    ATTRIBUTE_EVIDENCE,
    FEATURES,
    ITERATIONS,
    TEMPERATURE,
    CandidateMatrix,
    Calibrator,
    answer_log_likelihood,
    best_per_row,
    competition_features,
    counterpart_share,
    dangling_copies,
    sinkhorn,
)
from kgn_align.attributes import MatchWeights, levels
from kgn_align.candidates import (CONTEXT_BETA, CSLS_K, CandidateCache, Candidates, CslsSearch, hubness,
                                   search_cached)
from kgn_align.coldstart import ColdStartMLP
from kgn_align.config import CANDIDATES_PER_SOURCE, AlignConfig
from kgn_align.errors import ConfigError
from kgn_align.features import NgramFeaturizer
from kgn_align.memory import release_free_memory
from kgn_align.model.inputs import SideInputs
from kgn_align.model.pair_model import PairModel
from kgn_align.neighborhood import TreeStore
from kgn_align.seed_propagation import (ANCHOR_WEIGHT, PSEUDO_SEED_MIN_PROB, adjacency, anchor_identity,
                                        anchor_vectors, anchors_replaced, pseudo_seeds, reach_of_change,
                                        with_anchors)
from kgn_align.snapshot import Snapshot, unfamiliar_relations
from kgn_align.training import load_checkpoint, pick_device, score_pairs
from kgn_align.writeback import ModelStamp, ScoredPair, reviewed_as

log = logging.getLogger(__name__)

METHOD = "cg-mualign"
#: weights of the pair model's logit tried against the validation pairs (0 = no GNN). The
#: small ones matter: on dbp15k_ja_en validation Hits@1 was 0.9511 at 0, 0.9556 at 0.01 and
#: 0.9511 again at 0.02, so a grid starting at 0.02 kept the GNN out (test: 0.9494 -> 0.9558).
LOGIT_WEIGHTS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
#: the weight used when the graph holds none of the model's validation pairs to choose by
UNCHOSEN_LOGIT_WEIGHT = 0.05
#: the scorer's variants: (logit weight or None = chosen, Sinkhorn iterations)
VARIANTS: dict[str, tuple[float | None, int]] = {
    METHOD: (None, ITERATIONS),
    "propagation-sinkhorn": (0.0, ITERATIONS),
    "neighbourhood-cosine": (0.0, 0),
}
#: sources without a name needed to estimate their own share with a counterpart (fewer:
#: the named sources' share stands in)
MIN_SHARE_SOURCES = 50
DECIMALS = 6  #: scores are rounded so a resumed run writes exactly what a fresh one would


#: above this share of sampled neighbours linked by relationship types a model does not
#: know, scoring warns that the model was trained on another graph or configuration
UNFAMILIAR_SHARE = 0.5
#: fewer validation sources than this make a calibration that reviews visibly move
FEW_VALIDATION = 30
#: the warnings said in this process, by key: each once, not per method, round or job
_said: set[str] = set()


def _warn_once(key: str, message: str, *args: object) -> None:
    """``log.warning(message, *args)`` the first time ``key`` comes, and never again in
    this process (the scorer runs per method, per bootstrapping round and per job)."""
    if key not in _said:
        _said.add(key)
        log.warning(message, *args)


def reading_settings(config: AlignConfig) -> dict[str, object]:
    """The settings of ``config`` that change what the model sees of the graph beyond the
    sampling caps (which a checkpoint records apart): the relationship types followed
    (``None``: every type but SAME_AS) and the name properties read."""
    types = config.relationship_types
    return {"relationship_types": None if types is None else sorted(types),
            "name_properties": list(config.name_properties)}


def side_selection(config: AlignConfig) -> dict[str, list[object]]:
    """Which nodes each side's entities are, ``{"source": [label, property, value], "target":
    [...]}``: recorded with a model, so that a configuration with the two sides swapped is
    refused (:meth:`TrainedModel.check_reading`)."""
    return {which: [side.label, side.property, side.value]
            for which, side in (("source", config.source), ("target", config.target))}


def side_text(selection: Sequence[object]) -> str:
    """``:Song {graph: 'a'}``: one side of :func:`side_selection`, as a Cypher pattern."""
    label, prop, value = selection
    return f":{label}" + (f" {{{prop}: {value!r}}}" if prop is not None else "")


def _setting_text(value: object) -> str:
    return "every type but SAME_AS" if value is None else repr(value)


def _other_sides_text(sides: dict[str, list[object]], config: AlignConfig) -> str | None:
    """``":Song {graph: 'a'} -> :Song {graph: 'b'}"``: a model's recorded ``sides`` when they
    are not ``config``'s (:func:`side_selection`); ``None`` when they are, or when the model
    does not say (older checkpoints)."""
    if not sides or sides == side_selection(config):
        return None
    return f"{side_text(sides['source'])} -> {side_text(sides['target'])}"


def other_graphs_of(path: Path, config: AlignConfig) -> str | None:
    """:func:`_other_sides_text` of the checkpoint at ``path``; ``None`` also when it cannot
    be read."""
    try:
        sides = TrainedModel.load(path, device=torch.device("cpu")).sides
    except Exception:  # unreadable: nothing to say about its graphs
        return None
    return _other_sides_text(sides, config)


def fitting_models(models_dir: Path, config: AlignConfig) -> str:
    """What to do when the latest model does not fit ``config``: the checkpoints in
    ``models_dir`` that do (trained on its sides, reading the graph as it says:
    :meth:`TrainedModel.check_reading`), newest first, to give as ``--model``; else that
    none does. A checkpoint that cannot be read is passed over."""
    found: list[tuple[float, str]] = []
    for path in (models_dir / f"{version}.pt" for version in trained_ids(models_dir)):
        try:
            candidate = TrainedModel.load(path, device=torch.device("cpu"))
            if candidate.sides == side_selection(config):
                candidate.check_reading(config, warn=False)
                found.append((path.stat().st_mtime, candidate.version))
        except Exception:  # unreadable, or reads the graph otherwise: not one to suggest
            continue
    if not found:
        return (f"no checkpoint in {models_dir} was trained for this configuration: train one, "
                f"or give --model with one trained for it elsewhere")
    versions = [v for _, v in sorted(found, reverse=True)]
    return (f"give --model {versions[0]}, the newest model trained for this configuration"
            + (f" (older ones: {', '.join(versions[1:4])})" if len(versions) > 1 else "")
            + f" (the models are in {models_dir}), or train again")


class UnfamiliarModel(ConfigError):
    """The model does not fit the graph or the configuration: taken by default, it was
    trained on another graph (:meth:`TrainedModel.check_relations`), or it read the graph
    otherwise (:meth:`TrainedModel.check_reading`). No retry mends it."""


def trained_ids(models_dir: Path) -> list[str]:
    """The model ids trained in ``models_dir`` (its checkpoints but ``latest.pt``), sorted."""
    return sorted(p.stem for p in models_dir.glob("*.pt") if p.stem != "latest") if models_dir.is_dir() else []


def checkpoint_path(given: str | Path | None, models_dir: Path) -> Path:
    """What ``--model`` names: ``None`` is the latest model trained in ``models_dir``
    (``latest.pt``); a model id as ``train`` prints it (``d1f64a1ddf69``), or a unique start
    of one (4 characters at least), is its checkpoint there; anything else is a path, as
    given. A bare name that is neither a file nor such an id raises ``KgnAlignError``
    listing the ids there are (a trial's ``--model abc`` said only "no checkpoint file")."""
    if given is None:
        return models_dir / "latest.pt"
    path = Path(given)
    if path.exists() or path.parent != Path(".") or path.suffix:
        return path
    if (models_dir / f"{path.name}.pt").is_file():
        return models_dir / f"{path.name}.pt"
    ids = trained_ids(models_dir)
    starting = [i for i in ids if i.startswith(path.name)]
    if len(starting) == 1 and len(path.name) >= 4:
        return models_dir / f"{starting[0]}.pt"
    from kgn_align.errors import KgnAlignError

    if len(starting) > 1:
        raise KgnAlignError(f"--model {path.name!r} starts several model ids in {models_dir}: "
                            f"{', '.join(starting[:6])}; give more of it")
    raise KgnAlignError(f"--model {path.name!r} is no checkpoint file, nor a model trained in {models_dir}: "
                        + (f"its models are {', '.join(ids)}" if ids else "it holds none (train one with 'kgn-align train')"))


@dataclass
class TrainedModel:
    """A checkpoint loaded for use: the model, its featurizer and vocabularies."""

    model: PairModel
    featurizer: NgramFeaturizer
    relations: list[str]
    types: list[str]
    version: str
    metrics: dict[str, float]
    path: Path
    context_beta: float = 0.0
    student: ColdStartMLP | None = None  #: blocking vectors for entities without neighbours
    #: (source key, target key) pairs held out of training: the calibration is fitted on them
    validation: list[tuple[str, str]] = field(default_factory=list)
    #: attribute properties the model compares (:mod:`kgn_align.attributes`)
    attributes: list[str] = field(default_factory=list)
    #: the tree-shaping sampling settings it was trained with (empty: older checkpoints)
    sampling: dict[str, object] = field(default_factory=dict)
    #: how its graph was read: :func:`reading_settings` of the training's config (empty:
    #: older checkpoints)
    reading: dict[str, object] = field(default_factory=dict)
    #: :func:`side_selection` of the training's config (empty: older checkpoints)
    sides: dict[str, list[object]] = field(default_factory=dict)
    #: refuse, not warn, when it is a model of another graph (:meth:`check_relations`): set
    #: for the model a backfill takes by default (the latest trained, on whatever graph)
    refuse_unfamiliar: bool = False

    @classmethod
    def load(cls, path: str | Path, device: torch.device | None = None) -> TrainedModel:
        path = Path(path)
        if not path.is_file():
            from kgn_align.errors import KgnAlignError

            if path.name != "latest.pt":  # named by the user (--model): a typo, most likely
                raise KgnAlignError(f"no checkpoint file at {path}"
                                    + (" (it is a folder)" if path.is_dir() else ""))
            raise KgnAlignError(f"no model at {path}: train one with 'kgn-align train'")
        model, ckpt = load_checkpoint(path, device=device or pick_device())
        features = dict(ckpt["features"])
        beta = float(features.pop("context_beta", 0.0))
        attributes = [str(p) for p in features.pop("attribute_properties", [])]
        sampling = dict(features.pop("sampling", {}))
        reading = dict(features.pop("reading", {}))
        sides = {str(k): list(v) for k, v in dict(features.pop("sides", {})).items()}
        student = ColdStartMLP.from_state(ckpt["student"]) if ckpt.get("student") else None
        return cls(model, NgramFeaturizer.from_state(features), list(ckpt["relations"]),
                   list(ckpt["types"]), ckpt["version"], dict(ckpt.get("metrics", {})), path, beta,
                   student, [(str(a), str(b)) for a, b in ckpt.get("validation", [])], attributes,
                   sampling, reading, sides=sides)

    def check_reading(self, config: AlignConfig, *, warn: bool = True) -> None:
        """Refuse a configuration that reads the graph otherwise than the model's training
        did — other relationship types (other neighbourhoods), other name properties (other
        features) or fewer attribute properties than it compares: its scores would change
        while the edges' ``model`` stayed the same, so two backfills could not be told apart.
        :class:`ConfigError` naming the setting, before any sampling. A configuration
        whose [source] and [target] are the training's the other way round is refused too:
        its edges would run against the reviewed ones. ``warn`` False: attribute properties
        the model does not compare pass unsaid (a model looked at, not used)."""
        if self.sides:
            now_sides = side_selection(config)
            if now_sides["source"] == self.sides.get("target") and now_sides["target"] == self.sides.get("source") \
                    and now_sides["source"] != now_sides["target"]:
                raise UnfamiliarModel(
                    f"model {self.version} was trained to align {side_text(self.sides['source'])} (source) "
                    f"to {side_text(self.sides['target'])} (target); the configuration has them the "
                    f"other way round: [source] and [target] are swapped (edges would point against "
                    f"the reviewed ones); swap them back, or train a model this way round "
                    f"(model: {self.path})")
        now = reading_settings(config)
        for setting, trained in self.reading.items():
            if setting not in now or now[setting] == trained:
                continue
            if setting == "relationship_types" and trained is None and isinstance(now[setting], list) \
                    and set(self.relations[1:]) <= set(now[setting]):
                continue  # every type it learned is still followed: the same neighbourhoods for it
            differs = (f"was trained with {setting} = {_setting_text(trained)}, the configuration "
                       f"says {_setting_text(now[setting])}")
            if self.path.name == "latest.pt":  # taken by default: most likely another graph's
                raise self._latest_refused(differs, config, ", whose scores would mean something else here")
            raise UnfamiliarModel(
                f"model {self.version} {differs}: its scores would mean something else here, "
                f"under the same model name; train again with this configuration, or set "
                f"{setting} as it was (model: {self.path})")
        missing = [p for p in self.attributes if p not in config.attribute_properties]
        if missing:
            differs = (f"compares attribute properties {self.attributes}, the configuration's "
                       f"attribute_properties lack {missing}")
            if self.path.name == "latest.pt":
                raise self._latest_refused(differs, config)
            raise UnfamiliarModel(f"model {self.version} {differs}: add them to attribute_properties, "
                                  f"or train again with this configuration (model: {self.path})")
        extra = [p for p in config.attribute_properties if p not in self.attributes]
        if extra and warn:  # read by nothing until a model learns them: said, not refused
            _warn_once(f"extra-attributes:{self.version}:{extra}",
                       "attribute_properties %s are not compared by model %s (it learned %s): they take "
                       "no part in its scores until 'kgn-align train' learns them",
                       extra, self.version, self.attributes or "none")

    def _latest_refused(self, differs: str, config: AlignConfig, why: str = "") -> UnfamiliarModel:
        """The refusal of ``latest.pt`` for ``config`` because it ``differs``: led by the
        graphs it was trained on when they are not the configuration's (a trial read the
        attribute that differed first and the reason, another dataset's model, last), with
        the checkpoints that fit (:func:`fitting_models`)."""
        elsewhere = _other_sides_text(self.sides, config)
        if elsewhere:
            what = f"the latest model ({self.version}) was trained on other graphs ({elsewhere}) and {differs}"
        else:
            what = f"the latest model ({self.version}) {differs}: a model of another graph or configuration{why}"
        return UnfamiliarModel(f"{what}; nothing was done: {fitting_models(self.path.parent, config)}")

    def inputs(self, snapshot: Snapshot,
               level0: tuple[Tensor, Tensor] | None = None) -> tuple[SideInputs, SideInputs]:
        self.check_relations([snapshot.source.store, snapshot.target.store])
        return snapshot.inputs(self.featurizer, self.relations, self.types, self.context_beta, level0,
                               self.attributes)

    def check_relations(self, stores: Sequence[TreeStore]) -> None:
        """Warn (once per process and model) when most neighbours sampled in ``stores`` are
        linked by relationship types the model was not trained on: a model of another graph
        or configuration, whose relation embeddings would read them all as unknown."""
        if f"unfamiliar {self.version}" in _said and not self.refuse_unfamiliar:
            return  # said already: the worker asks for every job, and counting is not free
        share, unknown = unfamiliar_relations(stores, self.relations)
        if share > UNFAMILIAR_SHARE and self.refuse_unfamiliar:
            raise UnfamiliarModel(
                f"the latest model ({self.version}) was trained on another graph: {100 * share:.0f}% of "
                f"the sampled neighbours here are linked by relationship types it does not know "
                f"({', '.join(unknown[:5])}); nothing was written: give --model with the checkpoint "
                f"trained for this graph (the models are in {self.path.parent}), or train again")
        if share > UNFAMILIAR_SHARE:
            _warn_once(f"unfamiliar {self.version}",
                       "model %s was trained on other relationship types: %.0f%% of the sampled "
                       "neighbours here are linked by types it does not know (%s), read as unknown; "
                       "train again with this configuration, or give the --model trained for it",
                       self.version, 100 * share, ", ".join(unknown[:5]))

    @property
    def stamp(self) -> ModelStamp:
        return ModelStamp(model=f"kgn-align/{self.version}", method=METHOD)


@dataclass
class NamelessLists:
    """Validation sources as they would look without a name, for the sources in a graph that
    have none (:meth:`ModelScorer.align`): each validation source's candidates found again
    with the name part of its blocking vector zeroed, and the pair model's logits with its
    name vector zeroed. Entries grouped by source row; ``gold``: each row's answer.

    Shapes: ``rows (V,)``, ``gold (V,)``, ``pool (T,)`` (the target rows searched), the
    rest ``(P,)`` entries."""

    rows: Tensor
    gold: Tensor
    pool: Tensor
    matrix: CandidateMatrix
    cosine: Tensor
    #: the anchors (reviewed pairs and pseudo-seeds) the blocking vectors searched with held
    anchors: frozenset[tuple[str, str]]
    #: pair-model logits; ``None`` until a scorer that uses them asks (the baselines do not)
    logit: Tensor | None = None

    def scores(self, beta: float) -> Tensor:
        """``cosine + beta * logit`` (the cosine alone while unscored)."""
        return self.cosine if self.logit is None else self.cosine + beta * self.logit


def _nameless_key(variant: str) -> str:
    """Where a variant's logit weight for sources without a name is kept among the betas."""
    return f"{variant}:nameless"


@dataclass
class ScoringCache:
    """What a long-running caller (the worker) keeps between jobs for one model, so that a
    job after a small change recomputes little: level-0 vectors by name text, pair-model
    logits by (source key, target key), the blocking results (:class:`CandidateCache`), the
    blocking vectors of the last snapshot (refreshed from its dirty rows), and the logit
    weight and pseudo-seeds each variant chose. :func:`kgn_align.changes.forget_changed`
    drops what a change moves; :meth:`clear` drops everything (a new model, a new snapshot).

    The logit weights, pseudo-seeds and the targets' CSLS hubness (a new target's is
    computed when it first competes) are not dropped by a change: they are a setting of
    the model on the graph as a whole, chosen again by :meth:`clear` and by every whole-side
    backfill (:meth:`choose_again`); a pseudo-seed that a review contradicts (an accepted or
    rejected pair on one of its ends) is left out at once. A change job that chose them
    again would score the sources it re-aligns under one weight and leave every other edge
    under another — and choosing takes a Sinkhorn pass over the whole candidate matrix per
    weight tried (on dbp15k_fr_en it made six jobs in twenty take 2.0–2.8 s instead of
    1.3–1.5); bootstrapping, a second alignment of the whole side.
    """

    names: dict[str, Tensor] = field(default_factory=dict)
    logits: dict[tuple[str, str], float] = field(default_factory=dict)
    candidates: CandidateCache = field(default_factory=CandidateCache)
    #: (snapshot token, blocking beta, source vectors, target vectors)
    blocking: tuple[str, float, Tensor, Tensor] | None = None
    betas: dict[str, float] = field(default_factory=dict)
    #: each variant's pseudo-seeds (:func:`kgn_align.seed_propagation.pseudo_seeds`), by key
    pseudo_seeds: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    #: each variant's CSLS hubness of the targets (:class:`~kgn_align.candidates.CslsSearch`),
    #: by target key: kept with the pseudo-seeds, chosen again with them
    hubness: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the validation sources' lists without their names (sources without a name only)
    nameless: NamelessLists | None = None
    #: the last scorer's anchor part, source and target side: refreshed, not recomputed
    anchored: tuple[SideAnchors, SideAnchors] | None = None

    def clear(self, *, names: bool = False) -> None:
        """Forget every kept result (``names`` too: they belong to one featurizer)."""
        if names:
            self.names.clear()
        self.logits.clear()
        self.candidates.clear()
        self.blocking = None
        self.anchored = None
        self.choose_again()
        self.forget_nameless()

    def choose_again(self) -> None:
        """Forget the chosen logit weights and pseudo-seeds: the next whole-side alignment
        chooses them on the graph as it stands (a backfill job does this first)."""
        self.betas.clear()
        self.pseudo_seeds.clear()
        self.hubness.clear()

    def moved_anchors(self, scorer: ModelScorer) -> None:
        """Drop what entities whose anchor vectors moved since the last scorer invalidate —
        their candidate lists as sources, every list holding one as a target, and the
        nameless validation lists — and keep the new vectors. A change to one
        relationship moves the anchors up to two hops away
        (:mod:`kgn_align.seed_propagation`), further than the trees it touched. The chosen
        logit weights stay (see the class docstring)."""
        kept, self.anchored = self.anchored, scorer.anchored
        if kept is None:
            return
        before, now = (kept[0].vectors, kept[1].vectors), (scorer.anchor_a, scorer.anchor_b)
        if any(b.shape != n.shape for b, n in zip(before, now)):
            self.candidates.clear()
        else:
            moved = [(b != n).any(dim=1).nonzero(as_tuple=True)[0].tolist() for b, n in zip(before, now)]
            if not moved[0] and not moved[1]:
                return
            s_keys, t_keys = scorer.snapshot.source.table.keys, scorer.snapshot.target.table.keys
            self.candidates.forget(sources=[s_keys[r] for r in moved[0]], targets=[t_keys[r] for r in moved[1]])
        self.forget_nameless()

    def forget_nameless(self) -> None:
        """Drop the nameless validation lists (searched again when next needed; the logit
        weights chosen on them stay)."""
        self.nameless = None


@dataclass
class SideAnchors:
    """One side's anchor part (:mod:`kgn_align.seed_propagation`) and what it was computed
    from, so that the next job of a worker recomputes only the rows a change can move:
    the seed anchors, the snapshot (its token) and its adjacency; the anchor vectors
    ``(N, D)`` and the blocking vectors with them ``(N, F + D)``."""

    anchors: frozenset[tuple[str, str]]
    token: str
    adjacency: sp.csr_matrix
    vectors: Tensor
    blocking: Tensor


@dataclass
class Alignment:
    """The global stage's result over one candidate matrix (entries grouped by source row).

    Shapes: every tensor ``(P,)``, one entry per candidate pair.
    """

    matrix: CandidateMatrix
    cosine: Tensor  #: blocking cosine
    logit: Tensor  #: pair-model logit
    score: Tensor  #: cosine + beta * logit
    log_assignment: Tensor  #: Sinkhorn log-probability
    prob: Tensor  #: calibrated probability of a match
    beta: float
    calibrator: Calibrator | None
    #: logit weight and calibrator of the sources without a name (see
    #: :meth:`ModelScorer.align`); ``None`` where no source in the matrix lacks one
    nameless_beta: float | None = None
    nameless_calibrator: Calibrator | None = None
    #: ``(P, F)`` the calibration features of the entries
    #: (:func:`~kgn_align.assignment.competition_features`); ``None`` when uncalibrated
    features: Tensor | None = None

    def rows(self) -> dict[int, tuple[int, int]]:
        """Source row -> (first entry, end) of its slice."""
        out: dict[int, tuple[int, int]] = {}
        for i, r in enumerate(self.matrix.row.tolist()):
            first, _ = out.get(r, (i, i))
            out[r] = (first, i + 1)
        return out


def _best_weight(measure_at: Callable[[float], float], which: str, measure: str,
                 level: int = logging.INFO) -> float:
    """The :data:`LOGIT_WEIGHTS` entry with the highest ``measure_at(weight)`` (ties: the
    smaller weight, so the GNN enters the decision only where it helps); logged at ``level``
    (every weight's measure at DEBUG)."""
    tried = [(measure_at(b), -b) for b in LOGIT_WEIGHTS]
    best, neg_b = max(tried)
    # four significant digits, not decimals: on a small, easy graph every weight's
    # log-likelihood is within 1e-4 of 0, and '-0.0000' for all hid which one won
    log.log(level, "the GNN's logit weight in the matching%s: %g, where the %s is highest (%.4g; "
            "-vv lists every weight's)", f" ({which})" if which else "", -neg_b, measure, best)
    log.debug("logit weight %s%g: %s %.4g (%s)", f"{which} " if which else "", -neg_b, measure, best,
              ", ".join(f"{-b:g}: {h:.4g}" for h, b in tried))
    return -neg_b


class ModelScorer:
    """Backfill scorer: source keys in, candidate pairs with calibrated scores out (see the
    module docstring for the stages).

    Args:
        snapshot, trained: the graph's two sides and the model.
        k: candidates per source entity. Default 10.
        labelled: reviewed pairs ``(source key, target key, "accepted" | "rejected")``:
            accepted sources and their targets leave the matching (except the model's
            validation pairs, which stand in for unreviewed ones while calibrating), and
            rejected pairs are no candidates.
        variant: :data:`METHOD` (default) or a baseline of :data:`VARIANTS`.
        cache: what a long-running caller (the worker) keeps between jobs for this model
            (:class:`ScoringCache`); the caller drops what a change moves
            (:func:`kgn_align.changes.forget_changed`) before handing it in again.
        bootstrap: whole-side alignments bootstrap pseudo-seeds (stage 5). Default on.
        pseudo: pseudo-seeds ``(source key, target key)`` to anchor with from the start
            (default: the cache's, else none until the first whole-side alignment bootstraps).
        hubness: the targets' CSLS hubness by key, as a worker keeps it
            (:attr:`ScoringCache.hubness`; default: the cache's, else computed): targets
            without a value get theirs computed.
    """

    def __init__(self, snapshot: Snapshot, trained: TrainedModel, *, k: int = CANDIDATES_PER_SOURCE,
                 batch_pairs: int | None = None, block_beta: float = CONTEXT_BETA,
                 labelled: Sequence[tuple[str, str, str]] = (), variant: str = METHOD,
                 cache: ScoringCache | None = None, bootstrap: bool = True,
                 pseudo: frozenset[tuple[str, str]] | None = None,
                 hubness: dict[str, float] | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown scorer variant {variant!r}: one of {sorted(VARIANTS)}")
        self.snapshot, self.trained, self.k, self.batch_pairs = snapshot, trained, k, batch_pairs
        self.block_beta, self.variant, self.bootstrap = block_beta, variant, bootstrap
        self.cache = cache
        level0 = snapshot.level0(trained.featurizer, cache.names if cache is not None else None)
        self.side_a, self.side_b = trained.inputs(snapshot, level0)
        kept = cache.blocking if cache is not None else None
        refreshed = kept is not None and snapshot.parent == kept[0] and kept[1] == block_beta
        if refreshed:
            plain = snapshot.refresh_blocking(level0, trained.student, block_beta, kept[2:])
        else:
            plain = snapshot.blocking(level0, trained.student, block_beta)
        if cache is not None:
            cache.blocking = (snapshot.token, block_beta, *plain)
        src, tgt = snapshot.source, snapshot.target
        validation = [(a, b) for a, b in trained.validation
                      if a in src.aligned_row and b in tgt.aligned_row]
        self.validation = torch.tensor([[src.aligned_row[a], tgt.aligned_row[b]] for a, b in validation],
                                       dtype=torch.long).reshape(-1, 2)
        held_out_s, held_out_t = {a for a, _ in validation}, {b for _, b in validation}
        accepted = reviewed_as(labelled, "accepted")
        settled_s = {a for a, _ in accepted} - held_out_s
        settled_t = {b for _, b in accepted} - held_out_t
        self.rejected = set(reviewed_as(labelled, "rejected"))
        #: the seed alignment (every accepted pair, the validation ones too) and each side's
        #: anchor vectors: which aligned neighbours an entity has (:mod:`kgn_align.seed_propagation`)
        self.seed_anchors = frozenset((a, b) for a, b in accepted
                                      if a in src.aligned_row and b in tgt.aligned_row)
        if pseudo is None and cache is not None:
            pseudo = cache.pseudo_seeds.get(variant)
        #: the pseudo-seeds anchoring with the seed alignment (``None``: not bootstrapped yet)
        self.pseudo = None if pseudo is None else self._usable(pseudo)
        #: every anchor: the seed alignment and the pseudo-seeds
        self.anchors = self.seed_anchors | (self.pseudo or frozenset())
        #: blocking vectors without the anchors (names and neighbourhood names), and with them
        self.plain_a, self.plain_b = plain
        self.anchored = self._anchored(cache.anchored if cache is not None and refreshed else None)
        #: the validation sources' plain blocking vectors (their nameless lists search with
        #: these); the whole sides' are let go unless the worker's cache keeps them
        self._validation_plain = self.plain_a.index_select(0, self.validation[:, 0])
        if cache is None:
            del plain
            self.plain_a = self.plain_b = None
        self.anchor_a, self.anchor_b = (side.vectors for side in self.anchored)
        self.block_a, self.block_b = (side.blocking for side in self.anchored)
        if cache is not None:
            cache.moved_anchors(self)
        #: the targets' CSLS hubness by key (:meth:`_ranking`): given, kept, or computed
        self.hubness = hubness if hubness is not None else (
            cache.hubness.get(variant) if cache is not None else None)
        self._csls: CslsSearch | None = None
        #: targets a person matched: the validation ones compete in the matching while the
        #: scores are calibrated (standing in for open targets), then leave the lists the
        #: scores are read from (:meth:`_open_entries`); none is handed to a source
        self.accepted_targets = {tgt.aligned_row[b] for _, b in accepted if b in tgt.aligned_row}
        #: ``(S, 2)`` the validation pairs whose target is an accepted one (those settled)
        self._settled_validation = self.validation[torch.tensor(
            [int(t) in self.accepted_targets for t in self.validation[:, 1].tolist()], dtype=torch.bool)]
        scorable = self.side_a.tree_position >= 0
        self.sources = torch.tensor(sorted(r for key, r in src.aligned_row.items()
                                           if key not in settled_s and bool(scorable[r])),
                                    dtype=torch.long)
        self.pool = torch.tensor(sorted(r for key, r in tgt.aligned_row.items() if key not in settled_t),
                                 dtype=torch.long)
        # type ids are numbered per side: compare them by name. The two side labels are one
        # type (a Movie side and a Film side: without entity_labels they share no type name,
        # and type-restricted blocking would find no candidate at all).
        alias = {tgt.side.label: src.side.label}
        names_a = list(src.table.types)
        names_b = [alias.get(t, t) for t in tgt.table.types]
        common = {t: i for i, t in enumerate(sorted(set(names_a) | set(names_b)))}
        src_types = {names_a[int(src.table.type[r])] for r in src.aligned_row.values()}
        tgt_types = {names_b[int(tgt.table.type[r])] for r in tgt.aligned_row.values()}
        #: source entity types with no target entities of the same type: no candidates
        self.unmatched_types = sorted(src_types - tgt_types)
        if self.unmatched_types:
            log.warning("source entity type(s) %s have no target entities of the same type: "
                        "those sources get no candidates (name the types in entity_labels, "
                        "or label both sides alike)", self.unmatched_types)
        self.types_a = torch.tensor([common[names_a[t]] for t in src.table.type.tolist()] or [0])
        self.types_b = torch.tensor([common[names_b[t]] for t in tgt.table.type.tolist()] or [0])
        #: ``(N_a,)`` source rows without a name (an all-zero level-0 vector)
        self.nameless = self.side_a.features.abs().sum(dim=1) == 0
        self._nameless_lists: NamelessLists | None = cache.nameless if cache is not None else None
        self._logit_cache: dict[tuple[str, str], float] = {} if cache is None else cache.logits
        #: the attribute properties' match weights (:meth:`_attribute_evidence`), once learned
        self.match_weights: MatchWeights | None = None
        self._alignment: Alignment | None = None
        self._slices: dict[int, tuple[int, int]] = {}
        self._shared: ModelScorer | None = None
        #: whether a variant may hold this scorer's blocking tensors (then they are not
        #: rewritten in place)
        self._blocking_shared = False

    def _anchored(self, kept: tuple[SideAnchors, SideAnchors] | None) -> tuple[SideAnchors, SideAnchors]:
        """Both sides' anchor vectors from :attr:`anchors` over the snapshot's neighbour lists,
        and the blocking vectors with them. ``kept``: the parent snapshot's, when this one is
        its refresh and the plain blocking vectors changed only in the sides' dirty rows:
        then only the rows the change can move are computed again (the same values)."""
        src, tgt = self.snapshot.source, self.snapshot.target
        identity = self._anchor_identity()
        out = []
        for i, (side, plain) in enumerate(((src, self.plain_a), (tgt, self.plain_b))):
            adj = adjacency(side.lists, len(side.table.keys))
            before = kept[i] if kept is not None else None
            if (before is not None and side.dirty is not None and before.anchors == self.anchors
                    and before.token == self.snapshot.parent and before.adjacency.shape == adj.shape):
                moved = reach_of_change(before.adjacency, adj)
                log.debug("anchor vectors: %d row(s) of side %s within reach of the change",
                          moved.size, side.side.name)
                vectors = before.vectors.clone()
                if moved.size:
                    vectors[torch.from_numpy(moved)] = anchor_vectors(identity[i], adj, rows=moved)
                redo = torch.unique(torch.cat([torch.from_numpy(moved).long(), side.dirty]))
                blocking = before.blocking.clone()
                if redo.numel():
                    blocking[redo] = with_anchors(plain[redo], vectors[redo])
            else:
                vectors = anchor_vectors(identity[i], adj)
                blocking = with_anchors(plain, vectors)
            out.append(SideAnchors(self.anchors, self.snapshot.token, adj, vectors, blocking))
        return out[0], out[1]

    def _anchor_identity(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Both sides' anchor rows of :attr:`anchors` (:func:`~kgn_align.seed_propagation.anchor_identity`)."""
        src, tgt = self.snapshot.source, self.snapshot.target
        pairs = [(a, b, src.aligned_row[a], tgt.aligned_row[b]) for a, b in sorted(self.anchors)]
        return anchor_identity(pairs, len(src.table.keys), len(tgt.table.keys))

    def _usable(self, pseudo: frozenset[tuple[str, str]]) -> frozenset[tuple[str, str]]:
        """The pseudo-seeds still usable: both ends entities of the sides, neither end in a
        reviewed pair (the seed alignment) and the pair not rejected."""
        src, tgt = self.snapshot.source, self.snapshot.target
        seed_s, seed_t = {a for a, _ in self.seed_anchors}, {b for _, b in self.seed_anchors}
        return frozenset((a, b) for a, b in pseudo
                         if a in src.aligned_row and b in tgt.aligned_row and a not in seed_s
                         and b not in seed_t and (a, b) not in self.rejected)

    def _anchor_with(self, pseudo: frozenset[tuple[str, str]] | None) -> None:
        """Anchor with the seed alignment and ``pseudo``: both sides' anchor vectors and the
        blocking vectors with them computed again (new tensors: a variant may share the old
        ones; in place where none does), equal to what a scorer constructed with these
        pseudo-seeds computes."""
        self.pseudo = pseudo
        self.anchors = self.seed_anchors | (pseudo or frozenset())
        identity = self._anchor_identity()
        out = []
        for i, side in enumerate(self.anchored):
            vectors = anchor_vectors(identity[i], side.adjacency)
            out.append(SideAnchors(self.anchors, side.token, side.adjacency, vectors,
                                   anchors_replaced(side.blocking, vectors, in_place=not self._blocking_shared)))
        self.anchored = (out[0], out[1])
        self._blocking_shared = False
        self.anchor_a, self.anchor_b = out[0].vectors, out[1].vectors
        self.block_a, self.block_b = out[0].blocking, out[1].blocking
        # other blocking vectors: the kept hubness of this variant's anchors, else computed
        self.hubness = self.cache.hubness.get(self.variant) if self.cache is not None else None
        self._csls = None

    def _bootstrap(self, first: Alignment) -> None:
        """Stage 5: the pseudo-seeds of the whole-side alignment ``first`` (confident mutual
        best pairs, :func:`~kgn_align.seed_propagation.pseudo_seeds`, among sources and
        targets no reviewed pair anchors) anchor from now on; the logit weights are chosen
        again after them. Kept in the cache for the next jobs."""
        entries = pseudo_seeds(first.matrix.row, first.matrix.col, first.log_assignment, first.prob)
        s_keys, t_keys = self.snapshot.source.table.keys, self.snapshot.target.table.keys
        pseudo = self._usable(frozenset(
            (s_keys[r], t_keys[c]) for r, c in zip(first.matrix.row[entries].tolist(),
                                                   first.matrix.col[entries].tolist())))
        log.info("bootstrapping (%s): %d pseudo-seeds beside %d reviewed pairs", self.variant,
                 len(pseudo), len(self.seed_anchors))
        if self.cache is not None:  # the first round's: not the anchored vectors'
            self.cache.hubness.pop(self.variant, None)
        self._anchor_with(pseudo)
        if self.cache is not None:
            self.cache.pseudo_seeds[self.variant] = pseudo
            for key in (self.variant, _nameless_key(self.variant)):
                self.cache.betas.pop(key, None)
            self.cache.moved_anchors(self)

    @property
    def _said_at(self) -> int:
        """The log level of the choices this scorer makes (its logit weight, its
        calibration): INFO for the model's own method once bootstrapped (what its edges are
        scored with), DEBUG (-vv) for a baseline or a first round of bootstrapping, which
        ``evaluate`` runs too: a trial's evaluate printed six calibration formulas."""
        final = not self.bootstrap or self.pseudo is not None
        return logging.INFO if self.variant == METHOD and final else logging.DEBUG

    @property
    def settings(self) -> dict[str, object]:
        """What changes its output besides the graph and the model: part of a run's fingerprint."""
        return {"k": self.k, "block_beta": self.block_beta, "variant": self.variant,
                "anchor_weight": ANCHOR_WEIGHT, "csls_k": CSLS_K,
                "bootstrap": PSEUDO_SEED_MIN_PROB if self.bootstrap else None}

    @property
    def stamp(self) -> ModelStamp:
        if self.variant == METHOD:
            return self.trained.stamp
        return ModelStamp(model=f"kgn-align/{self.trained.version}", method=self.variant)

    def with_variant(self, name: str) -> ModelScorer:
        """The same scorer with another :data:`VARIANTS` entry: shares the candidates and the
        pair model's logits (computed once), differs only in the global stage."""
        if name not in VARIANTS:
            raise ValueError(f"unknown scorer variant {name!r}: one of {sorted(VARIANTS)}")
        other = copy.copy(self)  # shallow: the candidates, logits and caches are shared
        other.variant, other._alignment, other._slices = name, None, {}
        other._shared = self._shared or self
        self._blocking_shared = other._blocking_shared = True
        # each variant bootstraps from its own first round: not from this one's pseudo-seeds
        pseudo = self.cache.pseudo_seeds.get(name) if self.cache is not None else None
        if pseudo != self.pseudo:
            other._anchor_with(None if pseudo is None else other._usable(pseudo))
        return other

    # ------------------------------------------------------------------ the global stage
    def logits(self, src: Tensor, tgt: Tensor) -> Tensor:
        """Pair-model logits of ``(src[i], tgt[i])`` (entity-table rows), each pair scored
        once per scorer (or per ``logit_cache``) however often it is asked for.
        Shapes ``(P,), (P,) -> (P,)``."""
        cache = (self._shared or self)._logit_cache
        s_keys, t_keys = self.snapshot.source.table.keys, self.snapshot.target.table.keys
        pairs = [(s_keys[a], t_keys[b]) for a, b in zip(src.tolist(), tgt.tolist())]
        missing = sorted({(a, b) for (a, b), pair in zip(zip(src.tolist(), tgt.tolist()), pairs)
                          if pair not in cache})
        if missing:
            log.info("pair model: scoring %d candidate pairs", len(missing))
            m = torch.tensor(missing, dtype=torch.long).reshape(-1, 2)
            logit, _ = score_pairs(self.trained.model, self.side_a, self.side_b, m[:, 0], m[:, 1],
                                   batch_pairs=self.batch_pairs)
            cache.update(((s_keys[a], t_keys[b]), v) for (a, b), v in zip(missing, logit.tolist()))
        return torch.tensor([cache[p] for p in pairs], dtype=torch.float32)

    def candidates(self, sources: Tensor, pool: Tensor) -> tuple[CandidateMatrix, Tensor]:
        """Blocking: each source row's ``k`` best pool rows of its type by CSLS
        (:meth:`_ranking`), rejected pairs left out; returns the matrix and the entries'
        blocking cosines ``(P,)``."""
        ranking = self._ranking()

        def search_rows(rows: Tensor) -> Candidates:
            return ranking.search(rows, pool, self.k, source_types=self.types_a, target_types=self.types_b)

        cache = self._whole_side_cache(sources, pool)
        if cache is not None:
            found = search_cached(cache.candidates, self.snapshot.source.table.keys,
                                  self.snapshot.target.table.keys, sources, pool, self.k, search_rows,
                                  anchors=self.anchors, hubness=self.hubness)
        else:
            found = search_rows(sources)
        matrix, keep = CandidateMatrix.from_lists(sources, found.index)
        cosine = found.similarity[keep]
        if self.rejected:
            s_keys, t_keys = self.snapshot.source.table.keys, self.snapshot.target.table.keys
            ok = torch.tensor([(s_keys[a], t_keys[b]) not in self.rejected
                               for a, b in zip(matrix.row.tolist(), matrix.col.tolist())], dtype=torch.bool)
            matrix, cosine = CandidateMatrix(matrix.row[ok], matrix.col[ok]), cosine[ok]
        return matrix, cosine

    def _ranking(self) -> CslsSearch:
        """CSLS over the current blocking vectors (:class:`~kgn_align.candidates.CslsSearch`):
        each target's hubness among :attr:`sources` (its :data:`~kgn_align.candidates.CSLS_K`
        nearest), the kept value where :attr:`hubness` has one, computed for the others;
        kept in the cache for the worker's next jobs."""
        if self._csls is None:
            keys = self.snapshot.target.table.keys
            rows = sorted(self.snapshot.target.aligned_row.values())
            kept = self.hubness or {}
            values = torch.zeros(self.block_b.size(0))
            missing = torch.tensor([r for r in rows if keys[r] not in kept], dtype=torch.long)
            known = [r for r in rows if keys[r] in kept]
            values[known] = torch.tensor([kept[keys[r]] for r in known], dtype=torch.float32)
            if missing.numel() and self.sources.numel():
                values[missing] = hubness(self.block_b, self.block_a, missing, self.sources,
                                          target_types=self.types_b, source_types=self.types_a)
            self._csls = CslsSearch(self.block_a, self.block_b, values)
            self.hubness = {keys[r]: v for r, v in zip(rows, values[rows].tolist())}
            if self.cache is not None:
                self.cache.hubness[self.variant] = self.hubness
        return self._csls

    def align(self, sources: Tensor | None = None, pool: Tensor | None = None, *,
              beta: float | None = None, nameless_beta: float | None = None,
              calibrate: bool = True, settled_out: bool = True) -> Alignment:
        """The global stage over ``sources`` x ``pool`` (default: every source the backfill
        can align x every open target). ``beta`` and ``nameless_beta`` override the
        variant's logit weights. ``settled_out``: the scores read from a matching without
        the validation pairs (:meth:`_open_entries`); ``False`` keeps them in (the first
        round of bootstrapping, whose pseudo-seeds were chosen so).

        Sources without a name get a logit weight and a calibrator of their own, chosen and
        fitted on :class:`NamelessLists` (the validation sources with their names taken
        away): on named validation pairs names decide almost everything, and a weight and
        calibration fitted there leave a nameless source's match, found by its neighbours,
        under the threshold. Where every source has a name nothing changes."""
        sources = self.sources if sources is None else sources
        pool = self.pool if pool is None else pool
        fixed, iterations = VARIANTS[self.variant]
        matrix, cosine = self.candidates(sources, pool)
        logit = self.logits(matrix.row, matrix.col) if fixed != 0.0 else torch.zeros_like(cosine)
        nameless = self.nameless[matrix.row]

        def assign(b: float, b_nameless: float | None = None) -> tuple[Tensor, Tensor]:
            weight = b if b_nameless is None else torch.where(nameless, b_nameless, b)
            score = cosine + weight * logit
            return score, sinkhorn(matrix, score, temperature=TEMPERATURE, iterations=iterations)

        if beta is None and fixed is not None:
            beta = fixed
        cache = self._whole_side_cache(sources, pool)
        betas = cache.betas if cache is not None else {}
        if beta is None:
            if self.variant not in betas:
                betas[self.variant] = self._choose_beta(matrix, assign)
            beta = betas[self.variant]
        lists = (self._nameless_validation(fixed != 0.0)
                 if calibrate and self._whole_side(sources, pool) and bool(nameless.any()) else None)
        if nameless_beta is None and lists is not None:
            key = _nameless_key(self.variant)
            if key not in betas:
                betas[key] = fixed if fixed is not None else self._choose_nameless_beta(
                    matrix, assign(beta)[0], lists, beta, iterations)
            nameless_beta = betas[key]
        score, log_a = assign(beta, nameless_beta)
        calibrator = nameless_calibrator = None
        if calibrate:
            features = competition_features(matrix, score, log_a, self._attribute_evidence(matrix))
            # the share is read from the sources this calibrator scores: a source without a
            # name, scored here like a named one, looks as if it had no counterpart (DBLP
            # with 30 % of the held-out titles blanked: 0.61 with them, 0.75 without, about
            # 0.80 true; the nameless calibrator takes it over: their recall 0.82 -> 0.87)
            calibrator = self._fit_calibrator(matrix, score, log_a, features, counted=~nameless)
            if lists is not None and nameless_beta is not None:
                nameless_calibrator = self._fit_nameless_calibrator(
                    matrix, score, lists, nameless_beta, iterations, nameless,
                    share=calibrator.counterpart_share if calibrator is not None else None)
        # fitted above with the validation pairs competing as open sources and targets do;
        # scored below without them: a pair a person accepted is settled (its source gets
        # no model edge, its target is handed to no other source), so it must not take
        # another source's assignment mass or margins either (dblp_acm: an ACM paper
        # listed twice, one record the accepted target of a validation source, left the
        # other's match 0.35 instead of 1.0 after a retraining drew another validation set)
        kept = self._open_entries(matrix) if settled_out else None
        if kept is not None:
            matrix = CandidateMatrix(matrix.row[kept], matrix.col[kept])
            cosine, logit, score, nameless = cosine[kept], logit[kept], score[kept], nameless[kept]
            log_a = sinkhorn(matrix, score, temperature=TEMPERATURE, iterations=iterations)
        prob = torch.sigmoid((score - 0.5) * 10)
        if calibrator is not None or nameless_calibrator is not None:
            if kept is not None:  # the matching changed: its competition too
                features = competition_features(matrix, score, log_a, self._attribute_evidence(matrix))
            if calibrator is not None:
                prob = calibrator(features, matrix.row)
            if nameless_calibrator is not None:  # whole rows: a source has a name or not
                prob = torch.where(nameless, nameless_calibrator(features, matrix.row), prob)
        return Alignment(matrix, cosine, logit, score, log_a, prob, beta, calibrator,
                         nameless_beta if bool(nameless.any()) else None, nameless_calibrator,
                         features if calibrator is not None or nameless_calibrator is not None else None)

    def _attribute_evidence(self, matrix: CandidateMatrix) -> Tensor | None:
        """``(P,)``: the Fellegi–Sunter evidence of the entries' attribute properties
        (:class:`~kgn_align.attributes.MatchWeights`), the calibration's fourth feature;
        ``None`` without attribute properties, or without accepted pairs to learn the
        weights from. The weights are learned once per scorer: ``m`` from the accepted pairs
        in the graph less the model's validation pairs (the calibration is fitted on those),
        ``u`` from the first matrix's candidate pairs (the whole side's)."""
        a, b = self.side_a.attributes, self.side_b.attributes
        if a is None or b is None or a.num_properties == 0:
            return None
        level = levels(a, b, matrix.row, matrix.col)
        if self.match_weights is None:
            src, tgt = self.snapshot.source.aligned_row, self.snapshot.target.aligned_row
            held_out = set(self.validation[:, 0].tolist())
            pairs = torch.tensor(sorted((src[s], tgt[t]) for s, t in self.seed_anchors if src[s] not in held_out),
                                 dtype=torch.long).reshape(-1, 2)
            if pairs.size(0) == 0:
                return None
            self.match_weights = MatchWeights.fit(levels(a, b, pairs[:, 0], pairs[:, 1]), level)
            log.info("attribute evidence (log m/u, from %d accepted pairs and %d candidate pairs): %s",
                     pairs.size(0), len(matrix), self.match_weights.describe(self.trained.attributes))
        return self.match_weights(level)

    @property
    def _feature_names(self) -> tuple[str, ...]:
        """The calibration features' names: :data:`~kgn_align.assignment.FEATURES`, and
        :data:`~kgn_align.assignment.ATTRIBUTE_EVIDENCE` where there is attribute evidence."""
        return FEATURES + ((ATTRIBUTE_EVIDENCE,) if self.match_weights is not None else ())

    def _open_entries(self, matrix: CandidateMatrix) -> Tensor | None:
        """``(P,)`` bool: the entries of ``matrix`` that a backfill hands out from, those of
        neither a validation source nor a validation target whose pair is accepted (in the
        matrix only to stand in for open sources and targets while calibrating); ``None``
        when there is no such entry."""
        settled = self._settled_validation
        if settled.numel() == 0 or len(matrix) == 0:
            return None
        kept = ~torch.isin(matrix.row, settled[:, 0]) & ~torch.isin(matrix.col, settled[:, 1])
        return None if bool(kept.all()) else kept

    # ------------------------------------------------------------ sources without a name
    def _nameless_validation(self, with_logits: bool) -> NamelessLists | None:
        """:class:`NamelessLists` of the validation sources that have a name, computed once
        per scorer (``with_logits`` False: logits left zero, for the baselines)."""
        lists = self._nameless_lists
        if lists is not None and (not torch.equal(lists.pool, self.pool) or lists.anchors != self.anchors):
            lists = None  # searched among other open targets, or with other anchors
        if lists is None:
            width = self.side_a.features.size(1)
            if self.validation.numel() == 0 or self._validation_plain.size(1) <= width:
                return None  # no validation pairs, or blocking by names alone: nothing to go by
            named = ~self.nameless[self.validation[:, 0]] & torch.isin(self.validation[:, 0], self.sources)
            val = self.validation[named]
            if val.size(0) == 0:
                return None
            rows = val[:, 0]
            plain = self._validation_plain[named]  # a copy: the mask indexes
            plain[:, :width] = 0.0
            plain = torch.nn.functional.normalize(plain, dim=-1)
            queries = with_anchors(plain, self.anchor_a.index_select(0, rows))
            found = self._ranking().search(torch.arange(rows.numel()), self.pool, self.k,
                                           source_types=self.types_a[rows], target_types=self.types_b,
                                           queries=queries)
            matrix, keep = CandidateMatrix.from_lists(rows, found.index)
            lists = NamelessLists(rows, val[:, 1], self.pool, matrix, found.similarity[keep], self.anchors)
            for scorer in (self, self._shared):  # the variants share them
                if scorer is not None:
                    scorer._nameless_lists = lists
            if self.cache is not None:  # and the worker's next jobs, until a change moves them
                self.cache.nameless = lists
        if with_logits and lists.logit is None:
            side = replace(self.side_a, features=self.side_a.features.index_fill(0, lists.rows, 0.0))
            logit, _ = score_pairs(self.trained.model, side, self.side_b, lists.matrix.row,
                                   lists.matrix.col, batch_pairs=self.batch_pairs)
            lists.logit = logit.float()
        return lists

    def _with_nameless(self, matrix: CandidateMatrix, score: Tensor, lists: NamelessLists,
                       beta: float, iterations: int) -> tuple[CandidateMatrix, Tensor, Tensor, Tensor]:
        """The matrix with each validation source's lists swapped for its nameless ones,
        their scores at logit weight ``beta``, and Sinkhorn over it; returns the matrix, its
        scores and log-assignment, and which of ``matrix``'s entries it kept (``(P,)`` bool:
        they come first, the nameless lists after them)."""
        keep = ~torch.isin(matrix.row, lists.rows)
        merged = CandidateMatrix(torch.cat([matrix.row[keep], lists.matrix.row]),
                                 torch.cat([matrix.col[keep], lists.matrix.col]))
        scores = torch.cat([score[keep], lists.scores(beta)])
        log_a = sinkhorn(merged, scores, temperature=TEMPERATURE, iterations=iterations)
        return merged, scores, log_a, keep

    def _choose_nameless_beta(self, matrix: CandidateMatrix, score: Tensor, lists: NamelessLists,
                              beta: float, iterations: int) -> float:
        """The logit weight with the best Hits@1 of the nameless validation sources, the
        others scored at ``beta`` (ties: the smaller weight)."""
        gold = torch.stack([lists.rows, lists.gold], dim=1)

        def hits_at(b: float) -> float:
            merged, _, log_a, _ = self._with_nameless(matrix, score, lists, b, iterations)
            return self._validation_hits(merged, log_a, gold)

        return _best_weight(hits_at, "for sources without a name",
                            "Hits@1 of the validation sources with their names taken away", self._said_at)

    def _fit_nameless_calibrator(self, matrix: CandidateMatrix, score: Tensor, lists: NamelessLists,
                                 beta: float, iterations: int, nameless: Tensor,
                                 share: float | None) -> Calibrator | None:
        """A calibrator fitted as :meth:`_fit_calibrator`'s, on the nameless validation lists
        (with and without their answers) competing with every other source.

        The share of sources with a counterpart is estimated from the sources without a
        name themselves (``nameless``: ``(P,)`` bool over ``matrix``'s entries) when there
        are at least :data:`MIN_SHARE_SOURCES` of them — whether a nameless source has a
        counterpart is its own question (a record whose title got lost in an import has
        one as often as any; an unnamed stub node may have none) — else the named
        sources' ``share``. DBLP-ACM with 30 % of the held-out DBLP titles blanked (each
        with a counterpart; ``benchmarks/structure.py``): under the named sources' share,
        0.758, their matches were under-confident (observed match rate 0.64 where 0.46 was
        predicted) and recall 0.880 at precision 0.986; under their own (0.95, the bound)
        recall 0.936 at precision 0.980, expected calibration error 0.0058 -> 0.0027."""
        merged, scores, log_a, kept = self._with_nameless(matrix, score, lists, beta, iterations)
        counted = torch.cat([nameless[kept], nameless.new_zeros(lists.matrix.row.numel())])
        if torch.unique(merged.row[counted]).numel() >= MIN_SHARE_SOURCES:
            share = None
        return self._fit_calibrator(merged, scores, log_a,
                                    competition_features(merged, scores, log_a, self._attribute_evidence(merged)),
                                    torch.stack([lists.rows, lists.gold], dim=1), share=share,
                                    counted=counted,
                                    what="sources without a name, with their names taken away")

    def _whole_side_cache(self, sources: Tensor, pool: Tensor) -> ScoringCache | None:
        """The kept cache, when ``sources`` x ``pool`` is the whole side's matching (what the
        cache holds results of); ``None`` otherwise or without a cache."""
        return self.cache if self._whole_side(sources, pool) else None

    def _whole_side(self, sources: Tensor, pool: Tensor) -> bool:
        """Whether ``sources`` x ``pool`` is the whole side's matching (not a sub-problem such
        as evaluation's usual protocol)."""
        return sources is self.sources and pool is self.pool

    def _validation_hits(self, matrix: CandidateMatrix, ranking: Tensor,
                         validation: Tensor | None = None) -> float:
        """Hits@1 by ``ranking`` of the ``(V, 2)`` validation pairs (default: the model's)."""
        validation = self.validation if validation is None else validation
        if validation.numel() == 0:
            return 0.0
        gold = dict(zip(validation[:, 0].tolist(), validation[:, 1].tolist()))
        best: dict[int, tuple[float, int]] = {}
        for r, c, s in zip(matrix.row.tolist(), matrix.col.tolist(), ranking.tolist()):
            if r in gold and (r not in best or s > best[r][0]):
                best[r] = (s, c)
        return sum(1 for r, g in gold.items() if r in best and best[r][1] == g) / len(gold)

    def _choose_beta(self, matrix: CandidateMatrix, assign: Any) -> float:
        """The logit weight under which the validation answers are most likely after
        Sinkhorn (ties: the smaller weight, so the GNN enters the decision only where it
        helps).

        Validation Hits@1, the criterion before, moves by one pair in 450 between
        neighbouring weights on dbp15k_fr_en, and which weight won changed with the training
        seed (0, 0.02, 0.1); Hits@1 of the test pairs, among all targets, peaked at 0.02 for
        every seed (0.9897 and 0.9900 for two of them, against 0.9852 at the 0.1 one chose).
        The log-likelihood counts how sure each answer is, not only whether it won.
        Sources without a name keep their own choice (:meth:`_choose_nameless_beta`).
        """
        if self.validation.numel() == 0:
            return UNCHOSEN_LOGIT_WEIGHT
        return _best_weight(lambda b: answer_log_likelihood(matrix, assign(b)[1], self.validation), "",
                            "validation log-likelihood", self._said_at)

    def _fit_calibrator(self, matrix: CandidateMatrix, score: Tensor, log_a: Tensor,
                        features: Tensor, validation: Tensor | None = None, *,
                        share: float | None = None, counted: Tensor | None = None,
                        what: str = "validation sources") -> Calibrator | None:
        """Fit on the rows of ``matrix`` of the ``(V, 2)`` validation pairs (default: the
        model's; ``features``: the matrix's competition features, computed once by the
        caller) and on their dangling copies, weighted so that a share ``share`` of the
        sources has a counterpart among its candidates — by default estimated from the other
        rows of ``matrix`` (:func:`~kgn_align.assignment.counterpart_share`, from a first fit
        at one half; kept as the calibrator's ``counterpart_share``), those of them where
        ``counted`` (``(P,)`` bool, default all) holds. ``what``: the pairs, for the log."""
        validation = self.validation if validation is None else validation
        if validation.numel() == 0:
            _warn_once("uncalibrated", "the model has no validation pairs in this graph: scores are not calibrated")
            return None
        present = torch.isin(validation[:, 0], matrix.row)
        val = validation[present]
        if val.size(0) == 0:
            return None
        answer = dict(zip(val[:, 0].tolist(), val[:, 1].tolist()))
        rows = torch.isin(matrix.row, val[:, 0])
        labels = torch.tensor([float(answer[r] == c) for r, c in
                               zip(matrix.row[rows].tolist(), matrix.col[rows].tolist())])
        d_features, d_labels, d_rows = dangling_copies(matrix, score, log_a, val[:, 0], val[:, 1],
                                                       features=features)
        x, y = torch.cat([features[rows], d_features]), torch.cat([labels, d_labels])
        # each list apart: a source's list as it is, and its dangling copy (another list)
        lists = torch.cat([matrix.row[rows], d_rows + int(matrix.row.max()) + 1])

        def fit(share: float) -> Calibrator:
            weights = torch.cat([torch.full((int(rows.sum()),), 2 * share),
                                 torch.full((d_labels.numel(),), 2 * (1 - share))])
            calibrator = Calibrator.fit(x, y, weights, lists, names=self._feature_names)
            calibrator.counterpart_share = share
            return calibrator

        how = ""
        try:
            calibrator = fit(0.5 if share is None else share)
            if share is None:
                others = ~rows if counted is None else ~rows & counted
                estimate = counterpart_share(
                    best_per_row(calibrator(features[rows], matrix.row[rows]), matrix.row[rows]),
                    best_per_row(calibrator(d_features, d_rows), d_rows),
                    best_per_row(calibrator(features[others], matrix.row[others]), matrix.row[others]))
                if estimate is not None:
                    calibrator = fit(estimate)
                    how = "; counterpart share estimated from the unlabelled sources' lists"
        except ValueError as exc:
            log.warning("scores are not calibrated (fitted on %s): %s", what, exc)
            return None
        log.log(self._said_at, "calibrated on %d %s (with and without their answer%s): %s", val.size(0),
                what, how, calibrator.describe())
        if val.size(0) < FEW_VALIDATION:
            _warn_once("few validation", "scores are calibrated on only %d validation sources (the model's "
                       "share of the accepted pairs): they move when reviews change, so an edge near the "
                       "threshold can come and go after a review of another pair; more accepted "
                       "pairs (and training again) steady them", val.size(0))
        return calibrator

    @property
    def alignment(self) -> Alignment:
        """The global stage over every source the backfill can align, computed once (after
        bootstrapping pseudo-seeds from a first round, unless they are given or kept)."""
        if self._alignment is None:
            if self.bootstrap and self.pseudo is None:
                self._bootstrap(self.align(settled_out=False))
                release_free_memory()  # the first round's temporaries: not under the second's
            self._alignment = self.align()
            self._slices = self._alignment.rows()
        return self._alignment

    def __call__(self, keys: Sequence[str]) -> list[ScoredPair]:
        alignment = self.alignment
        row_of = self.snapshot.source.aligned_row
        s_keys, t_keys = self.snapshot.source.table.keys, self.snapshot.target.table.keys
        cols, probs = alignment.matrix.col, alignment.prob
        out = []
        for key in keys:
            r = row_of.get(key)
            if r is None or r not in self._slices:
                continue
            first, end = self._slices[r]
            for c, p in zip(cols[first:end].tolist(), probs[first:end].double().tolist()):
                if c in self.accepted_targets:
                    continue
                out.append(ScoredPair(source=s_keys[r], target=t_keys[c], score=round(p, DECIMALS)))
        return out
