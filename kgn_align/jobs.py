"""The alignment jobs the worker runs, and the parameters each kind takes.

A job is an ``(:AlignmentJob {kind, params})`` node; ``params`` is a JSON object. Each kind
has a typed parameter model: unknown keys are refused, ranges are checked and a JSON
boolean is never a number. The Neo4j plugin's ``kgn.requestAlignment`` applies the same
rules in the caller's transaction (``plugin/src/main/java/io/kgnalign/neo4j/JobParams.java``);
both run the shared cases in ``plugin/src/test/resources/job_params_cases.json``. A job
queued by plain Cypher with bad parameters is refused here, by the worker, and marked
failed with the reason: it is never retried and never stalls the queue.

Jobs name no pair of graphs: change capture cannot tell which configuration a changed node
matters to. Each worker has a :class:`Scope`, its configuration's sides; a job queued
without one is adopted by the first worker to look and copied to every other scope whose
workers ran in the last :data:`~kgn_align.worker.SCOPE_KEPT_DAYS` days (``cypher/worker_adopt.cypher``), so
workers of several configurations share one database, each re-aligning its own graphs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kgn_align.config import CANDIDATES_PER_SOURCE, AlignConfig
from kgn_align.errors import KgnAlignError, clipped, did_you_mean
from kgn_align.graph import Graph
from kgn_align.worker import Scope
from kgn_align.writeback import Policy

#: At most this many element ids travel in one ``changed`` job (the rest are counted in ``total``).
MAX_NODE_IDS = 10_000
MAX_K = 1000
RunId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def scope_of(config: AlignConfig) -> Scope:
    """The :class:`Scope` of workers of ``config``: two configurations with the same sides
    share one (their workers share its jobs)."""
    sides = [[side.label, side.property, side.value] for side in (config.source, config.target)]
    text = json.dumps([sides, config.key_property, config.same_as_type], default=str)
    return Scope(key=hashlib.sha256(text.encode()).hexdigest()[:12],
                 name=" -> ".join(side.name if side.value is None else f"{side.name} ({side.value})"
                                  for side in (config.source, config.target)),
                 graphs=tuple(str(side.value) for side in (config.source, config.target)
                              if side.value is not None))


class InvalidJobParams(KgnAlignError, ValueError):
    """A job's kind or parameters can never run: the message names the kind or key."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    threshold: float = Field(0.5, ge=0.0, le=1.0)  #: write pairs scoring at least this
    policy: Policy = Policy.BEST  #: which scored pairs become edges
    run_id: RunId | None = None  #: resumable run to write under (default: job-<id>; a 'changed' job's: job-<id>-<digest of the sources it re-aligns>)


class BackfillParams(_Params):
    """``backfill``: re-align the whole source side."""

    k: int = Field(CANDIDATES_PER_SOURCE, ge=1, le=MAX_K)  #: candidates per source entity


class ChangedParams(_Params):
    """``changed``: re-align what the listed nodes' change can move (queued by change
    capture: the plugin's listener or the APOC trigger)."""

    nodeIds: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, max_length=MAX_NODE_IDS)
    total: int | None = Field(None, ge=1)  #: nodes changed in all, when more than listed

    @model_validator(mode="after")
    def _total_covers_the_list(self) -> ChangedParams:
        if self.total is not None and self.total < len(self.nodeIds):
            raise ValueError(f"total must be an integer >= the number of nodeIds "
                             f"({len(self.nodeIds)}), got {self.total}")
        return self

    @property
    def complete(self) -> bool:
        """False when more nodes changed than the job lists (then re-align everything)."""
        return self.total is None or self.total <= len(self.nodeIds)


KINDS: dict[str, type[_Params]] = {"backfill": BackfillParams, "changed": ChangedParams}


def merge_changed(params: dict[str, Any], other: dict[str, Any]) -> dict[str, Any] | None:
    """The params of one ``changed`` job that does the work of both: their nodes together
    (each once, in order), or None when they ask for other settings (threshold, policy,
    run id) or list more than :data:`MAX_NODE_IDS` nodes together. Either one incomplete
    (more changed than listed): incomplete, so the whole side is aligned again. Raises
    :class:`InvalidJobParams` for params that can never run."""
    a, b = parse("changed", params), parse("changed", other)
    if a.model_dump(exclude={"nodeIds", "total"}) != b.model_dump(exclude={"nodeIds", "total"}):
        return None
    ids = list(dict.fromkeys([*a.nodeIds, *b.nodeIds]))
    merged = {k: v for k, v in params.items() if k not in ("nodeIds", "total")}
    if a.complete and b.complete:
        return {**merged, "nodeIds": ids} if len(ids) <= MAX_NODE_IDS else None
    total = (a.total or len(a.nodeIds)) + (b.total or len(b.nodeIds))
    return {**merged, "nodeIds": ids[:MAX_NODE_IDS], "total": total}


def parse(kind: str, params: str | dict[str, Any] | None) -> BackfillParams | ChangedParams:
    """The typed parameters of a job of ``kind``.

    Raises :class:`InvalidJobParams` with one line naming the kind or the offending key.
    """
    model = KINDS.get(kind)
    if model is None:
        raise InvalidJobParams(f"unknown job kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    if params is None or params == "":
        params = "{}"
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError as exc:
            raise InvalidJobParams(f"params is not a JSON object: got {clipped(params, 60)!r} ({exc}); "
                                   f"write it as JSON, e.g. '{{\"threshold\": 0.8}}'") from None
    if not isinstance(params, dict):
        raise InvalidJobParams(f"params is not a JSON object: got {type(params).__name__}")
    try:
        # JSON mode: strings name enum members, and strict mode still refuses true for 1
        return model.model_validate_json(json.dumps(params))  # type: ignore[return-value]
    except ValidationError as exc:
        keys = sorted(f.alias or name for name, f in model.model_fields.items())
        problems = "; ".join(_describe(e, keys) for e in exc.errors())
        raise InvalidJobParams(f"bad params for a {kind!r} job: {problems}") from None


#: finished bookkeeping, by label: the statuses after which a node is history
FINISHED = {"AlignmentJob": ["done", "failed"], "KgnBackfillRun": ["done"]}


def prune_finished(graph: Graph, older_than: timedelta, *, batch: int = 10_000) -> int:
    """Delete the alignment jobs and backfill runs that finished more than ``older_than``
    ago (queued and running jobs, and runs not done, which may be resumed, stay), as rq
    expires finished jobs after their ``result_ttl``. Batched, each batch its own
    transaction; returns how many nodes were deleted."""
    before = datetime.now(timezone.utc) - older_than
    return sum(graph.drain("bookkeeping_prune", {"statuses": statuses, "before": before},
                           {"label": label}, limit=batch)
               for label, statuses in FINISHED.items())


def _describe(error: Any, keys: list[str]) -> str:
    """One pydantic error of a job's params in a few words; an unknown top-level key with
    its near miss among ``keys`` (the kind's parameters), else the list of them."""
    where = ".".join(str(p) for p in error["loc"]) or "params"
    if error["type"] == "extra_forbidden":
        if len(error["loc"]) != 1:
            return f"unknown key {where!r}"
        return f"unknown key {where!r}" + (did_you_mean(where, keys) or f" (known: {', '.join(keys)})")
    message = _plainly(error) or error["msg"].removeprefix("Value error, ")
    return f"{where}: {message} (got {clipped(json.dumps(error.get('input'), default=str), 60)})"


#: pydantic's bound checks, in the words the plugin's own checks use
_BOUNDS = {"less_than_equal": ("at most", "le"), "less_than": ("under", "lt"),
           "greater_than_equal": ("at least", "ge"), "greater_than": ("over", "gt")}


def _plainly(error: Any) -> str | None:
    """A pydantic error of a job's params in plain words (``must be at most 1``, ``must list
    at least 1 node id``), or None to keep pydantic's own message."""
    ctx = error.get("ctx") or {}
    if error["type"] in _BOUNDS and _BOUNDS[error["type"]][1] in ctx:
        words, key = _BOUNDS[error["type"]]
        return f"must be {words} {ctx[key]}"
    if error["type"] == "too_short" and "min_length" in ctx:
        return f"must list at least {ctx['min_length']} item(s)"
    if error["type"] == "too_long" and "max_length" in ctx:
        return f"must list at most {ctx['max_length']} item(s)"
    return None
