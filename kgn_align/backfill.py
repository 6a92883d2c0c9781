"""Backfill: align every source entity that is in the graph now (or a filtered part of
them) and write the chosen pairs as ``SAME_AS`` edges, resumably.

How it runs:

1. **Validate** the filter against the graph (read-only): an unknown entity type, keys
   that do not exist, or a "changed since" property no entity carries is a
   :class:`~kgn_align.errors.ConfigError` before anything is written.
2. **Select** the source keys the run covers, sorted by key: the order the cursor follows.
3. **Score** each batch of source keys with a pluggable :data:`Scorer` (keys in, scored
   pairs out): the GNN pair model in production, a name-similarity scorer for tests and
   for graphs without a model.
4. **Choose** pairs with a matching policy (:mod:`kgn_align.writeback`) and **write** each
   batch in one transaction *together with* the run's checkpoint: a
   ``(:KgnBackfillRun {id, cursor, batches, ...})`` node in the graph. A batch and its
   checkpoint land together or not at all, so after Ctrl-C, ``kill -9`` or a crashed
   server, running again with the same run id continues after the last committed batch
   and ends with exactly the edges of an uninterrupted run; a review made while it was
   stopped rules over the batches written before too (:func:`retract_reviewed_away`).
   Each checkpoint also keeps a digest of the source keys written so far
   (:func:`keys_digest`): when the keys now at or before the cursor differ (entities loaded,
   deleted or newly selected while the run was stopped), the run starts over and writes
   every batch again, rather than leave those entities without an edge.

Batches are cut from the sorted key list, so a resumed run cuts the same batches.
Policies ``all`` and ``best`` decide each source entity from its own pairs and stream
batch by batch. ``one-to-one`` is a global decision (a target can be claimed from any
batch): its run scores every batch first, matches, then writes batch by batch; a resumed
one-to-one run scores again (scorers must be deterministic) but does not write again.

Dry run: the same selection, scoring and policy, with the would-be edges written to a CSV
file and nothing to the graph (no run node either); each batch's edges now in the graph
are read to say what the run would change (created, updated, unchanged, retracted).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kgn_align.config import AlignConfig, Identifier
from kgn_align.errors import ConfigError, GraphError, KgnAlignError, QueryError, clipped
from kgn_align.graph import Graph
from kgn_align.timing import epoch_ms
from kgn_align.writeback import (
    ModelStamp,
    Policy,
    Reviews,
    ScoredPair,
    WriteReport,
    labelled_pairs,
    merge_step,
    preview_batch,
    read_edges,
    read_edges_of,
    retract_step,
    report_from,
    rows_of,
    select,
    selection,
    shared_targets,
)

log = logging.getLogger(__name__)

#: Scores a batch of source entity keys: returns scored candidate pairs whose ``source``
#: is one of those keys. Must be deterministic for resumed runs to equal uninterrupted ones.
Scorer = Callable[[Sequence[str]], Iterable[ScoredPair]]
RUN_ID_MAX = 128
#: Show at most this many offending keys in an error message.
SHOWN_KEYS = 10


#: a run still 'running' that a process started, took over or checkpointed this recently
#: may be writing now: ``clean --bookkeeping`` leaves it, and a start with its id warns
ACTIVE_RUN_SECONDS = 600


class RunConflict(KgnAlignError):
    """The run was taken over by another process, or started with other settings."""


class BackfillFilter(BaseModel):
    """Which source entities a backfill covers (all of them by default).

    ``entity_type`` is a label the entities must carry; ``keys`` lists entity keys;
    ``changed_since`` keeps entities whose ``changed_property`` (a datetime) is at or
    after that time. Filters combine with AND.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    entity_type: Identifier | None = None
    keys: tuple[str, ...] | None = None
    changed_since: datetime | None = None
    changed_property: Identifier = "updatedAt"

    @property
    def partial(self) -> bool:
        """True when the filter may leave source entities out."""
        return self.entity_type is not None or self.keys is not None or self.changed_since is not None

    @field_validator("keys")
    @classmethod
    def _some_keys(cls, keys: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if keys is not None and not keys:
            raise ValueError("an empty key list selects nothing; leave it out to select all")
        return tuple(sorted(set(keys))) if keys is not None else None

    @field_validator("changed_since")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2024-05-01T00:00:00+00:00): a time "
                             "without one means different instants on different servers")
        return value


class BackfillOptions(BaseModel):
    """How a backfill runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12], min_length=1,
                        max_length=RUN_ID_MAX, pattern=r"^[A-Za-z0-9_.:\-]+$")
    batch_size: int = Field(1000, ge=1, le=100_000)
    policy: Policy = Policy.BEST
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    one_to_one: str = Field("greedy", pattern="^(greedy|hungarian)$")
    dry_run: Path | None = None  #: CSV path: write would-be edges there instead
    #: Seconds to pause after each batch, leaving a live server room for other work.
    throttle: float = Field(0.0, ge=0.0, le=60.0)


class Progress(BaseModel):
    """Handed to the progress callback after every batch."""

    done: int  #: source entities finished, this run and before it
    total: int
    batches: int
    seconds: float
    eta_seconds: float | None


class BackfillSummary(BaseModel):
    """What a backfill did; also what the CLI prints at the end."""

    run_id: str
    status: str  #: "done" | "dry-run" | "already-done"
    resumed: bool
    #: a resume that found the source entities at or before its cursor changed since the run
    #: stopped, and so wrote every batch again
    restarted: bool = False
    entities: int  #: source entities the run covers
    entities_before: int  #: finished by earlier attempts of this run
    entities_now: int  #: finished by this invocation
    batches_now: int
    pairs_scored: int
    pairs_selected: int
    #: pairs written by earlier attempts of this run (a resumed or already-done run)
    pairs_before: int = 0
    #: source entities skipped because a person accepted a SAME_AS edge from them
    reviewed_sources: int = 0
    #: targets chosen by more than one source in this invocation (policies best and all)
    shared_targets: int = 0
    writes: WriteReport
    seconds: float
    csv: str | None = None


# --------------------------------------------------------------------------- queries
def _identifiers(config: AlignConfig, flt: BackfillFilter) -> tuple[dict[str, str], dict[str, Any]]:
    identifiers, params = selection(config)
    source = {k: v for k, v in identifiers.items() if k.startswith("source_") or k == "key"}
    source["type_label"] = flt.entity_type or config.source.label
    source["changed_property"] = flt.changed_property
    return source, {"source_value": params["source_value"]}


def validate_filter(graph: Graph, config: AlignConfig, flt: BackfillFilter) -> None:
    """Raise :class:`ConfigError` naming every problem with ``flt``; reads only."""
    problems = []
    if (flt.entity_type is not None and config.entity_labels
            and flt.entity_type not in config.entity_labels):
        problems.append(f"entity type {flt.entity_type!r} is not one of the configured "
                        f"entity_labels {list(config.entity_labels)}")
    identifiers, params = _identifiers(config, flt)
    stats = graph.read("backfill_source_stats", params,
                       {k: v for k, v in identifiers.items() if k != "key"})[0]
    if int(stats["entities"]) == 0:
        problems.append(f"the source side ({config.source.name}) has no entities: "
                        "check its label and property filter, or load the graph first")
    elif flt.entity_type is not None and int(stats["typed"]) == 0:
        problems.append(f"no source entity has the entity type (label) {flt.entity_type!r}")
    if flt.changed_since is not None and int(stats["with_changed"]) == 0:
        problems.append(f"no source entity has the property {flt.changed_property!r}, so "
                        "'changed since' can never match: name the property that holds "
                        "the change time")
    if flt.keys is not None and not problems:
        found = set(select_keys(graph, config, flt.model_copy(update={"changed_since": None})))
        missing = [k for k in flt.keys if k not in found]
        if missing:
            shown = ", ".join(repr(k) for k in missing[:SHOWN_KEYS])
            more = f" and {len(missing) - SHOWN_KEYS} more" if len(missing) > SHOWN_KEYS else ""
            problems.append(f"{len(missing)} of {len(flt.keys)} keys are not source entities"
                            f"{' of that type' if flt.entity_type else ''}: {shown}{more}")
    if problems:
        raise ConfigError("backfill filter: " + "; ".join(problems) + " (nothing was written)")


def select_keys(graph: Graph, config: AlignConfig, flt: BackfillFilter) -> list[str]:
    """The keys of the source entities ``flt`` selects, sorted: what a backfill aligns."""
    identifiers, params = _identifiers(config, flt)
    rows = graph.read("backfill_source_keys", {
        **params, "keys": list(flt.keys) if flt.keys is not None else None,
        "since": flt.changed_since}, identifiers)
    keys = [r["key"] for r in rows]
    odd = [k for k in keys if not isinstance(k, str)]
    if odd:
        raise ConfigError(f"source entities must have string keys in {config.key_property!r}: one has "
                          f"{odd[0]!r} ({type(odd[0]).__name__}); 'kgn-align check' lists them")
    return sorted(keys)  # the server's order may differ from Python's for non-ASCII keys


def run_settings(config: AlignConfig, flt: BackfillFilter, options: BackfillOptions,
                 stamp: ModelStamp, scorer_settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """What must not change between attempts of one run (else resuming mixes two runs):
    among it the scorer's own ``settings`` (candidates per entity, blocking weights). Kept
    on the run's node, so that a conflict can name what differs (:func:`settings_changed`).
    Not the batch size: it only cuts the same work into transactions (a resume goes on
    from the last written key whatever the batches), so a resume may take another."""
    return {
        "scorer": dict(scorer_settings or {}),
        "source": config.source.model_dump(mode="json"),
        "target": config.target.model_dump(mode="json"),
        "key": config.key_property, "same_as": config.same_as_type,
        "filter": flt.model_dump(mode="json"),
        "policy": options.policy.value,
        "threshold": options.threshold, "one_to_one": options.one_to_one,
        "model": stamp.model, "method": stamp.method,
    }


def fingerprint(settings: dict[str, Any]) -> str:
    """A short hash of :func:`run_settings`: what a resume must match."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def settings_changed(before: Mapping[str, Any], now: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``"<setting>: was <value>, now <value>"`` for each :func:`run_settings` entry that
    differs (nested ones named with dots, as ``scorer.k``; long values shortened)."""
    def shown(value: Any) -> str:
        return clipped(json.dumps(value, sort_keys=True), 40)

    out = []
    for name in sorted(set(before) | set(now)):
        old, new = before.get(name), now.get(name)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            out += settings_changed(old, new, f"{prefix}{name}.")
        elif old != new:
            out.append(f"{prefix}{name}: was {shown(old)}, now {shown(new)}")
    return out


def conflict_text(run_id: str, changed: Sequence[str], finished: bool = False) -> str:
    """The :class:`RunConflict` message: what ``changed`` (:func:`settings_changed`) and
    the way out — for a ``finished`` run a new run id (giving its settings again would do
    nothing: it is complete), else resuming it with its own settings or a new run id."""
    other_graphs = any(c.startswith(("source.", "target.")) for c in changed)
    if other_graphs:
        remedy = ("a run of other graphs (another configuration's): run it with that configuration, "
                  "or use a new run id")
    elif finished:
        remedy = "that run is complete (with those it would do nothing): use a new run id to run with these"
    else:
        remedy = "give those again to resume it, or use a new run id"
    return (f"run {run_id!r} was started with other settings ("
            + ("; ".join(changed) or "config, filter, policy, threshold, model or candidates")
            + f"): {remedy}")


def check_resumable(graph: Graph, config: AlignConfig, flt: BackfillFilter, options: BackfillOptions,
                    stamp: ModelStamp) -> None:
    """:class:`RunConflict` now, before any sampling, when ``options.run_id`` names a run
    started with other settings than these (all but the scorer's own, which
    :func:`run_backfill` compares once the scorer is built). Reads only."""
    state = run_state(graph, options.run_id) if options.dry_run is None else None
    if not state or not state.get("settings"):
        return
    before = {k: v for k, v in json.loads(state["settings"]).items() if k != "scorer"}
    now = {k: v for k, v in run_settings(config, flt, options, stamp).items() if k != "scorer"}
    changed = settings_changed(before, now)
    if changed:
        raise RunConflict(conflict_text(options.run_id, changed, finished=state.get("status") == "done"))


def batches_of(keys: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(keys), size):
        yield list(keys[start:start + size])


class _Reviewed:
    """``scorer`` whose pairs people's reviews allow (:class:`~kgn_align.writeback.Reviews`)."""

    def __init__(self, scorer: Scorer, reviews: Reviews, policy: Policy) -> None:
        self.scorer, self.reviews, self.policy = scorer, reviews, policy

    def __call__(self, keys: Sequence[str]) -> list[ScoredPair]:
        return self.reviews.allowed(self.scorer(keys), self.policy)


def _score(scorer: Scorer, keys: Sequence[str]) -> list[ScoredPair]:
    pairs = list(scorer(keys))
    wanted = set(keys)
    stray = {p.source for p in pairs} - wanted
    if stray:
        raise KgnAlignError(f"the scorer returned pairs for {len(stray)} source keys outside "
                            f"the batch it was given (e.g. {sorted(stray)[0]!r})")
    return pairs


# ---------------------------------------------------------------------------- running
def run_backfill(graph: Graph, config: AlignConfig, scorer: Scorer, stamp: ModelStamp,
                 options: BackfillOptions | None = None, flt: BackfillFilter | None = None,
                 progress: Callable[[Progress], None] | None = None,
                 before_write: Callable[[], None] | None = None) -> BackfillSummary:
    """Backfill (or resume) run ``options.run_id``; see the module docstring.

    ``before_write`` is called before each batch is written and may raise to stop the run
    there (the worker stops a job whose lease it lost); what was written stays, and the run
    resumes after the last written batch.
    """
    options = options or BackfillOptions()
    flt = flt or BackfillFilter()
    start = time.perf_counter()
    validate_filter(graph, config, flt)
    keys = select_keys(graph, config, flt)
    log.info("backfill %s: %d source entities selected", options.run_id, len(keys))
    settings = getattr(scorer, "settings", None)
    reviews = Reviews(labelled_pairs(graph, config))
    if options.policy is Policy.ONE_TO_ONE and flt.partial:
        # a run over some sources (a 'changed' job, --key, --type): the other sources' model
        # edges keep their targets, and one-to-one must hold across them too
        chosen = set(keys)
        reviews.held_targets = {e.target for e in read_edges(graph, config)
                                if e.review is None and e.source not in chosen}
    scorer = _Reviewed(scorer, reviews, options.policy)
    skipped = len(reviews.accepted_sources & set(keys))
    if options.dry_run is not None:
        return _dry_run(graph, config, scorer, stamp, options, keys, start, progress).model_copy(
            update={"reviewed_sources": skipped})

    graph.write_once("backfill_constraint", {}, None)
    owner = uuid.uuid4().hex
    now = run_settings(config, flt, options, stamp, settings)
    fp = fingerprint(now)
    run = graph.write("backfill_run_start", {"run_id": options.run_id, "fingerprint": fp,
                                             "settings": json.dumps(now, sort_keys=True),
                                             "owner": owner, "total": len(keys), "now": epoch_ms(),
                                             "whole_side": not flt.partial})[0]
    if run["fingerprint"] != fp:
        changed = settings_changed(json.loads(run["settings"]), now) if run["settings"] else []
        raise RunConflict(conflict_text(options.run_id, changed, finished=run["status"] == "done"))
    idle_s = None if run["touched"] is None else (epoch_ms() - int(run["touched"])) / 1000
    own = run["was"] is not None and _UNRELEASED.pop(options.run_id, None) == run["was"]
    if run["status"] == "running" and idle_s is not None and idle_s < ACTIVE_RUN_SECONDS and not own:
        log.warning("run %r was started or written by another process %.0f s ago: this one takes "
                    "it over, and that one, if it still runs, stops at its next batch (after a kill "
                    "or a lost server this is the resume it asked for; give each backfill its own "
                    "--run-id to run them side by side)", options.run_id, idle_s)
    resumed = int(run["batches"]) > 0
    before, pairs_before = int(run["entities"]), int(run["pairs"] or 0)
    if run["status"] == "done":
        log.info("backfill %s is already complete", options.run_id)
        return BackfillSummary(run_id=options.run_id, status="already-done", resumed=True,
                               entities=len(keys), entities_before=before, entities_now=0,
                               batches_now=0, pairs_scored=0, pairs_selected=0,
                               pairs_before=pairs_before, writes=WriteReport(),
                               seconds=round(time.perf_counter() - start, 3))
    cursor = run["cursor"]
    done = [k for k in keys if cursor is not None and k <= cursor]
    digest = keys_digest(set(done))
    restarted = (resumed and run["keys_digest"] is not None and run["keys_digest_at"] == cursor
                 and int(run["keys_digest"]) != digest)
    if restarted:
        # source entities at or before the cursor were added, deleted or newly selected since
        # the run stopped: the batches it wrote no longer cover them (a resume after the cursor
        # alone left an entity added in between without an edge, the run called done)
        if before_write is not None:
            before_write()
        log.warning("run %r: the source entities at or before key %r changed since it stopped "
                    "(%d now, %d written then): it starts over, writing every batch again "
                    "(what stands is left as it is)", options.run_id, cursor, len(done), before)
        if not graph.write("backfill_run_restart", {"run_id": options.run_id, "owner": owner,
                                                    "now": epoch_ms()}):
            raise _lost_run(graph, _RunState(options.run_id, owner, int(run["batches"]))) or RunConflict(
                f"run {options.run_id!r} could not start over: it is no longer running")
        resumed, cursor, done, digest, before, pairs_before = False, None, [], 0, 0, 0
        run = {**run, "batches": 0}
    todo = [k for k in keys if cursor is None or k > cursor]
    total = WriteReport()
    pinned: set[str] = set()
    if resumed:
        log.info("resuming %s after key %r: %d of %d entities left", options.run_id, cursor,
                 len(todo), len(keys))
        total = total.model_copy(update={"retracted": retract_reviewed_away(
            graph, config, done, reviews, options.policy)})
        if not options.policy.is_local:  # what the written batches hold stays theirs
            pinned = {e.target for e in read_edges_of(graph, config, done) if e.model_written}
    state = _RunState(options.run_id, owner, int(run["batches"]), digest, cursor)
    scored = 0
    done_now = 0
    written: list[ScoredPair] = []
    writing = False
    try:
        for batch, (n_scored, pairs) in _plan(scorer, keys, todo, options, pinned):
            if before_write is not None:
                before_write()
            writing = True
            report = _write_batch(graph, config, stamp, state, batch, pairs, n_scored)
            writing = False
            written += pairs
            scored += n_scored
            total = total + report
            done_now += len(batch)
            if options.throttle:
                time.sleep(options.throttle)
            if progress is not None:
                progress(_progress(start, len(keys) - len(todo) + done_now, len(keys), state.batches,
                                   done_now))
    except BaseException as exc:  # Ctrl-C, SIGTERM, an error: this process writes no more; the run is free
        # A batch's transaction the server refused (a QueryError) has ended, rolled back: the
        # run is let go as after any other error. One stopped inside it by Ctrl-C or a lost
        # connection may still hold the run's lock until its connection closes: not waited for.
        if not writing or isinstance(exc, QueryError):
            _release(graph, options.run_id, owner)
        else:  # not released; but this process writes it no more: its own retry takes it quietly
            _UNRELEASED[options.run_id] = owner
        raise
    graph.write("backfill_run_finish", {"run_id": options.run_id, "owner": owner})
    summary = BackfillSummary(run_id=options.run_id, status="done", resumed=resumed, restarted=restarted,
                              entities=len(keys), entities_before=before, entities_now=done_now,
                              batches_now=total.batches, pairs_scored=scored,
                              pairs_selected=len(written), pairs_before=pairs_before,
                              reviewed_sources=skipped,
                              shared_targets=shared_targets(written), writes=total,
                              seconds=round(time.perf_counter() - start, 3))
    log.info("backfill %s done: %s", options.run_id, summary.model_dump_json())
    return summary


def retract_reviewed_away(graph: Graph, config: AlignConfig, sources: Sequence[str], reviews: Reviews,
                          policy: Policy, *, chunk: int = 5000) -> int:
    """Delete the model-written edges of ``sources`` (source keys a run already wrote) that a
    review made since rules out: the source accepted for another target, the target
    accepted for another source, the pair rejected (:class:`~kgn_align.writeback.Reviews`).
    A resumed run calls it for the sources written before it stopped: a person's review in
    between would otherwise leave such an edge for good, where an uninterrupted run's batch
    would have retracted it (a trial accepted a pair for a target between a ``kill -9`` and
    the resume, and the model edge from another source onto it stayed). Returns how many
    were deleted; each chunk of sources is one transaction."""
    if not reviews or not sources:
        return 0
    one_to_one = policy is Policy.ONE_TO_ONE
    retracted = 0
    for start in range(0, len(sources), chunk):
        part = list(sources[start:start + chunk])
        edges = [e for e in read_edges_of(graph, config, part) if e.model_written]
        ruled = {(e.source, e.target) for e in edges if reviews.rules_out(e.source, e.target, one_to_one=one_to_one)}
        if not ruled:
            continue
        touched = sorted({source for source, _ in ruled})
        # (the keep list's scores are not written: a score edited by hand outside [0, 1] is
        # clipped here rather than refused as a ScoredPair)
        kept = [ScoredPair(source=e.source, target=e.target,
                           score=e.score if e.score is not None and 0.0 <= e.score <= 1.0 else 0.0)
                for e in edges if e.source in touched and (e.source, e.target) not in ruled]
        rows = graph.write_many([retract_step(config, touched, kept)])
        retracted += int(rows[0][0]["retracted"]) if rows[0] else 0
    if retracted:
        log.info("%d model edge(s) written before the run stopped contradicted a review made since: "
                 "retracted", retracted)
    return retracted


#: runs this process stopped writing but could not let go (the server was gone): run id ->
#: the owner it wrote them as. Its own resume (a worker retrying the job) is then not warned
#: of another process; a resume from another process still is.
_UNRELEASED: dict[str, str] = {}


def _release(graph: Graph, run_id: str, owner: str) -> None:
    """Let the run go when this process stops writing it (``backfill_run_release``): its
    resume is then not warned about a process that may still write it. Best effort: when
    the server is gone too, this process remembers it (:data:`_UNRELEASED`), and only
    another process's resume warns."""
    try:
        graph.write("backfill_run_release", {"run_id": run_id, "owner": owner})
        _UNRELEASED.pop(run_id, None)
    except Exception as exc:  # noqa: BLE001 - the interrupt is what the user must see
        _UNRELEASED[run_id] = owner
        log.debug("could not release run %r: %s", run_id, exc)


class _RunState:
    """What this process knows of the run it writes: its owner id, the batches committed,
    and the digest of the distinct source keys written up to ``cursor``."""

    def __init__(self, run_id: str, owner: str, batches: int, digest: int = 0,
                 cursor: str | None = None) -> None:
        self.run_id, self.owner, self.batches = run_id, owner, batches
        self.digest, self.cursor = digest, cursor


#: :func:`keys_digest` sums modulo this: the sum stays a 64-bit integer on every server
_DIGEST_MODULUS = 1 << 62


def keys_digest(keys: Iterable[str], start: int = 0) -> int:
    """An order-free digest of a set of source keys (give each key once): ``start`` plus the
    first 8 bytes of each key's SHA-256, modulo 2**62. A run's checkpoints add each written
    batch's keys, so a resume compares the keys now at or before its cursor with those it
    wrote, whatever the batches were."""
    total = start
    for key in keys:
        total += int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return total % _DIGEST_MODULUS


def _progress(start: float, done: int, total: int, batches: int, done_now: int) -> Progress:
    """Progress after a batch; the ETA extrapolates this invocation's pace (``done_now``
    entities since ``start``) over what is left."""
    elapsed = time.perf_counter() - start
    eta = round(elapsed / done_now * (total - done), 1) if done_now else None
    return Progress(done=done, total=total, batches=batches, seconds=round(elapsed, 3),
                    eta_seconds=eta)


def _plan(scorer: Scorer, keys: Sequence[str], todo: Sequence[str], options: BackfillOptions,
          pinned: set[str] | frozenset[str] = frozenset()) -> Iterator[tuple[list[str], tuple[int, list[ScoredPair]]]]:
    """Batches of ``todo`` with their scored-pair count and chosen pairs, by policy
    (``pinned``: see :func:`_global_plan`)."""
    if options.policy.is_local:
        return _stream(scorer, todo, options)
    return _global_plan(scorer, keys, todo, options, pinned)


def _stream(scorer: Scorer, todo: Sequence[str],
            options: BackfillOptions) -> Iterator[tuple[list[str], tuple[int, list[ScoredPair]]]]:
    for batch in batches_of(todo, options.batch_size):
        pairs = _score(scorer, batch)
        yield batch, (len(pairs), select(pairs, options.policy, options.threshold,
                                         one_to_one=options.one_to_one))


def _global_plan(scorer: Scorer, keys: Sequence[str], todo: Sequence[str], options: BackfillOptions,
                 pinned: set[str] | frozenset[str] = frozenset()
                 ) -> Iterator[tuple[list[str], tuple[int, list[ScoredPair]]]]:
    """One-to-one: score *all* selected keys, match once, then hand out the pending batches.

    On a resume the sources written before (``keys`` not in ``todo``) and the targets their
    model edges hold (``pinned``) stay out of the matching: what is written stands, and an
    uninterrupted run's matching less those pairs is the same matching of the rest (greedy
    and optimal alike), while a matching made again after a review or a change in between
    could give a pending source a target a written one holds (a code review: two model
    edges onto one target under one-to-one)."""
    pending = set(todo)
    resumed = len(pending) < len(keys)
    everything: list[ScoredPair] = []
    per_source_scored: dict[str, int] = {}  # every pair scored, as the streaming policies count
    for batch in batches_of(keys, options.batch_size):
        for p in _score(scorer, batch):
            per_source_scored[p.source] = per_source_scored.get(p.source, 0) + 1
            if p.score >= options.threshold and (not resumed or (p.source in pending and p.target not in pinned)):
                everything.append(p)
    matched = select(everything, options.policy, options.threshold, one_to_one=options.one_to_one)
    by_source: dict[str, list[ScoredPair]] = {}
    for p in matched:
        by_source.setdefault(p.source, []).append(p)
    for batch in batches_of(todo, options.batch_size):
        pairs = [p for k in batch for p in by_source.get(k, [])]
        yield batch, (sum(per_source_scored.get(k, 0) for k in batch), pairs)


def _write_batch(graph: Graph, config: AlignConfig, stamp: ModelStamp, state: _RunState,
                 batch: list[str], pairs: list[ScoredPair], n_scored: int) -> WriteReport:
    rows = rows_of(pairs)
    # distinct keys past the last cursor (a key the graph holds twice may span two batches)
    digest = keys_digest({k for k in batch if state.cursor is None or k > state.cursor}, state.digest)
    checkpoint = ("backfill_run_checkpoint", {
        "run_id": state.run_id, "owner": state.owner, "batches": state.batches,
        "cursor": batch[-1], "entities": len(batch), "pairs": len(rows), "now": epoch_ms(),
        "keys_digest": digest}, None)
    try:
        results = graph.write_many([checkpoint, retract_step(config, batch, pairs),
                                    merge_step(config, rows, stamp)])
    except QueryError as exc:
        conflict = _lost_run(graph, state)
        if conflict is not None:
            raise conflict from exc
        raise
    state.batches += 1
    state.digest, state.cursor = digest, batch[-1]
    retracted = int(results[1][0]["retracted"]) if results[1] else 0
    return report_from(results[2], len(rows)).model_copy(update={"retracted": retracted})


def _lost_run(graph: Graph, state: _RunState) -> RunConflict | None:
    """Why a batch's transaction failed when the run is no longer this process's (the
    checkpoint's guard divides by zero then), or None for any other error. Told by the run's
    node, not by the message: ArcadeDB's quotes the whole query, comments too."""
    try:
        now = run_state(graph, state.run_id)
    except GraphError:  # the server is gone too: the batch's error stands as it is
        return None
    if now is None:
        return RunConflict(f"run {state.run_id!r}: its progress was deleted while it ran "
                           "(kgn-align clean --bookkeeping?); this one stops, the batches it "
                           "wrote stay: run the backfill again to finish")
    if now["owner"] != state.owner or now["batches"] != state.batches:
        return RunConflict(f"run {state.run_id!r} was taken over by another process "
                           "(started again with the same run id); this one stops")
    return None


#: the dry run's CSV columns; ``change`` is one of :data:`~kgn_align.writeback.PREVIEW_CHANGES`
DRY_RUN_COLUMNS = ("source", "target", "score", "model", "method", "change")


def _dry_run(graph: Graph, config: AlignConfig, scorer: Scorer, stamp: ModelStamp,
             options: BackfillOptions, keys: list[str], start: float,
             progress: Callable[[Progress], None] | None) -> BackfillSummary:
    """The run without writing: its would-be edges, and what each batch would change
    (created, updated, unchanged, reviewed, retracted: :func:`~kgn_align.writeback.preview_batch`
    against the batch's edges now in the graph), go to the CSV file and the summary's
    ``writes``. A retracted edge is a row with the score it has now."""
    assert options.dry_run is not None
    path = options.dry_run
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    scored = done = 0
    total = WriteReport()
    would_be: list[ScoredPair] = []
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(DRY_RUN_COLUMNS)
        for batch, (n_scored, pairs) in _plan(scorer, keys, keys, options):
            report, changes = preview_batch(read_edges_of(graph, config, batch), batch, pairs, stamp)
            for source, target, score, model, method, change in changes:
                writer.writerow([source, target, "" if score is None else repr(score),
                                 model or "", method or "", change])
            total = total + report
            would_be += pairs
            scored += n_scored
            done += len(batch)
            if progress is not None:
                progress(_progress(start, done, len(keys), total.batches, done))
    os.replace(tmp, path)  # a killed dry run leaves no half-written file under the name
    log.info("dry run: %d would-be edges written to %s", len(would_be), path)
    return BackfillSummary(run_id=options.run_id, status="dry-run", resumed=False,
                           entities=len(keys), entities_before=0, entities_now=done,
                           batches_now=total.batches, pairs_scored=scored,
                           pairs_selected=len(would_be), shared_targets=shared_targets(would_be), writes=total,
                           seconds=round(time.perf_counter() - start, 3), csv=str(path))


def run_state(graph: Graph, run_id: str) -> dict[str, Any] | None:
    """A run's progress as stored in the graph (status, cursor, batches, ...), or None."""
    rows = graph.read("backfill_run_get", {"run_id": run_id})
    return rows[0] if rows else None


def forget_run(graph: Graph, run_id: str) -> bool:
    """Delete a run's progress node (its edges stay); True if there was one."""
    return bool(graph.write("backfill_run_delete", {"run_id": run_id})[0]["deleted"])
