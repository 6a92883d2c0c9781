"""The long-running worker: claims alignment jobs from the graph and runs them.

Jobs are ``(:AlignmentJob)`` nodes created by plain Cypher (``plugin/request_job.cypher``),
by the APOC trigger in ``plugin/``, or by kgn-align itself. The graph is the queue, so
nothing is lost when a worker or the server dies: a claimed job carries a lease that the
worker renews while it runs; a job whose lease expired is claimed again by any worker.

Loop (after rq): install signal handlers, then check-stop / claim / execute / heartbeat.
First SIGTERM, SIGHUP or Ctrl-C: finish the current job, then stop. Second: stop now (the job's
lease expires and another worker takes it over).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from kgn_align.errors import CredentialsRefused, GraphError, KgnAlignError, ServerUnavailable, clipped
from kgn_align.graph import Graph
from kgn_align.interrupts import handle_stop_signals, record
from kgn_align.timing import epoch_ms

log = logging.getLogger(__name__)

#: A configuration whose workers have not run for this long gets no more copies of new jobs
#: (those queued for it stay until one runs, or its graphs are deleted).
SCOPE_KEPT_DAYS = 7.0
#: a running worker renews its configuration's registration this often (seconds)
SCOPE_RENEW_SECONDS = 3600.0
#: a worker configuration seen this recently may still have a worker running (two renewals)
SEEN_LATELY_SECONDS = 2 * SCOPE_RENEW_SECONDS
#: :data:`SEEN_LATELY_SECONDS` as messages say it
SEEN_LATELY_TEXT = f"in the last {SEEN_LATELY_SECONDS / 3600:g} hours"
#: seconds the driver retries a claim, an outcome's record or the start's reads while the
#: server is away, before the worker's own loop (backoff, reconnect, stop requests) takes
#: over: the driver's default 30 s held a stop request for as long
WAITING_RETRY_SECONDS = 3.0


def seen_lately(seen_ms: int | None) -> bool:
    """Whether a worker configuration last registered or renewed at ``seen_ms`` (epoch
    milliseconds) may still have a worker running: seen within :data:`SEEN_LATELY_SECONDS`."""
    return seen_ms is not None and epoch_ms() - int(seen_ms) < 1000 * SEEN_LATELY_SECONDS


def running_lately(scopes: list[dict[str, Any]]) -> list[str]:
    """The names of the worker configurations (``cypher/graph_worker_scopes`` rows) whose
    worker may still run: seen lately (:func:`seen_lately`), and not stopped cleanly since
    (``stopped`` at or after ``seen``; a trial's stopped worker was still said to wait)."""
    return [r["name"] for r in scopes
            if seen_lately(r["seen"]) and not (r.get("stopped") is not None and r["stopped"] >= r["seen"])]


class Scope(NamedTuple):
    """A worker's configuration as the job queue knows it."""

    #: 12 hex digits of a hash of both sides (label, filter), the key and SAME_AS type
    key: str
    #: the sides' names and graphs, for people: ``imdb (movies/imdb) -> freebase (movies/freebase)``
    name: str
    #: the sides' graph names (their filter values), by which deleting graphs forgets it
    graphs: tuple[str, ...]


class PermanentJobError(KgnAlignError):
    """The job can never succeed as asked (bad parameters, unknown kind): not retried."""


class LeaseLost(KgnAlignError):
    """Another worker owns the job now (our lease expired): stop before writing anything."""


class Job(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    kind: str
    params: dict[str, Any] = {}
    attempts: int = 1
    #: Set by the heartbeat when the lease is lost; handlers call :meth:`check_lease`
    #: before each write.
    lease_lost: threading.Event = Field(default_factory=threading.Event, exclude=True)
    #: queued jobs of the same kind claimed with this one and run as one with it (their
    #: work is in ``params``): they end as it ends (``Worker(together=...)``)
    companions: list[Job] = []

    def check_lease(self) -> None:
        """Raise :class:`LeaseLost` once this worker no longer owns the job."""
        if self.lease_lost.is_set():
            raise LeaseLost(f"job {self.id}: the lease was lost to another worker; "
                            "stopping before the next write")


class RetryPolicy(BaseModel):
    """Transient failures are retried after these delays (seconds), then recorded as failed."""

    intervals: tuple[float, ...] = Field((5.0, 30.0, 120.0), min_length=0)

    @property
    def max_attempts(self) -> int:
        return len(self.intervals) + 1

    def delay(self, attempt: int) -> float | None:
        """Seconds before the next try after ``attempt`` failed, or None for no more tries."""
        if attempt >= self.max_attempts:
            return None
        return self.intervals[attempt - 1]


class JobOutcome(BaseModel):
    """How one job ended in this worker (``kgn-align worker`` prints a line per outcome)."""

    id: str
    kind: str
    #: done | failed | queued (failed, to be tried again) | lost (another worker owns it)
    status: str
    seconds: float
    result: dict[str, Any] = {}
    error: str | None = None


Handler = Callable[[Job], Mapping[str, Any] | None]
#: ``merge(params, other)``: the params of one job doing the work of both, or None when
#: ``other`` cannot run with it; raises (InvalidJobParams) for params that can never run
Merge = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None]


def _kind(row: Mapping[str, Any]) -> str:
    """A job row's kind as the log names it: quoted, or ``(none)``."""
    return "(none)" if row["kind"] is None else repr(row["kind"])


def _say_failed(rows: list[dict], why: Callable[[dict], str], many: str, shown: int = 5) -> int:
    """Log the first ``shown`` jobs a query just marked failed (``why(row)`` follows the job's
    id), then how many more; returns how many."""
    for row in rows[:shown]:
        log.warning("job %s%s", row["id"] or "(no id)", why(row))
    if len(rows) > shown:
        log.warning("%d more %s marked failed", len(rows) - shown, many)
    return len(rows)


def together_result(job: Job, result: Mapping[str, Any]) -> dict[str, Any]:
    """What a companion of ``job`` records as its result: the job its work ran in, and that
    run's id (the counts are the job's, for all of them)."""
    return {"run_with": job.id, **({"run_id": result["run_id"]} if "run_id" in result else {})}


#: the statuses a job goes through (as the plugin's kgn.jobs knows them): queued -> running ->
#: done | failed, or back to queued for another try
STATUSES = ("queued", "running", "done", "failed")
#: why a job without a status failed, on the job node and in the log
STATUSLESS = ("no status: request jobs with CALL kgn.requestAlignment(kind, params), or create "
              "them with status 'queued'")
#: why a waiting job without a string id (a node made by hand) failed
NO_ID = ("no id: a job's id is a unique string; request jobs with CALL kgn.requestAlignment(kind, "
         "params), or give j.id one")
#: why a job with a status no worker knows failed ('QUEUED': statuses are lower case)
BAD_STATUS = ("unknown status (a job's status is one of " + ", ".join(repr(s) for s in STATUSES)
              + "): request jobs with CALL kgn.requestAlignment(kind, params), or create them "
              "with status 'queued'")


class Worker:
    """Runs jobs from the graph with ``handlers[job.kind]``."""

    def __init__(self, graph: Graph, handlers: Mapping[str, Handler], *,
                 lease_seconds: float = 60.0, poll_seconds: float = 2.0,
                 retry: RetryPolicy | None = None, name: str | None = None,
                 known_kinds: frozenset[str] | None = None,
                 connect: Callable[[], Graph] | None = None,
                 on_outcome: Callable[[JobOutcome], None] | None = None,
                 housekeeping: Callable[[Graph], None] | None = None,
                 housekeeping_seconds: float = 3600.0,
                 together: Mapping[str, Merge] | None = None, together_limit: int = 100,
                 scope: Scope | None = None) -> None:
        """``known_kinds``: every kind any worker of this deployment runs; queued jobs of
        another kind are marked failed instead of waiting forever (None: leave them).
        ``connect``: makes a new :class:`Graph` after the server went away (it may come
        back elsewhere: a restarted local server re-reads its address); without it the
        worker keeps retrying the same driver. The worker never closes a graph it was
        given: whoever made the old one closes it (``App.reconnect`` does, in ``connect``).
        ``on_outcome``: called once per job this worker ends (run, failed, re-queued, lost).
        ``housekeeping``: called with the graph when the queue is idle, at most once every
        ``housekeeping_seconds`` (the first time at the first idle moment): pruning finished
        jobs (:func:`kgn_align.jobs.prune_finished`); a failure there is logged, never fatal.
        With ``known_kinds`` idle moments also fail jobs created without a ``status``, or with
        one no worker knows (``'QUEUED'``), at most once a minute: no worker claims them; saying why.
        ``together``: kinds whose queued, due jobs run as one with the job just claimed (up
        to ``together_limit`` more), their params merged by ``merge``: captured changes
        queue a job per transaction, and a run of small writes would otherwise be
        re-aligned one job after another. A job whose params cannot merge is left queued.
        ``scope``: the worker's configuration. It takes the jobs of its scope only, after
        adopting the queued jobs of its kinds that have none, each copied for every other
        scope whose workers ran in the last :data:`SCOPE_KEPT_DAYS` days; the scope is
        registered when the worker starts and again every hour while it runs. Without one, the
        worker takes the jobs no scope adopted (workers of one configuration per database)."""
        if lease_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("lease_seconds and poll_seconds must be positive")
        self.graph = graph
        self.handlers = dict(handlers)
        self.lease_ms = int(lease_seconds * 1000)
        self.poll_seconds = poll_seconds
        self.retry = retry or RetryPolicy()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.known_kinds = known_kinds
        self.connect = connect
        self.on_outcome = on_outcome
        self.housekeeping = housekeeping
        self.housekeeping_seconds = housekeeping_seconds
        self.together = dict(together or {})
        self.together_limit = together_limit
        self.scope = scope
        #: when the scope was last registered (time.monotonic), None: not yet
        self._scope_seen: float | None = None
        #: the scope's registration is renewed this often
        self.scope_seconds = SCOPE_RENEW_SECONDS
        self._scope_forgotten = False
        #: how many more jobs this run may take (``run(max_jobs=...)``), None: no limit
        self._room: int | None = None
        self._housekept: float | None = None
        #: jobs without a known status are looked for this often (a scan of the job nodes)
        self.status_check_seconds = 60.0
        self._status_checked: float | None = None
        #: jobs this worker marked failed in bulk, without claiming them: of a kind no worker
        #: runs, or without a status (or with one no worker knows); each claimed job that
        #: fails, run or not, has an outcome (``on_outcome``) instead
        self.failed_unrun = 0
        self._running: Job | None = None
        self._stop = threading.Event()
        self._signals = 0

    # -- signals ---------------------------------------------------------------------
    def request_stop(self, signum: int | None = None, _frame: object = None) -> None:
        """A stop request (a signal handler; ``signum`` None: asked in code). The first
        finishes the current job; a second raises KeyboardInterrupt at once, which the CLI
        reports as the signal it was: ``Terminated.`` (143) for SIGTERM, ``Hung up.`` (129)
        for SIGHUP, else ``Interrupted.``."""
        self._signals += 1
        if self._signals >= 2:
            log.warning("second stop request: stopping now")
            record(signum)
            raise KeyboardInterrupt
        running = self._running
        if running is not None:
            log.info("stop requested: finishing the current job first (job %s)", running.id)
        else:
            log.info("stop requested: no job running, stopping")
        self._stop.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():
            handle_stop_signals(self.request_stop)

    # -- queue -----------------------------------------------------------------------
    def claim(self) -> Job | None:
        """The next due job, claimed under a lease; None when there is none. A job whose
        params are not a JSON object is marked failed on the spot and the next one taken:
        a poison job never stops or stalls the worker."""
        if self.known_kinds is not None:
            known = ", ".join(sorted(self.known_kinds))
            self.failed_unrun += _say_failed(
                self.graph.write("worker_fail_unknown", {"kinds": sorted(self.known_kinds)}),
                lambda row: (f": unknown kind {_kind(row)}" if row["kind"] is not None else ": no kind given")
                + f" (known: {known}): failed", "queued jobs of unknown kinds")
        if self.scope is not None:
            self._adopt()
        while True:
            rows = self.graph.write("worker_claim", {"now": epoch_ms(), "lease_ms": self.lease_ms,
                                                     "kinds": sorted(self.handlers),
                                                     "scope": self.scope_key,
                                                     "worker": self.name, "token": uuid.uuid4().hex})
            if not rows:
                return None
            row = rows[0]
            if row["was"] == "running" and row["attempts"] > self.retry.max_attempts:
                # each attempt ended with its worker (killed, out of memory): a job that
                # takes its worker down is not run again and again
                self._fail_claimed(row, f"abandoned: the worker running it stopped during each of its "
                                        f"{row['attempts'] - 1} attempts (killed, or out of memory?): "
                                        "not tried again; request it again to retry")
                continue
            try:
                params = json.loads(row["params"]) if row["params"] else {}
                if not isinstance(params, dict):
                    raise ValueError(f"got {type(params).__name__}")
            except RecursionError:  # JSON nested thousands deep: no params a job takes
                self._fail_claimed(row, "params are not a JSON object a job takes: nested too deeply; set "
                                        "j.params to JSON text, e.g. '{\"threshold\": 0.8}'")
                continue
            except ValueError as exc:
                got = f"got {clipped(row['params'], 60)!r} ({exc})" if isinstance(exc, json.JSONDecodeError) else exc
                self._fail_claimed(row, f"params are not a JSON object: {got}; set j.params to JSON text, "
                                        f"e.g. '{{\"threshold\": 0.8}}'")
                continue
            except TypeError:  # params stored as a number, a list: not JSON text at all
                got = clipped(json.dumps(row["params"], default=str), 40)
                self._fail_claimed(row, f"params are not a JSON object: got {type(row['params']).__name__} "
                                        f"{got} (set j.params to JSON text, e.g. '{{\"threshold\": 0.8}}')")
                continue
            job = Job(id=row["id"], kind=row["kind"] or "", params=params, attempts=row["attempts"])
            limit = self.together_limit if self._room is None else min(self.together_limit, self._room)
            if job.kind in self.together and limit > 0:
                try:
                    self._claim_companions(job, self.together[job.kind], limit)
                except GraphError as exc:  # the job is claimed: it runs (alone), not left behind
                    log.warning("job %s: could not look for jobs to run with it (%s): it runs alone", job.id, exc)
            return job

    @property
    def scope_key(self) -> str | None:
        """The scope's key as the queue's queries take it (None: no scope)."""
        return None if self.scope is None else self.scope.key

    def register_scope(self) -> None:
        """Record this worker's scope as running now (``cypher/worker_scope_register``) when
        it starts; later calls renew it, unless it was forgotten meanwhile (its graphs
        deleted): then they say so, once, and leave it forgotten."""
        if self.scope is None:
            return
        if self._scope_seen is not None:
            renewed = self.graph.write("worker_scope_renew", {"key": self.scope.key, "now": epoch_ms()})
            if not renewed:
                self._say_forgotten()
            self._scope_seen = time.monotonic()
            return
        rows = self.graph.write("worker_scope_register", {"key": self.scope.key, "name": self.scope.name,
                                                          "graphs": list(self.scope.graphs), "now": epoch_ms()})
        if rows and rows[0]["first"] and rows[0]["others"]:
            # workers of other configurations adopted the jobs queued before now: none is its
            log.warning("the first worker of configuration %s (scope %s) in this database: changes "
                        "that workers of the %d other configuration(s) took before now were not "
                        "queued for it; a backfill (kgn-align backfill, or CALL "
                        "kgn.requestAlignment('backfill')) brings its edges up to date",
                        self.scope.name, self.scope.key, rows[0]["others"])
        self._scope_seen = time.monotonic()

    def _say_forgotten(self) -> None:
        """Warn, once, that this worker's configuration was forgotten (its graphs deleted)."""
        if not self._scope_forgotten:
            self._scope_forgotten = True
            assert self.scope is not None  # only a worker with a scope registers one
            log.warning("configuration %s (scope %s) is no longer registered (its graphs were deleted?): "
                        "this worker gets no more jobs; stop it, or restart it to register it again",
                        self.scope.name, self.scope.key)

    def _adopt(self, limit: int = 1000) -> None:
        """Adopt the queued jobs of this worker's kinds that have no scope, copying each for
        every other scope seen in the last :data:`SCOPE_KEPT_DAYS` days (one transaction).
        A worker whose configuration was forgotten (its graphs deleted) adopts none: it said
        it gets no more (a new user's trial: it took a job meant for every configuration
        and failed it on its deleted graphs, under the id the request returned)."""
        assert self.scope is not None
        if self._scope_forgotten or not self.graph.read("worker_scope_seen", {"key": self.scope.key}):
            self._say_forgotten()
            return
        since = epoch_ms() - int(SCOPE_KEPT_DAYS * 86_400_000)
        rows = self.graph.write("worker_adopt", {"scope": self.scope.key, "kinds": sorted(self.handlers),
                                                 "since": since, "limit": limit, "now": epoch_ms(),
                                                 "token": uuid.uuid4().hex})
        copies = int(rows[0]["copies"]) if rows else 0
        if copies:
            log.info("queued %d cop%s of jobs that named no configuration, for the other worker "
                     "configurations of this database", copies, "y" if copies == 1 else "ies")

    def _claim_companions(self, job: Job, merge: Merge, limit: int) -> None:
        """Claim up to ``limit`` queued, due jobs of ``job``'s kind whose params ``merge``
        into its own, oldest first, as ``job.companions``; ``job.params`` then does the work
        of all. Jobs that do not merge (or that another worker claims first) stay where they
        are: the next claim takes them, and a job whose params can never run is failed then."""
        try:
            merge(job.params, job.params)
        except Exception:  # noqa: BLE001 - its own params are bad: the handler says how, alone
            return
        rows = self.graph.read("worker_companions", {"kind": job.kind, "now": epoch_ms(), "limit": limit,
                                                     "scope": self.scope_key})
        params, taken = job.params, []
        for row in rows:
            try:
                other = json.loads(row["params"]) if row["params"] else {}
                merged = merge(params, other) if isinstance(other, dict) else None
            except Exception:  # noqa: BLE001 - failed with its reason when claimed alone
                merged = None
            if merged is not None:
                params = merged
                taken.append((row["id"], other))
        if not taken:
            return
        claimed = {r["id"]: r["attempts"] for r in self.graph.write("worker_claim_ids", {
            "ids": [i for i, _ in taken], "now": epoch_ms(), "lease_ms": self.lease_ms,
            "worker": self.name, "token": uuid.uuid4().hex})}
        if len(claimed) < len(taken):  # another worker took some: merge what this one holds
            params = job.params
            for i, other in taken:
                if i in claimed:
                    params = merge(params, other) or params
        job.params = params
        job.companions = [Job(id=i, kind=job.kind, params=other, attempts=claimed[i])
                          for i, other in taken if i in claimed]
        if job.companions:
            log.info("job %s runs together with %d queued %r job(s): %s", job.id, len(job.companions),
                     job.kind, ", ".join(c.id for c in job.companions[:5])
                     + (f" and {len(job.companions) - 5} more" if len(job.companions) > 5 else ""))

    def _fail_claimed(self, row: Mapping[str, Any], error: str) -> None:
        """Mark a job just claimed failed without running it (abandoned, bad params), saying
        why in the log, on the job node and in its outcome (``kgn-align worker``'s job line)."""
        job = Job(id=row["id"], kind=row["kind"] or "", attempts=row["attempts"])
        log.warning("job %s: %s", job.id, error)
        self._finish(job, "failed", error=error)
        self._report(job, "failed", 0.0, error=error)

    def _finish(self, job: Job, status: str, *, result: Mapping[str, Any] | None = None,
                error: str | None = None, not_before: int | None = None, once: bool = False,
                handed_back: bool = False, quiet: bool = False) -> bool:
        """Record the outcome, retrying while the server is away (never lose it; ``once``:
        one try, its failure raised). If the lease expired meanwhile, another worker owns the
        job and this records nothing, says so (unless ``quiet``), and returns False (as when
        stopped while the server is away). ``handed_back``: queued again because this worker
        was stopped, not because the job failed: the try is not counted among its attempts."""
        params = {"id": job.id, "worker": self.name, "status": status,
                  "result": json.dumps(dict(result)) if result is not None else None,
                  "error": error, "not_before": not_before, "handed_back": handed_back}
        if once:
            rows = self.graph.write("worker_finish", params)
        else:
            rows = self._while_server_away(lambda: self.graph.write("worker_finish", params),
                                           f"recording job {job.id}'s outcome "
                                           f"({'queued again, to be retried' if status == 'queued' else status})",
                                           stopped=f"job {job.id} was not recorded as {status}; its lease "
                                                   "will expire and another worker will take it")
            if rows is None:  # stopped while the server was away: said
                return False
        if not rows and not quiet:
            log.warning("job %s ended (%s) but is no longer this worker's (its lease ran out and another "
                        "worker took it, or the job node was changed or deleted): this outcome was not "
                        "recorded", job.id, status)
        return bool(rows)

    def _while_server_away(self, call: Callable[[], Any], what: str, *,
                           stopped: str | None = None) -> Any:
        """``call()``, retried with backoff (and a new connection) while the server is away;
        gives up only when a stop is requested, logging ``stopped`` then, and returns None.
        ``what`` names the call in the log ("claiming a job")."""
        backoff = self.poll_seconds
        away = False
        while True:
            try:
                with self.graph.retrying_for(WAITING_RETRY_SECONDS):  # this loop retries: stay responsive
                    done = call()
            except ServerUnavailable as exc:  # transient (graph.py decides); others propagate
                away = True
                log.warning("%s failed: the graph server is away (%s: %s); retrying in %.0f s", what,
                            type(exc).__name__, exc, backoff)
            else:
                if away:
                    log.info("the graph server answers again: %s went through, the worker goes on", what)
                return done
            if self._stop.wait(backoff):  # set by a stop request only
                if stopped:
                    log.warning("stop requested while the server is away: %s", stopped)
                return None
            backoff = min(backoff * 2, 30.0)
            self.reconnect()

    def reconnect(self) -> None:
        """Replace the graph connection with a new one from ``connect`` (if given); closing
        the old one is ``connect``'s business (it made it), so it is closed once."""
        if self.connect is None:
            return
        try:
            self.graph = self.connect()
        except KgnAlignError as exc:
            log.warning("reconnecting failed: %s", exc)

    def _heartbeat(self, job: Job, done: threading.Event) -> None:
        ids = [job.id, *(c.id for c in job.companions)]
        while not done.wait(self.lease_ms / 3000):
            try:
                held = self.graph.write("worker_heartbeat", {"ids": ids, "worker": self.name,
                                                             "now": epoch_ms(), "lease_ms": self.lease_ms})
                if len(held) < len(ids):
                    log.warning("job %s: lease lost; the job stops before its next write", job.id)
                    job.lease_lost.set()
                    return
                if self.scope is not None and self._scope_seen is not None \
                        and time.monotonic() - self._scope_seen >= self.scope_seconds:
                    # a worker busy for hours still runs: 'clean' warns of it, other
                    # configurations' workers still copy jobs for it (renewed only when idle,
                    # a long backfill let it lapse; a code review)
                    self.register_scope()
            except GraphError as exc:
                log.warning("job %s: heartbeat failed (%s)", job.id, exc)

    def execute(self, job: Job) -> str:
        """Run one claimed job (with its companions), record its outcome and report it;
        returns the final status."""
        start = time.perf_counter()
        self._running = job
        try:
            statuses, result, error = self._run_handler(job)
        finally:
            self._running = None
        seconds = time.perf_counter() - start
        self._report(job, statuses[job.id], seconds, result, error)
        for companion in job.companions:  # each its own status: after a passing failure one
            # may be queued again while another's tries are spent
            self._report(companion, statuses[companion.id], seconds,
                         None if result is None else together_result(job, result), error)
        return statuses[job.id]

    def _finish_all(self, job: Job, status: str, *, result: Mapping[str, Any] | None = None,
                    error: str | None = None, once: bool = False, handed_back: bool = False,
                    quiet: bool = False) -> dict[str, bool]:
        """:meth:`_finish` for ``job`` and its companions alike (their result names the job
        they ran with); whether each one's was recorded, by id."""
        recorded = {}
        for one in (job, *job.companions):
            kept = None if result is None else (result if one is job else together_result(job, result))
            recorded[one.id] = self._finish(one, status, result=kept, error=error, once=once,
                                            handed_back=handed_back, quiet=quiet)
        return recorded

    def _retry_all(self, job: Job, error: str) -> dict[str, str]:
        """After a passing failure: ``job`` and each companion queued again after its own next
        delay, or failed when its tries are spent; returns each one's status by id."""
        statuses = {}
        for one in (job, *job.companions):
            delay = self.retry.delay(one.attempts)
            if delay is None:
                self._finish(one, "failed", error=error)
            else:
                self._finish(one, "queued", error=error, not_before=epoch_ms() + int(delay * 1000))
            statuses[one.id] = "failed" if delay is None else "queued"
        return statuses

    def _report(self, job: Job, status: str, seconds: float,
                result: Mapping[str, Any] | None = None, error: str | None = None) -> None:
        if self.on_outcome is not None:
            self.on_outcome(JobOutcome(id=job.id, kind=job.kind, status=status, seconds=seconds,
                                       result=dict(result or {}), error=error))

    def _run_handler(self, job: Job) -> tuple[dict[str, str], Mapping[str, Any] | None, str | None]:
        """(status of the job and of each companion, by id; result; error) of one job, its
        outcome recorded in the graph."""
        def every(status: str) -> dict[str, str]:
            return {one.id: status for one in (job, *job.companions)}

        handler = self.handlers.get(job.kind)
        if handler is None:
            error = f"unknown job kind {job.kind!r}; known: {', '.join(sorted(self.handlers))}"
            self._finish_all(job, "failed", error=error)
            return every("failed"), None, error
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, done), daemon=True)
        beat.start()
        try:
            log.info("job %s (%s), attempt %d", job.id, job.kind, job.attempts)
            result = handler(job)
        except PermanentJobError as exc:
            self._finish_all(job, "failed", error=str(exc))
            return every("failed"), None, str(exc)
        except LeaseLost as exc:
            log.warning("%s", exc)  # the new owner records the outcome
            return self._hand_back_held(job), None, str(exc)
        except KeyboardInterrupt:  # a second stop request: hand the job back now, not at lease end
            try:
                self._finish_all(job, "queued", error="the worker was stopped during the job; queued again",
                                 once=True, handed_back=True)
                log.warning("job %s handed back to the queue: the next worker resumes it", job.id)
            except Exception as exc:  # the server away: the lease runs out, and it is taken then
                log.warning("job %s stays claimed until its lease runs out (%s)", job.id, exc)
            raise
        except Exception as exc:  # any other failure is worth another try
            delay = self.retry.delay(job.attempts)
            # kgn-align's own errors say what is wrong in words; anything else by its type too
            message = str(exc) if isinstance(exc, KgnAlignError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, CredentialsRefused):  # they let this worker claim the job: the
                # server is stopping or restarting, most likely (a trial's user was sent to check
                # the password after 'server stop')
                message = f"the graph server stopped answering, most likely stopping or restarting ({message})"
            if delay is None:
                log.error("job %s failed for good: %s", job.id, message)
            else:
                log.warning("job %s failed (%s); retrying in %.0f s", job.id, message, delay)
            return self._retry_all(job, message), None, message
        finally:
            done.set()
            beat.join()
        recorded = self._finish_all(job, "done", result=result or {})
        return {i: "done" if ok else "lost" for i, ok in recorded.items()}, result or {}, None

    def _hand_back_held(self, job: Job) -> dict[str, str]:
        """After a lost lease: the jobs run together with ``job`` that are still this
        worker's go back to the queue now (their try not counted), not when their own lease
        runs out; each one's status by id ('queued', or 'lost': another worker's now)."""
        try:
            back = self._finish_all(job, "queued", error=f"run together with job {job.id}, whose lease "
                                    "another worker took; queued again", once=True, handed_back=True,
                                    quiet=True)
        except GraphError as exc:  # the server away: the leases run out, and the jobs are taken then
            log.warning("the jobs run with job %s stay claimed until their lease runs out (%s)", job.id, exc)
            back = {}
        for one_id in (i for i, ok in back.items() if ok):
            log.warning("job %s, run together with it, is queued again", one_id)
        return {one.id: "queued" if back.get(one.id) else "lost" for one in (job, *job.companions)}

    def _say_held(self, burst: bool = False) -> None:
        """Log the jobs other workers hold under a lease: after a crash, the dead worker's job
        is taken over only when its lease runs out, and a silent wait looks like a hang
        (a ``burst`` worker does not wait: it says so)."""
        try:
            with self.graph.retrying_for(WAITING_RETRY_SECONDS):
                rows = self.graph.read("worker_held", {"kinds": sorted(self.handlers), "now": epoch_ms(),
                                                       "scope": self.scope_key})
        except GraphError:  # the loop below reports an absent server
            return
        for row in rows:
            until = time.strftime("%H:%M:%S", time.localtime(row["lease_until"] / 1000))
            then = ("a worker running then takes it over (this one, in a burst, does not wait for it)"
                    if burst else "this one takes the job over then")
            log.info("job %s is held by worker %s until %s (its lease): if that worker is gone, %s",
                     row["id"], row["worker"], until, then)

    def _housekeep(self) -> None:
        """When idle: at most once every ``status_check_seconds``, fail jobs without a known
        status or for no known configuration (with ``known_kinds``, as jobs of unknown kinds
        are); at most once every
        ``housekeeping_seconds``, ``housekeeping``."""
        now = time.monotonic()
        try:
            if self.known_kinds is not None and (
                    self._status_checked is None or now - self._status_checked >= self.status_check_seconds):
                self._status_checked = now
                self._fail_bad_status()
            if self.housekeeping is not None and (
                    self._housekept is None or now - self._housekept >= self.housekeeping_seconds):
                self._housekept = now
                self.housekeeping(self.graph)
            if self.scope is not None and (
                    self._scope_seen is None or now - self._scope_seen >= self.scope_seconds):
                self.register_scope()
        except GraphError as exc:  # the next idle moment tries again; jobs go on meanwhile
            log.warning("housekeeping failed: %s", exc)

    def _fail_bad_status(self) -> None:
        """Mark failed, saying why, the jobs someone created without a ``status`` or with one
        no worker knows (``'QUEUED'``), and queued jobs whose ``scope`` names no worker
        configuration of the database (``cypher/worker_fail_unknown_scope``): no worker would
        ever claim them."""
        def why(row: dict) -> str:
            if not row["named"]:
                got = "no id" if row["id"] is None else f"id {row['id']!r}, not a string,"
                return f" (kind {_kind(row)}) has {got} so no worker would run it: marked failed ({NO_ID})"
            if row["was"] is None:
                return f" (kind {_kind(row)}) has no status, so no worker would run it: marked failed ({STATUSLESS})"
            return (f" (kind {_kind(row)}) has status {row['was']!r}, so no worker would run it: marked "
                    f"failed ({BAD_STATUS})")

        self.failed_unrun += _say_failed(
            self.graph.write("worker_fail_bad_status", {"statuses": list(STATUSES), "no_status": STATUSLESS,
                                                        "bad_status": BAD_STATUS, "no_id": NO_ID}),
            why, "jobs without a known status")
        self.failed_unrun += _say_failed(
            self.graph.write("worker_fail_unknown_scope"),
            lambda row: f" (kind {_kind(row)}): marked failed: {row['error']}",
            "jobs for no known configuration")

    def _embedded(self) -> bool:
        """Whether the server is the embedded ArcadeDB one (False when it does not answer
        now: the claim loop then waits for it and says so)."""
        try:
            return self.graph.dialect.is_embedded
        except Exception:  # noqa: BLE001 - a closed driver raises the driver's own error here
            return False

    def run(self, *, burst: bool = False, max_jobs: int | None = None) -> int:
        """Work until stopped (or, with ``burst``, until no job is due). Returns jobs run."""
        self._install_signals()
        ran = 0
        log.info("worker %s started (kinds: %s%s)", self.name, ", ".join(sorted(self.handlers)),
                 f"; configuration {self.scope.name}, scope {self.scope.key}" if self.scope else "")
        if self._embedded():  # said at every start: edits there queue nothing
            log.warning("this server (the embedded ArcadeDB) has no change capture (no plugin, no "
                        "triggers): the worker runs only the jobs requested (AlignmentJob nodes, "
                        "plugin/request_job.cypher), not your edits and reviews as they happen")
        if self.scope is not None:
            self._while_server_away(self.register_scope, "registering the worker's configuration")
        self._say_held(burst)
        try:
            while not self._stop.is_set():
                if max_jobs is not None and ran >= max_jobs:
                    break
                self._room = None if max_jobs is None else max_jobs - ran - 1
                job = self._while_server_away(self.claim, "claiming a job")
                if job is None and self._stop.is_set():
                    break  # stopped (perhaps while the server was away); a claimed job still runs
                if job is None:
                    self._housekeep()
                    if burst:
                        break
                    self._stop.wait(self.poll_seconds)
                    continue
                self.execute(job)
                ran += 1 + len(job.companions)
        finally:
            log.debug("worker %s stopped after %d job(s)", self.name, ran)  # the CLI prints it
        self._record_stop()
        return ran

    def _record_stop(self) -> None:
        """Record that a worker of this scope stopped cleanly (``cypher/worker_scope_stopped``),
        so that ``server stop`` does not say it may still be waiting; a server that does not
        answer at once is not waited for (a stopping worker must stop)."""
        if self.scope is None or self._scope_seen is None:
            return
        try:
            with self.graph.retrying_for(1.0):
                self.graph.write("worker_scope_stopped", {"key": self.scope.key, "now": epoch_ms()})
        except KgnAlignError as exc:
            log.debug("could not record the worker's stop: %s", exc)
