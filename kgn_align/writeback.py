"""Write model alignments back as ``SAME_AS`` edges, and decide which pairs to write.

Direction convention: an edge always points from the **source** side's entity to the
**target** side's entity of the :class:`~kgn_align.config.AlignConfig`,
``(source)-[:SAME_AS]->(target)``, as the loaders write seed pairs. Readers that do not
care about direction match ``-[:SAME_AS]-``.

What the model writes on each edge: ``score`` (confidence in [0, 1]), ``model`` (the
checkpoint's content hash, so edges can be traced to the model that made them),
``method`` (how the pair was scored, e.g. ``gnn`` or ``name-similarity``), ``createdAt``
when the edge is created and ``updatedAt`` whenever the model changes it.

Rules the Cypher (``cypher/writeback_merge*.cypher``) enforces on the server:

- ``MERGE`` on the pair: re-running never duplicates an edge, and a newer model updates
  ``score``/``model``/``method`` of the edge that is there.
- An edge with ``review`` set (a person accepted or rejected it) is never changed by the
  model, whichever way it points; a pair whose reverse edge is reviewed is skipped.
- Unchanged ``model``/``method`` and a ``score`` within :data:`SCORE_TOLERANCE`: the edge is
  left alone (``updatedAt`` too), so a second identical run changes nothing — also when it
  runs in another process, whose arithmetic (thread count, batch shapes) can move a score's
  last bits and so its sixth decimal, and when a review of another pair moved the
  calibration by a hair (one accepted pair on dblp_acm restamped 234 of 1,544 edges, median
  change 1.4e-5, two above 1e-3: every ``updatedAt`` a change-data consumer then sees).
- A batch is one transaction: if any row fails, nothing of the batch lands.
- A backfill batch also **retracts** (:func:`retract_step`, ``cypher/writeback_retract*.cypher``)
  the model-written edges of its source entities that the alignment no longer chooses: a
  source given another target, left without one above the threshold, or with an accepted
  pair of a person's. After a backfill the graph holds, for every source it covered, exactly
  the edges it chose (and the reviewed ones). Only edges kgn-align wrote (``model`` set,
  ``review`` not set) are ever deleted.

Matching policies are pure functions over :class:`ScoredPair` lists, so they are tested
without a server and applied before anything is written.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kgn_align.config import AlignConfig, GraphSide
from kgn_align.graph import Graph, chunked

log = logging.getLogger(__name__)

MERGE_QUERY = "writeback_merge"  #: each has a ``_generic`` form: :func:`side_query`
RETRACT_QUERY = "writeback_retract"  #: as MERGE_QUERY, for the edges no longer chosen
EDGES_QUERY = "writeback_edges"
#: what the merge did to each pair; "foreign": a SAME_AS edge on the pair that kgn-align did
#: not write (no r.model) and no person reviewed, e.g. an import's own link: left as it is
OUTCOMES = ("created", "updated", "unchanged", "reviewed", "foreign")
#: scores closer than this count as unchanged: a thousandth of a probability is below any
#: decision made on them (they are written rounded to 6 decimals)
SCORE_TOLERANCE = 1e-3


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScoredPair(_Record):
    """One candidate pair and the model's confidence that both are the same thing.

    ``source`` and ``target`` are entity keys (``key_property``) on the source and target
    side; the edge written for it points source -> target.
    """

    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    score: float = Field(ge=0.0, le=1.0)

    @field_validator("score")
    @classmethod
    def _finite(cls, value: float) -> float:
        if math.isnan(value):
            raise ValueError("score is NaN")
        return value


class ModelStamp(_Record):
    """What the written edges say about who made them."""

    model: str = Field(min_length=1, max_length=200)  #: name and version hash
    method: str = Field(min_length=1, max_length=100)  #: e.g. "gnn", "name-similarity"


class Policy(str, Enum):
    """Which scored pairs become edges (always after the threshold)."""

    ALL = "all"  #: every pair at or above the threshold
    BEST = "best"  #: the best target of each source entity
    ONE_TO_ONE = "one-to-one"  #: no entity on either side in two edges (greedy by score)

    @property
    def is_local(self) -> bool:
        """True when a source entity's edges depend only on that entity's own pairs, so
        batches of source entities can be decided one at a time."""
        return self is not Policy.ONE_TO_ONE


class WriteReport(_Record):
    """What a write did, pair by pair (``skipped``: an endpoint was not found, or a
    reviewed edge points the other way)."""

    pairs: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    reviewed: int = 0
    #: an edge on the pair that kgn-align did not write (no model, no review): left as it is
    foreign: int = 0
    skipped: int = 0
    batches: int = 0
    #: model-written edges of the written sources deleted because no longer chosen
    retracted: int = 0

    def __add__(self, other: WriteReport) -> WriteReport:
        return WriteReport(**{f: getattr(self, f) + getattr(other, f)
                              for f in WriteReport.model_fields})

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.retracted


# ------------------------------------------------------------------ matching policies
def _order(pair: ScoredPair) -> tuple[float, str, str]:
    """Best score first; ties broken by keys so every policy is deterministic."""
    return (-pair.score, pair.source, pair.target)


def above_threshold(pairs: Iterable[ScoredPair], threshold: float) -> list[ScoredPair]:
    """Every pair with ``score >= threshold``, best first; a pair scored twice keeps its
    best score (one edge per pair)."""
    best: dict[tuple[str, str], ScoredPair] = {}
    for p in pairs:
        if p.score >= threshold:
            seen = best.get((p.source, p.target))
            if seen is None or p.score > seen.score:
                best[(p.source, p.target)] = p
    return sorted(best.values(), key=_order)


def best_per_source(pairs: Iterable[ScoredPair], threshold: float) -> list[ScoredPair]:
    """For each source entity its single best target (ties: smallest target key)."""
    best: dict[str, ScoredPair] = {}
    for p in above_threshold(pairs, threshold):
        best.setdefault(p.source, p)
    return sorted(best.values(), key=_order)


def one_to_one_greedy(pairs: Iterable[ScoredPair], threshold: float) -> list[ScoredPair]:
    """Greedy 1:1 matching: take pairs best first, skip any whose source or target is
    already matched. Standard in entity alignment; at least half the optimum's total."""
    used_s: set[str] = set()
    used_t: set[str] = set()
    out = []
    for p in above_threshold(pairs, threshold):
        if p.source not in used_s and p.target not in used_t:
            used_s.add(p.source)
            used_t.add(p.target)
            out.append(p)
    return out


def one_to_one_hungarian(pairs: Iterable[ScoredPair], threshold: float) -> list[ScoredPair]:
    """Maximum-total-score 1:1 matching (scipy's sparse bipartite matching, LAPJVsp).

    Only pairs above the threshold take part. Every source gets a private "unmatched"
    column costing 2; a real pair costs ``2 - score``. A full matching of the sources then
    always exists, and minimising its cost maximises the total score of real pairs.
    """
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    kept = above_threshold(pairs, threshold)
    if not kept:
        return []
    sources = sorted({p.source for p in kept})
    targets = sorted({p.target for p in kept})
    si = {k: i for i, k in enumerate(sources)}
    ti = {k: i for i, k in enumerate(targets)}
    n_s, n_t = len(sources), len(targets)
    rows = [si[p.source] for p in kept] + list(range(n_s))
    cols = [ti[p.target] for p in kept] + [n_t + i for i in range(n_s)]
    cost = [2.0 - p.score for p in kept] + [2.0] * n_s
    matrix = csr_matrix((np.asarray(cost), (np.asarray(rows), np.asarray(cols))),
                        shape=(n_s, n_t + n_s))
    row_of, col_of = min_weight_full_bipartite_matching(matrix)
    by_key = {(p.source, p.target): p for p in kept}
    out = [by_key[(sources[r], targets[c])] for r, c in zip(row_of, col_of) if c < n_t]
    return sorted(out, key=_order)


def select(pairs: Iterable[ScoredPair], policy: Policy | str, threshold: float = 0.5,
           *, one_to_one: str = "greedy") -> list[ScoredPair]:
    """Apply a matching policy after the threshold; the result is sorted best first."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be within [0, 1], got {threshold}")
    policy = Policy(policy)
    if policy is Policy.ALL:
        return above_threshold(pairs, threshold)
    if policy is Policy.BEST:
        return best_per_source(pairs, threshold)
    if one_to_one == "greedy":
        return one_to_one_greedy(pairs, threshold)
    if one_to_one == "hungarian":
        return one_to_one_hungarian(pairs, threshold)
    raise ValueError(f"unknown one-to-one method {one_to_one!r}: expected 'greedy' or 'hungarian'")


class Reviews:
    """What people decided on SAME_AS edges (``r.review``): the model never contradicts it.

    - a source with an accepted edge gets no model edge (it has its answer);
    - a rejected pair is never written;
    - a target accepted for one source is given to no other, under every policy (as the
      trained model's scorer does: :class:`~kgn_align.scoring.ModelScorer`);
    - under ``one-to-one`` neither is a target a model edge of a source outside the run holds.

    Applied to the candidate pairs *before* a policy picks, so that ``best`` falls back to
    the best pair that is still allowed.
    """

    def __init__(self, labelled: Iterable[tuple[str, str, str]] = ()) -> None:
        self.accepted_sources: set[str] = set()
        self.accepted_targets: set[str] = set()
        self.rejected: set[tuple[str, str]] = set()
        #: targets of model edges from sources outside a partial run: under ``one-to-one``
        #: given to no source of the run either (set by the backfill)
        self.held_targets: set[str] = set()
        for source, target, review in labelled:
            if review == "accepted":
                self.accepted_sources.add(source)
                self.accepted_targets.add(target)
            elif review == "rejected":
                self.rejected.add((source, target))

    def __bool__(self) -> bool:
        return bool(self.accepted_sources or self.rejected or self.held_targets)

    def allowed(self, pairs: Iterable[ScoredPair], policy: Policy | str) -> list[ScoredPair]:
        """``pairs`` less those a review rules out (see the class docstring)."""
        one_to_one = Policy(policy) is Policy.ONE_TO_ONE
        return [p for p in pairs if not self.rules_out(p.source, p.target, one_to_one=one_to_one)]

    def rules_out(self, source: str, target: str, *, one_to_one: bool = False) -> bool:
        """Whether a review forbids a model edge ``source -> target`` (keys)."""
        return (source in self.accepted_sources
                or (source, target) in self.rejected
                or target in self.accepted_targets
                or (one_to_one and target in self.held_targets))


def shared_targets(pairs: Iterable[ScoredPair]) -> int:
    """How many targets more than one source chose (``best`` and ``all`` allow it: several
    sources may be the same entity, e.g. duplicates within the source graph)."""
    seen: dict[str, int] = {}
    for p in pairs:
        seen[p.target] = seen.get(p.target, 0) + 1
    return sum(1 for n in seen.values() if n > 1)


# ------------------------------------------------------------------------ write-back
def side_filter(side: GraphSide, key_property: str, prefix: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Identifiers and parameters that select one side's entities in the templates.

    A side without a property filter uses its key property with a null value, which the
    templates turn into ``key = key`` (always true): one template serves both cases.
    """
    identifiers = {f"{prefix}_label": side.label, f"{prefix}_property": side.property or key_property}
    return identifiers, {f"{prefix}_value": side.value}


def selection(config: AlignConfig) -> tuple[dict[str, str], dict[str, Any]]:
    """Identifiers and parameters naming both sides, the key and the SAME_AS type."""
    s_ids, s_params = side_filter(config.source, config.key_property, "source")
    t_ids, t_params = side_filter(config.target, config.key_property, "target")
    identifiers = {**s_ids, **t_ids, "key": config.key_property, "same_as": config.same_as_type}
    return identifiers, {**s_params, **t_params}


def side_query(config: AlignConfig, name: str) -> str:
    """``name`` when both sides are selected by a property (index lookups), else its
    ``<name>_generic`` form, which finds a side selected by its label alone."""
    filtered = config.source.property is not None and config.target.property is not None
    return name if filtered else f"{name}_generic"


def merge_step(config: AlignConfig, rows: Sequence[Mapping[str, Any]],
               stamp: ModelStamp) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The ``(name, params, identifiers)`` step that merges one batch, for
    :meth:`Graph.write_many` (so a caller can commit it together with a checkpoint).
    A pair that a review in the graph now rules out is not written, whatever the run read
    before: its source accepted for another target, or its target accepted for another
    source."""
    identifiers, params = selection(config)
    return (side_query(config, MERGE_QUERY),
            {**params, "rows": list(rows), "model": stamp.model, "method": stamp.method,
             "score_tolerance": SCORE_TOLERANCE},
            identifiers)


def retract_step(config: AlignConfig, sources: Sequence[str], pairs: Iterable[ScoredPair]
                 ) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The ``(name, params, identifiers)`` step that deletes the model-written edges of
    ``sources`` (source keys) that ``pairs`` (what the batch writes for them) no longer
    hold, and those a review in the graph now rules out (as :func:`merge_step`); run in the
    batch's transaction, before its :func:`merge_step`. Its one row says how many:
    ``{"retracted": n}``."""
    identifiers, params = selection(config)
    keep: dict[str, list[str]] = {key: [] for key in sources}
    for p in pairs:
        keep.setdefault(p.source, []).append(p.target)
    return (side_query(config, RETRACT_QUERY),
            {**params, "sources": [{"key": k, "keep": v} for k, v in keep.items()]},
            identifiers)


def plan_merge(graph: Graph, config: AlignConfig, stamp: ModelStamp) -> None:
    """Run the merge query over no rows: the server plans and compiles it, nothing is
    written (a worker's warm-up; on dbp15k_fr_en the first job's write took 0.94 s, later
    ones 0.2 s)."""
    name, params, identifiers = merge_step(config, [], stamp)
    graph.write(name, params, identifiers)


def rows_of(pairs: Iterable[ScoredPair]) -> list[dict[str, Any]]:
    return [{"source": p.source, "target": p.target, "score": float(p.score)} for p in pairs]


def report_from(result: list[dict[str, Any]], rows: int) -> WriteReport:
    """Turn the merge query's ``(outcome, pairs)`` rows into a :class:`WriteReport`."""
    counts = {o: 0 for o in OUTCOMES}
    for row in result:
        counts[row["outcome"]] += int(row["pairs"])
    return WriteReport(pairs=rows, skipped=max(rows - sum(counts.values()), 0), batches=1, **counts)


def write_pairs(graph: Graph, config: AlignConfig, pairs: Iterable[ScoredPair], stamp: ModelStamp,
                *, batch_size: int = 5000,
                progress: Callable[[WriteReport], None] | None = None) -> WriteReport:
    """Merge ``pairs`` as SAME_AS edges, ``batch_size`` pairs per transaction.

    A batch that fails leaves nothing of itself behind (earlier batches stay written);
    run again to finish: the merge is idempotent.
    """
    total = WriteReport()
    for batch in chunked(pairs, batch_size):
        rows = rows_of(batch)
        name, params, identifiers = merge_step(config, rows, stamp)
        result = graph.write(name, params, identifiers)
        done = report_from(result, len(rows))
        total = total + done
        if progress is not None:
            progress(done)
    log.info("wrote %d pairs in %d batches: %d created, %d updated, %d unchanged, "
             "%d reviewed (kept), %d not kgn-align's (kept), %d skipped", total.pairs, total.batches,
             total.created, total.updated, total.unchanged, total.reviewed, total.foreign, total.skipped)
    return total


class Edge(_Record):
    """A SAME_AS edge as read back from the graph."""

    source: str
    target: str
    score: float | None = None
    model: str | None = None
    method: str | None = None
    review: str | None = None

    @property
    def model_written(self) -> bool:
        """kgn-align wrote it (``model`` set) and no person reviewed it: what a run may
        retract, ``clean`` deletes and the judging counts as the model's; an import's own
        link (neither set) is none of these."""
        return self.review is None and self.model is not None


def read_edges(graph: Graph, config: AlignConfig, model: str | None = None) -> list[Edge]:
    """Every SAME_AS edge from the source side to the target side (optionally: one
    model's), sorted by keys. For checks, tests and evaluation."""
    identifiers, params = selection(config)
    return [_edge(r) for r in graph.read(EDGES_QUERY, {**params, "model": model}, identifiers)]


def _edge(row: Mapping[str, Any]) -> Edge:
    """An :class:`Edge` from a query row with its columns (source, target, score, model,
    method, review). Values of another type than kgn-align writes (set by hand: a score
    ``'high'``, a review ``true``) are read as they stand, not refused: a score that is not a
    number as none, any other value as its text (``true``), so that one odd edge does not stop
    the reading of all the others (preflight warns about odd reviews)."""
    score = row["score"]
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        score = None
    return Edge(source=str(row["source"]), target=str(row["target"]), score=score,
                model=_text(row["model"]), method=_text(row["method"]), review=_text(row["review"]))


def _text(value: Any) -> str | None:
    """A property read where text is expected: as it stands, else as Cypher writes it."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (bool, int, float, list)) else str(value)


#: edges per read when :func:`named_edges` reads them all
NAMED_PAGE = 50_000


class NamedEdge(Edge):
    """A SAME_AS edge with both ends' display names (:func:`named_edges`)."""

    source_name: str
    target_name: str


def named_edges(graph: Graph, config: AlignConfig, *, limit: int | None = 20, weakest: bool = False,
                model: str | None = None, everything: bool = False) -> list[NamedEdge]:
    """The model-written SAME_AS edges between the sides that no one reviewed yet (with
    ``everything``: every SAME_AS edge, reviewed and imported ones too), strongest first
    (``weakest``: the other end, what to review), with both ends' first name property (else
    the key); ``model``: that model's only; ``limit`` None: every edge. What ``kgn-align
    edges`` lists."""
    from kgn_align.snapshot import display_name

    identifiers, params = selection(config)
    page = NAMED_PAGE if limit is None else limit
    rows: list[dict[str, Any]] = []
    while True:  # pages: a LIMIT as large as the graph made ArcadeDB fail
        got = graph.read("same_as_named", {**params, "name_properties": list(config.name_properties),
                                           "model": model, "weakest": weakest, "all": everything,
                                           "skip": len(rows), "limit": page}, identifiers)
        rows += got
        if limit is not None or len(got) < page:
            break
    return [NamedEdge(**_edge(r).model_dump(),
                      source_name=display_name(r["source_names"], str(r["source"])),
                      target_name=display_name(r["target_names"], str(r["target"])))
            for r in rows]


def count_named_edges(graph: Graph, config: AlignConfig, *, model: str | None = None,
                      everything: bool = False) -> int:
    """How many edges :func:`named_edges` with these filters lists without a limit."""
    identifiers, params = selection(config)
    identifiers.pop("key")  # counted, not listed by key
    rows = graph.read("same_as_count", {**params, "model": model, "all": everything}, identifiers)
    return int(rows[0]["edges"]) if rows else 0


EDGES_OF_QUERY = "writeback_edges_of"  #: as MERGE_QUERY: has a ``_generic`` form


def read_edges_of(graph: Graph, config: AlignConfig, sources: Sequence[str]) -> list[Edge]:
    """The SAME_AS edges from ``sources`` (source keys) to the target side, one read."""
    identifiers, params = selection(config)
    return [_edge(r) for r in graph.read(side_query(config, EDGES_OF_QUERY),
                                         {**params, "keys": list(sources)}, identifiers)]


#: what a batch would do to one edge, as a dry run reports it (the merge's outcomes, and
#: the retraction's)
PREVIEW_CHANGES = (*OUTCOMES, "retracted")
#: ``(source, target, score, model, method, change)``: one edge of a dry run's preview
PreviewRow = tuple[str, str, float | None, str | None, str | None, str]


def preview_batch(existing: Iterable[Edge], sources: Sequence[str], pairs: Sequence[ScoredPair],
                  stamp: ModelStamp) -> tuple[WriteReport, list[PreviewRow]]:
    """What writing ``pairs`` for the batch ``sources`` would do to the graph, decided by the
    rules of ``cypher/writeback_merge.cypher`` and ``writeback_retract.cypher`` from the
    edges of those sources now there (``existing``, :func:`read_edges_of`): the report a
    real batch would return, and per edge a :data:`PreviewRow` with change one of
    :data:`PREVIEW_CHANGES` (a retracted edge with the score, model and method it has now).
    A pair whose reverse edge a person reviewed, which the merge skips, shows as created
    (the preflight warns about reviews that point target -> source). Pure: a dry run calls
    it, nothing is written."""
    now: dict[tuple[str, str], Edge] = {(e.source, e.target): e for e in existing}
    changes: list[PreviewRow] = []
    counts = {c: 0 for c in PREVIEW_CHANGES}
    keep: set[tuple[str, str]] = set()
    for row in rows_of(pairs):
        pair = (row["source"], row["target"])
        keep.add(pair)
        edge = now.get(pair)
        if edge is None:
            change = "created"
        elif edge.review is not None:
            change = "reviewed"
        elif edge.model is None:
            change = "foreign"
        elif (edge.score is not None and abs(edge.score - row["score"]) <= SCORE_TOLERANCE
              and edge.model == stamp.model and edge.method == stamp.method):
            change = "unchanged"
        else:
            change = "updated"
        counts[change] += 1
        changes.append((*pair, row["score"], stamp.model, stamp.method, change))
    batch = set(sources)
    for pair, edge in sorted(now.items()):
        if edge.source in batch and pair not in keep and edge.model_written:
            counts["retracted"] += 1
            changes.append((*pair, edge.score, edge.model, edge.method, "retracted"))
    return WriteReport(pairs=len(keep), batches=1, **counts), changes


#: the values of ``r.review`` that label a pair; any other value is kept from the model
#: (reviewed) but labels nothing, and is warned about
REVIEWS = ("accepted", "rejected")


_said_odd_reviews: set[str] = set()  #: each such warning once per process (a job reads reviews twice)


def labelled_pairs(graph: Graph, config: AlignConfig,
                   warnings: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(source key, target key, 'accepted' | 'rejected') from reviewed SAME_AS edges. Edges
    with another ``review`` value (a typo such as ``'Accepted'``) are left out with a
    warning naming the values: the model never touches them, but they label nothing. The
    warning is appended to ``warnings`` when given, else logged (once per process)."""
    rows = graph.read("snapshot_labelled_pairs", {
        "source_property": config.source.property, "source_value": config.source.value,
        "target_property": config.target.property, "target_value": config.target.value,
    }, {"source_label": config.source.label, "target_label": config.target.label,
        "same_as": config.same_as_type, "key_property": config.key_property})
    # as Cypher writes them: 'Accepted' quoted, a boolean true without quotes
    odd = sorted({repr(v) if isinstance(v, str) else _text(v) for v in (r["review"] for r in rows)
                  if v not in REVIEWS})
    if odd:
        count = sum(r["review"] not in REVIEWS for r in rows)
        said = (f"{count} reviewed SAME_AS edge(s) have a review other than 'accepted' or 'rejected' "
                f"({', '.join(odd[:5])}): the model leaves them alone, but they are "
                "neither accepted nor rejected (and Browser's queries show them as alignments); set "
                "r.review to one of the two")
        if warnings is not None:
            warnings.append(said)
        elif said not in _said_odd_reviews:
            _said_odd_reviews.add(said)
            log.warning("%s", said)
    return [(str(r["source"]), str(r["target"]), r["review"]) for r in rows if r["review"] in REVIEWS]


def reviewed_as(labelled: Iterable[tuple[str, str, str]], review: str) -> list[tuple[str, str]]:
    """The ``(source key, target key)`` pairs of :func:`labelled_pairs` with one review
    (``"accepted"`` or ``"rejected"``), in their order."""
    return [(a, b) for a, b, r in labelled if r == review]


def clean(graph: Graph, config: AlignConfig, *, bookkeeping: bool = False,
          batch: int = 10_000) -> dict[str, int]:
    """Remove what alignment wrote for ``config``'s two sides: model SAME_AS edges (reviewed
    edges stay) and the sampler's hash property on both sides' nodes; with ``bookkeeping``
    also every backfill's run progress and every finished job (they name no sides). The
    graphs themselves are left as they were. Batched, each batch its own transaction;
    returns what was removed."""
    from kgn_align.sampling import HASH_PROPERTY

    identifiers, params = selection(config)
    done = {"model_edges": 0, "sampling_hashes": 0, "bookkeeping_nodes": 0}

    done["model_edges"] = graph.drain("clean_model_edges", params,
                                      {k: v for k, v in identifiers.items() if k != "key"}, limit=batch)
    for side in (config.source, config.target):
        done["sampling_hashes"] += graph.drain(
            "clean_sampling_hash", {"side_property": side.property, "side_value": side.value},
            {"label": side.label, "hash_property": HASH_PROPERTY}, limit=batch)
    if bookkeeping:
        from kgn_align.backfill import ACTIVE_RUN_SECONDS
        from kgn_align.timing import epoch_ms

        since = {"active_since": epoch_ms() - ACTIVE_RUN_SECONDS * 1000}
        done["bookkeeping_nodes"] = graph.drain("clean_bookkeeping", since, limit=batch)
        active = graph.read("clean_bookkeeping_active", since)
        if active:
            done["active_runs_kept"] = len(active)
            log.warning("kept %d backfill run(s) a process touched in the last %d minutes, which may be "
                        "writing now: %s; stop them first, or clean again later",
                        len(active), ACTIVE_RUN_SECONDS // 60, ", ".join(repr(r["id"]) for r in active[:5]))
    log.info("cleaned: %s", done)
    return done
