"""Backfill on a real server: resumable after an exception and after kill -9, equal to an
uninterrupted run; idempotent; filters; dry run; takeover by another process."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kgn_align import datasets, loaders
from kgn_align.backfill import (
    BackfillFilter,
    BackfillOptions,
    RunConflict,
    forget_run,
    run_backfill,
    run_state,
)
from kgn_align.config import AlignConfig, ConnectionConfig
from kgn_align.errors import ConfigError
from kgn_align.graph import Graph
from kgn_align.scorers import NameSimilarityScorer
from kgn_align import writeback
from kgn_align.writeback import ModelStamp, ScoredPair, labelled_pairs, read_edges
from tests.conftest import link, neo4j_driver

STAMP = ModelStamp(model="names@test", method="name-similarity")
REPO = Path(__file__).resolve().parents[2]


class Boom(RuntimeError):
    """Stands in for Ctrl-C / a crash in the middle of a run."""


@pytest.fixture(scope="module")
def kg_slice() -> datasets.KGDataset:
    return datasets.read_kg("dbp15k_fr_en").slice(150)


@pytest.fixture
def runs(graph: Graph) -> Iterator[list[str]]:
    """Run ids used by a test; their progress nodes are deleted after."""
    ids: list[str] = []
    yield ids
    for run_id in ids:
        forget_run(graph, run_id)


def _load(graph: Graph, ds: datasets.KGDataset, prefix: str) -> AlignConfig:
    loaders.load_kg(graph, ds, prefix=prefix)
    return loaders.preset_config(ds, prefix=prefix)


@pytest.fixture
def loaded(graph: Graph, namespace: str, kg_slice: datasets.KGDataset) -> AlignConfig:
    return _load(graph, kg_slice, namespace)


@pytest.fixture
def reference(graph: Graph, kg_slice: datasets.KGDataset, runs: list[str]) -> Iterator[set[tuple]]:
    """Model edges of an uninterrupted run, in a namespace of its own."""
    prefix = f"test-{uuid.uuid4().hex[:10]}/"
    try:
        config = _load(graph, kg_slice, prefix)
        runs.append(f"ref-{prefix[5:15]}")
        run_backfill(graph, config, NameSimilarityScorer(graph, config, k=5), STAMP,
                     BackfillOptions(run_id=runs[-1], batch_size=20))
        yield model_edges(graph, config)
    finally:
        loaders.delete_graphs(graph, prefix)


def model_edges(graph: Graph, config: AlignConfig) -> set[tuple]:
    return {(e.source, e.target, e.score, e.model, e.method)
            for e in read_edges(graph, config) if e.review is None}


def failing_after(scorer: Callable[[Sequence[str]], list[ScoredPair]], calls: int):
    count = {"n": 0}

    def score(keys: Sequence[str]) -> list[ScoredPair]:
        count["n"] += 1
        if count["n"] > calls:
            raise Boom("interrupted")
        return scorer(keys)

    score.settings = getattr(scorer, "settings", None)  # type: ignore[attr-defined]  # same run fingerprint
    return score


def acting_at(scorer: Callable[[Sequence[str]], list[ScoredPair]],
              actions: dict[int, Callable[[], None]]) -> Callable[[Sequence[str]], list[ScoredPair]]:
    """``scorer``, running ``actions[n]`` first when it is called for the n-th batch (1-based):
    something another process does while a backfill runs."""
    count = {"n": 0}

    def score(keys: Sequence[str]) -> list[ScoredPair]:
        count["n"] += 1
        if count["n"] in actions:
            actions[count["n"]]()
        return scorer(keys)

    return score


def test_uninterrupted_then_rerun_changes_nothing(graph: Graph, loaded: AlignConfig,
                                                  runs: list[str], kg_slice: datasets.KGDataset) -> None:
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs += ["first", "second"]
    first = run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="first", batch_size=20))
    assert first.status == "done" and first.entities == len(kg_slice.sides[0].uris)
    assert first.writes.created > 0 and first.batches_now == -(-first.entities // 20)
    edges = model_edges(graph, loaded)
    assert len(edges) == first.writes.created
    # precision of the names baseline against gold, among edges it wrote
    gold = {(str(a), str(b)) for a, b in kg_slice.test_pairs + kg_slice.train_pairs}
    assert sum((s, t) in gold for s, t, *_ in edges) / len(edges) > 0.7
    # seed (reviewed) edges are still exactly as loaded
    reviewed = {(e.source, e.target, e.review) for e in read_edges(graph, loaded) if e.review}
    assert reviewed == {(str(a), str(b), "accepted") for a, b in kg_slice.train_pairs}
    again = run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="second", batch_size=20))
    assert again.writes.changed == 0 and again.writes.unchanged == first.writes.created
    assert model_edges(graph, loaded) == edges
    done = run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="first", batch_size=20))
    assert done.status == "already-done" and done.writes.pairs == 0
    assert done.pairs_before == first.pairs_selected == first.writes.pairs  # the whole run's, said again


def test_a_model_edge_whose_score_was_set_to_text_is_rewritten(graph: Graph, loaded: AlignConfig,
                                                                 runs: list[str], connection: ConnectionConfig) -> None:
    """A model edge's score set by hand to text ('high') stopped every backfill and worker job
    with the server's type error ('Cannot subtract Double from String'): the model writes its
    score again."""
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs += ["odd-1", "odd-2"]
    run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="odd-1", batch_size=20))
    edge = sorted(model_edges(graph, loaded))[0]
    with neo4j_driver(connection) as drv:
        drv.execute_query("MATCH (a)-[r:SAME_AS]->(b) WHERE a.graph = $g AND a.key = $s AND b.key = $t "
                          "SET r.score = 'high'", g=loaded.source.value, s=edge[0], t=edge[1],
                          database_=connection.database)
    again = run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="odd-2", batch_size=20))
    assert again.writes.updated == 1 and again.writes.created == 0
    assert edge in model_edges(graph, loaded)  # its score again, a number


def test_interrupted_run_resumes_to_the_same_edges(graph: Graph, loaded: AlignConfig,
                                                   runs: list[str], reference: set[tuple],
                                                   kg_slice: datasets.KGDataset) -> None:
    from kgn_align.preflight import unfinished_backfills

    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs.append("crash")
    options = BackfillOptions(run_id="crash", batch_size=20)
    with pytest.raises(Boom):
        run_backfill(graph, loaded, failing_after(scorer, 3), STAMP, options)
    state = run_state(graph, "crash")
    assert state is not None and state["status"] == "running" and state["batches"] == 3
    # a backfill of the same sides under another run id is told how to go on with this one
    # (two runs side by side went without a word, the last write standing)
    said = unfinished_backfills(graph, loaded, "another")
    assert said is not None and said.startswith("backfill run 'crash' on these two sides did not complete"), said
    assert f"60 of {len(kg_slice.sides[0].uris)} source entities done" in said and "--run-id crash " in said
    assert unfinished_backfills(graph, loaded, "crash") is None  # resuming it: nothing to say
    partial = model_edges(graph, loaded)
    assert 0 < len(partial) < len(reference)
    assert {e[0] for e in partial} and max(e[0] for e in partial) <= state["cursor"]
    resumed = run_backfill(graph, loaded, scorer, STAMP, options)
    assert resumed.resumed and resumed.entities_before == 60
    assert resumed.entities_now == resumed.entities - 60
    assert resumed.writes.unchanged == 0  # nothing written twice
    # the summary counts the earlier attempt's pairs too: together, the whole run's
    assert resumed.pairs_before == len(partial) and resumed.pairs_before + resumed.pairs_selected == len(reference)
    assert model_edges(graph, loaded) == reference
    assert unfinished_backfills(graph, loaded, "another") is None  # complete now
    # a stopped run over chosen sources (a worker's 'changed' job) is not named; of two
    # stopped whole-side runs the newest is (a trial was pointed at an older job's run)
    runs += ["keyed", "older", "newer"]
    for run_id, flt in (("keyed", BackfillFilter(keys=(sorted(e[0] for e in reference)[0],))),
                        ("older", None), ("newer", None)):
        with pytest.raises(Boom):
            run_backfill(graph, loaded, failing_after(scorer, 0), STAMP,
                         BackfillOptions(run_id=run_id, batch_size=20), flt)
        if run_id == "keyed":
            assert unfinished_backfills(graph, loaded, "another") is None
    said = unfinished_backfills(graph, loaded, "another")
    assert said is not None and said.startswith("backfill run 'newer' on these two sides"), said
    assert "(and 1 more)" in said
    # a whole-side run of these sides completed since wrote every edge again: the stopped
    # ones are history, no longer named at every backfill (a trial saw one for good)
    runs.append("since")
    time.sleep(1.1)  # started a second later: instants are compared to the second
    run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="since", batch_size=20))
    assert unfinished_backfills(graph, loaded, "another") is None


def test_a_review_made_while_a_run_was_stopped_rules_when_it_resumes(
        graph: Graph, loaded: AlignConfig, runs: list[str], connection: ConnectionConfig) -> None:
    """The batches written before a run stopped are not scored again when it resumes; a
    review a person made in between must still rule over them, as it would have over an
    uninterrupted run's (a trial accepted a pair for a target between a kill -9 and the
    resume: the model edge from another source onto that target stayed)."""
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs.append(f"gap-{uuid.uuid4().hex[:8]}")
    options = BackfillOptions(run_id=runs[-1], batch_size=20)
    with pytest.raises(Boom):
        run_backfill(graph, loaded, failing_after(scorer, 3), STAMP, options)
    written = sorted((e for e in read_edges(graph, loaded) if e.review is None), key=lambda e: e.source)
    assert len(written) >= 3
    taken, moved, untouched = written[0], written[1], written[2]
    other_sources = sorted({str(k) for k in loaded_keys(graph, loaded)} - {e.source for e in written})
    other_targets = sorted({e.target for e in written} - {taken.target, moved.target, untouched.target})
    with neo4j_driver(connection) as drv:
        # the target of one written edge is accepted for another source; another written
        # edge's source is accepted with another target
        for source, target in ((other_sources[0], taken.target), (moved.source, other_targets[0])):
            drv.execute_query(
                f"MATCH (a:{loaded.source.label} {{{loaded.source.property}: $ga, key: $a}}), "
                f"(b:{loaded.target.label} {{{loaded.target.property}: $gb, key: $b}}) "
                "CREATE (a)-[:SAME_AS {review: 'accepted'}]->(b)",
                ga=loaded.source.value, a=source, gb=loaded.target.value, b=target,
                database_=connection.database)
    resumed = run_backfill(graph, loaded, scorer, STAMP, options)
    assert resumed.resumed and resumed.writes.retracted >= 2
    model = {(e.source, e.target) for e in read_edges(graph, loaded) if e.review is None}
    assert (taken.source, taken.target) not in model and (moved.source, moved.target) not in model
    assert (untouched.source, untouched.target) in model  # what no review touches stays
    assert not {s for s, _ in model} & {other_sources[0], moved.source}  # accepted: no model edge


def test_a_source_entity_added_before_the_cursor_while_stopped_gets_its_edge(
        graph: Graph, loaded: AlignConfig, runs: list[str], connection: ConnectionConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    """A resume writes the batches after its cursor; an entity loaded while the run was
    stopped, with a key at or before the cursor, was in none of them: it got no edge while
    the run said done. The run now sees that its written part changed and starts over."""
    runs.append(f"grown-{uuid.uuid4().hex[:8]}")
    options = BackfillOptions(run_id=runs[-1], batch_size=20)
    with pytest.raises(Boom):
        run_backfill(graph, loaded, failing_after(NameSimilarityScorer(graph, loaded, k=5), 3), STAMP, options)
    state = run_state(graph, runs[-1])
    assert state is not None and state["batches"] == 3
    keys = loaded_keys(graph, loaded)
    written = {e.source: e.target for e in read_edges(graph, loaded) if e.review is None}
    model_of = next(k for k in keys if k in written)
    added = model_of + " (copy)"  # sorts right after it: before the cursor
    assert added < state["cursor"] and added not in keys
    with neo4j_driver(connection) as drv:  # another load meanwhile: a copy of a written entity
        drv.execute_query(
            f"MATCH (a:{loaded.source.label} {{{loaded.source.property}: $ga, key: $a}}) "
            f"CREATE (n:{loaded.source.label}) SET n = a {{.*, key: $new}}",
            ga=loaded.source.value, a=model_of, new=added, database_=connection.database)
    with caplog.at_level(logging.WARNING, logger="kgn_align.backfill"):
        resumed = run_backfill(graph, loaded, NameSimilarityScorer(graph, loaded, k=5), STAMP, options)
    assert resumed.restarted and not resumed.resumed and resumed.entities_now == len(keys) + 1
    assert "changed since it stopped" in caplog.text and "starts over" in caplog.text
    edges = {e.source: e.target for e in read_edges(graph, loaded) if e.review is None}
    assert edges.get(added) == written[model_of]  # the copy's name picks the same target
    assert {k: edges.get(k) for k in written} == written  # what stood stands
    # written again, not created again (the copy moves the names' statistics: a score may move)
    assert resumed.writes.unchanged + resumed.writes.updated == len(written)
    assert run_state(graph, runs[-1])["status"] == "done"  # type: ignore[index]


def test_a_run_an_older_version_moved_on_resumes_without_starting_over(
        graph: Graph, loaded: AlignConfig, runs: list[str], connection: ConnectionConfig) -> None:
    """A version that keeps no digest (a worker not yet upgraded) moves the cursor alone; the
    digest then belongs to an earlier cursor and is not compared (a code review: every
    resume after such a checkpoint started the run over)."""
    runs.append(f"mixed-{uuid.uuid4().hex[:8]}")
    options = BackfillOptions(run_id=runs[-1], batch_size=20)
    with pytest.raises(Boom):
        run_backfill(graph, loaded, failing_after(NameSimilarityScorer(graph, loaded, k=5), 2), STAMP, options)
    keys = loaded_keys(graph, loaded)
    with neo4j_driver(connection) as drv:  # the older version's checkpoint of batch 3
        drv.execute_query("MATCH (run:KgnBackfillRun {id: $id}) "
                          "SET run.cursor = $cursor, run.batches = 3, run.entities = 60",
                          id=runs[-1], cursor=keys[59], database_=connection.database)
    resumed = run_backfill(graph, loaded, NameSimilarityScorer(graph, loaded, k=5), STAMP, options)
    assert resumed.resumed and not resumed.restarted and resumed.entities_before == 60
    assert resumed.entities_now == len(keys) - 60


def test_deleting_graphs_forgets_the_runs_over_them(graph: Graph, loaded: AlignConfig, runs: list[str],
                                                   kg_slice: datasets.KGDataset) -> None:
    """A run's record names the graphs it wrote: deleted with them, so that a reload runs the
    same run id afresh (a trial's reload was told 'already complete', 1,024 edges written,
    none there); a run over other graphs stays."""
    prefix = f"test-{uuid.uuid4().hex[:10]}/"
    runs += [f"gone-{prefix[5:15]}", f"kept-{prefix[5:15]}"]
    options = BackfillOptions(run_id=runs[-2], batch_size=50)
    try:
        config = _load(graph, kg_slice, prefix)
        first = run_backfill(graph, config, NameSimilarityScorer(graph, config, k=5), STAMP, options)
        run_backfill(graph, loaded, NameSimilarityScorer(graph, loaded, k=5), STAMP,
                     BackfillOptions(run_id=runs[-1], batch_size=50))
        loaders.delete_graphs(graph, prefix)
        assert run_state(graph, runs[-2]) is None
        assert run_state(graph, runs[-1]) is not None  # the other graphs' run
        config = _load(graph, kg_slice, prefix)
        again = run_backfill(graph, config, NameSimilarityScorer(graph, config, k=5), STAMP, options)
        assert again.status == "done" and not again.resumed and again.writes.created == first.writes.created > 0
    finally:
        loaders.delete_graphs(graph, prefix)


def loaded_keys(graph: Graph, config: AlignConfig) -> list[str]:
    """The source side's entity keys."""
    from kgn_align.backfill import select_keys

    return select_keys(graph, config, BackfillFilter())


def test_one_to_one_resumes_to_the_same_edges(graph: Graph, loaded: AlignConfig, runs: list[str],
                                              tmp_path: Path) -> None:
    """One-to-one scores everything first, then writes; interrupted while writing and
    resumed, it writes exactly its (dry-run) plan, and no target is in two edges."""
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs += ["o2o", "o2o-dry"]
    options = BackfillOptions(run_id="o2o", batch_size=20, policy="one-to-one", threshold=0.3)
    plan_csv = tmp_path / "plan.csv"
    dry = run_backfill(graph, loaded, scorer, STAMP,
                       options.model_copy(update={"run_id": "o2o-dry", "dry_run": plan_csv}))
    lower = run_backfill(graph, loaded, scorer, STAMP, options.model_copy(
        update={"run_id": "o2o-dry", "dry_run": tmp_path / "all.csv", "threshold": 0.0}))
    # what was scored does not depend on the threshold (as with the streaming policies)
    assert dry.pairs_scored == lower.pairs_scored > lower.pairs_selected > dry.pairs_selected
    with open(plan_csv, newline="") as fh:
        plan = {(r["source"], r["target"], float(r["score"]), r["model"], r["method"])
                for r in csv.DictReader(fh)}

    def stop_after_3(p: object) -> None:
        if getattr(p, "batches") >= 3:
            raise Boom("interrupted while writing")

    with pytest.raises(Boom):
        run_backfill(graph, loaded, scorer, STAMP, options, progress=stop_after_3)
    assert run_state(graph, "o2o")["batches"] == 3  # type: ignore[index]
    resumed = run_backfill(graph, loaded, scorer, STAMP, options)
    assert resumed.resumed and resumed.entities_before == 60
    reviewed = {(e.source, e.target) for e in read_edges(graph, loaded) if e.review}
    assert model_edges(graph, loaded) == {e for e in plan if e[:2] not in reviewed}
    targets = [t for _, t, *_ in plan]
    assert len(targets) == len(set(targets))  # one-to-one held


def test_a_one_to_one_run_resumed_after_a_review_gives_no_written_target_again(
        graph: Graph, loaded: AlignConfig, runs: list[str], connection: ConnectionConfig,
        kg_slice: datasets.KGDataset) -> None:
    """A resumed one-to-one run matches again; a review made between the attempts can move a
    target a written batch holds to a source still to come. The written edges stand, so that
    target is no longer open: before, both sources kept an edge onto it (a code review)."""
    (s1, t1), (s2, t2), (s3, _) = sorted((str(a), str(b)) for a, b in kg_slice.test_pairs)[:3]
    choice = {s1: [(t1, 0.85)], s2: [(t2, 0.95), (t1, 0.9)]}

    def scorer(keys: Sequence[str]) -> list[ScoredPair]:
        return [ScoredPair(source=k, target=t, score=x) for k in keys for t, x in choice.get(k, [])]

    runs.append(f"o2o-review-{uuid.uuid4().hex[:6]}")
    options = BackfillOptions(run_id=runs[-1], batch_size=1, policy="one-to-one")
    flt = BackfillFilter(keys=(s1, s2))
    calls = {"n": 0}

    def stop_before_the_second() -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Boom("stopped after s1's batch")

    with pytest.raises(Boom):
        run_backfill(graph, loaded, scorer, STAMP, options, flt, before_write=stop_before_the_second)
    assert {(s, t) for s, t, *_ in model_edges(graph, loaded)} == {(s1, t1)}
    link(connection, loaded, (s3, t2, {"review": "accepted"}))  # t2 accepted for another source meanwhile
    resumed = run_backfill(graph, loaded, scorer, STAMP, options, flt)
    assert resumed.resumed
    # s2's matching moves it to t1, which s1's written edge holds: s2 gets none
    assert {(s, t) for s, t, *_ in model_edges(graph, loaded)} == {(s1, t1)}


def test_a_run_whose_batch_the_server_refused_is_let_go(
        graph: Graph, loaded: AlignConfig, runs: list[str], connection: ConnectionConfig,
        reference: set[tuple], caplog: pytest.LogCaptureFixture) -> None:
    """A batch the server refused (a QueryError: its transaction rolled back, the backfill
    stops) left the run marked as written a moment ago, so the next attempt, another process,
    was told for 10 minutes that one may still write it and 'clean --bookkeeping' kept it. It
    is let go now as after any other error; the resume then finishes the uninterrupted edges."""
    from kgn_align import backfill
    from kgn_align.errors import QueryError

    runs.append(f"refused-{uuid.uuid4().hex[:6]}")
    options = BackfillOptions(run_id=runs[-1], batch_size=20)
    calls = {"n": 0, "entities": None}

    def spoil_the_checkpoint() -> None:  # the second batch's checkpoint adds to a boolean
        calls["n"] += 1
        if calls["n"] == 2:
            with neo4j_driver(connection) as drv:
                calls["entities"] = drv.execute_query(
                    "MATCH (r:KgnBackfillRun {id: $id}) WITH r, r.entities AS n SET r.entities = true "
                    "RETURN n", id=runs[-1], database_=connection.database).records[0]["n"]

    scorer = NameSimilarityScorer(graph, loaded, k=5)
    with pytest.raises(QueryError):
        run_backfill(graph, loaded, scorer, STAMP, options, before_write=spoil_the_checkpoint)
    with neo4j_driver(connection) as drv:
        left = drv.execute_query("MATCH (r:KgnBackfillRun {id: $id}) SET r.entities = $n RETURN r.touchedMs AS t",
                                 id=runs[-1], n=calls["entities"], database_=connection.database).records
    assert left[0]["t"] is None  # let go
    backfill._UNRELEASED.pop(runs[-1], None)  # what another process knows
    with caplog.at_level(logging.WARNING, logger="kgn_align.backfill"):
        resumed = run_backfill(graph, loaded, scorer, STAMP, options)
    assert resumed.resumed and resumed.entities_before == 20
    assert "another process" not in caplog.text
    assert model_edges(graph, loaded) == reference


def _run_cli(connection: ConnectionConfig, config_file: Path, run_id: str,
             *extra: str, progress: bool = False) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEO4J_URI": connection.uri or "", "NEO4J_USER": connection.user,
           "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else "",
           "PYTHONPATH": str(REPO)}
    if connection.database:
        env["NEO4J_DATABASE"] = connection.database
    return subprocess.Popen([sys.executable, "-m", "kgn_align.backfill_cli", "--config",
                             str(config_file), "--run-id", run_id, "--batch-size", "10",
                             "-k", "5", "--scorer", "names", "--model-version", STAMP.model,
                             *([] if progress else ["--no-progress"]), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)


def _toml(config: AlignConfig, path: Path) -> Path:
    def side(s) -> str:  # type: ignore[no-untyped-def]
        return f'name = "{s.name}"\nlabel = "{s.label}"\nproperty = "{s.property}"\nvalue = "{s.value}"\n'

    names = ", ".join(f'"{n}"' for n in config.name_properties)
    path.write_text(f'key_property = "{config.key_property}"\nname_properties = [{names}]\n\n'
                    f"[source]\n{side(config.source)}\n[target]\n{side(config.target)}")
    return path


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["kill-9", "ctrl-c", "kill"])
def test_a_stopped_run_resumes_to_the_uninterrupted_edges(
        graph: Graph, connection: ConnectionConfig, loaded: AlignConfig, runs: list[str],
        reference: set[tuple], tmp_path: Path, stop: signal.Signals) -> None:
    """kill -9 or Ctrl-C mid-run: the finished batches stay, and the same command with the
    same run id goes on to the edges of an uninterrupted run. Ctrl-C says so, with the run id,
    and so does a plain kill (SIGTERM: it ended the process silently, exit 143, no hint)."""
    config_file = _toml(loaded, tmp_path / "align.toml")
    run_id = f"stopped-{stop.name}"
    runs.append(run_id)
    # Ctrl-C with its progress lines on (once a tenth of the sources, in a log)
    proc = _run_cli(connection, config_file, run_id, "--throttle", "1", progress=stop == signal.SIGINT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = run_state(graph, run_id)
            # with progress lines: past the third tenth, so that a line has been printed
            if state is not None and state["batches"] >= (4 if stop == signal.SIGINT else 2):
                break
            if proc.poll() is not None:
                pytest.fail(f"backfill ended before it could be stopped: {proc.stderr.read()!r}")
            time.sleep(0.05)
        os.kill(proc.pid, stop)
        try:
            err = proc.communicate(timeout=5)[1].decode()
        except subprocess.TimeoutExpired:
            # Python drops a KeyboardInterrupt raised inside a destructor (seen in the driver's):
            # a user presses Ctrl-C again; the run has ~10 throttled batches left to take it
            os.kill(proc.pid, stop)
            err = proc.communicate(timeout=60)[1].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if stop == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 128 + stop, err[-2000:]
        assert "Traceback" not in err, err[-2000:]
        assert err.rstrip().endswith("Interrupted." if stop == signal.SIGINT else "Terminated."), err[-2000:]
    state = run_state(graph, run_id)
    if stop != signal.SIGKILL:  # the count is the run record's: what is committed, no guess
        lines = re.findall(rf"^backfill {run_id}: ([\d,]+) of [\d,]+ source entities done", err, re.M)
        # a progress line that said less is named (a trial read 600 there, 800 here)
        since = (f" (the last progress line said {lines[-1]}: those come once a tenth of the sources)"
                 if lines and lines[-1] != f"{state['entities']:,}" else "")
        assert (f"backfill {run_id} interrupted: {state['entities']:,} of {state['total']:,} source entities "
                f"are written{since}; the same command with --run-id {run_id} goes on from there") in err, err[-2000:]
        assert bool(lines) == (stop == signal.SIGINT), err[-2000:]
    assert state is not None and state["status"] == "running"
    assert 2 <= state["batches"] < 15
    partial = model_edges(graph, loaded)
    assert partial < reference
    # every source up to the cursor is finished, none after it has an edge yet
    assert all(e[0] <= state["cursor"] for e in partial)
    assert {e for e in reference if e[0] <= state["cursor"]} == partial
    again = _run_cli(connection, config_file, run_id)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()[-2000:]
    assert "(resumed)" in out.decode()
    assert model_edges(graph, loaded) == reference
    assert run_state(graph, run_id)["status"] == "done"  # type: ignore[index]


@pytest.mark.parametrize("kind", ["arcadedb", "neo4j"])
def test_a_run_that_loses_its_server_says_how_to_go_on(kg_slice: datasets.KGDataset, tmp_path: Path,
                                                      kind: str) -> None:
    """The graph server stopped mid-run: one line saying so, how far the run got and which
    --run-id goes on (was only 'no graph server answers'); exit 1, no traceback."""
    from kgn_align.servers import server_for
    from tests.conftest import require_runnable

    require_runnable(kind)
    server = server_for(kind, tmp_path / "home")  # type: ignore[arg-type]
    state = server.start()
    try:
        connection = state.connection().model_copy(update={"max_retry_time": 2.0})
        with Graph(connection) as own:
            config = _load(own, kg_slice, "lost/")
        proc = _run_cli(connection, _toml(config, tmp_path / "align.toml"), "lost", "--throttle", "1")
        try:
            deadline = time.monotonic() + 120
            with Graph(connection) as own:
                while (run_state(own, "lost") or {}).get("batches", 0) < 2:
                    assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-2000:]
                    time.sleep(0.05)
            server.stop()
            err = proc.communicate(timeout=120)[1].decode()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        server.stop()
    assert proc.returncode == 1, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert ("backfill lost stopped: the graph server is away: at least " in err
            and "the same command with --run-id lost goes on from there" in err), err[-2000:]


def _start_elsewhere(graph: Graph, config: AlignConfig, options: BackfillOptions, now_ms: int) -> None:
    """Start run ``options.run_id`` as another process would (its own owner), with the
    settings of a run of ``options`` over a function scorer; ``now_ms`` is when it did."""
    from kgn_align.backfill import fingerprint, run_settings

    graph.write("backfill_run_start", {
        "run_id": options.run_id,
        "fingerprint": fingerprint(run_settings(config, BackfillFilter(), options, STAMP)),
        "settings": None, "owner": "someone-else", "total": 0, "now": now_ms, "whole_side": True})


def test_takeover_stops_the_old_process_without_a_partial_batch(
        graph: Graph, loaded: AlignConfig, runs: list[str]) -> None:
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs.append("taken")
    options = BackfillOptions(run_id="taken", batch_size=20)
    # a second process starts the same run while batch 3 is scored
    score = acting_at(scorer, {3: lambda: _start_elsewhere(graph, loaded, options, now_ms=0)})
    with pytest.raises(RunConflict, match="taken over"):
        run_backfill(graph, loaded, score, STAMP, options)
    state = run_state(graph, "taken")
    assert state["batches"] == 2  # type: ignore[index]
    assert all(e[0] <= state["cursor"] for e in model_edges(graph, loaded))  # type: ignore[index]


def test_clean_bookkeeping_leaves_a_run_that_is_writing_and_a_deleted_run_stops(
        graph: Graph, loaded: AlignConfig, runs: list[str], caplog) -> None:
    """'clean --bookkeeping' for one graph deleted every run's progress, a backfill writing
    on another graph too: that one then stopped saying it was 'taken over by another
    process', and its progress was lost. A run a process touched in the last minutes is
    kept (and named); a run whose progress is deleted anyway stops at its next batch saying
    so, the batch not written. A second process starting a run that is being written is
    warned."""
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs.append("active")
    options = BackfillOptions(run_id="active", batch_size=20)
    seen: dict[str, set] = {}

    def clean_while_it_writes() -> None:
        with caplog.at_level(logging.WARNING):
            kept = writeback.clean(graph, loaded, bookkeeping=True)
        assert kept["active_runs_kept"] >= 1 and run_state(graph, "active") is not None
        assert "backfill run(s) a process touched in the last 10 minutes" in caplog.text
        assert "'active'" in caplog.text

    def delete_its_progress() -> None:
        graph.write("backfill_run_delete", {"run_id": "active"})  # as an older clean did
        seen["edges"] = model_edges(graph, loaded)

    score = acting_at(scorer, {2: clean_while_it_writes, 3: delete_its_progress})
    with pytest.raises(RunConflict, match="its progress was deleted while it ran"):
        run_backfill(graph, loaded, score, STAMP, options)
    assert model_edges(graph, loaded) == seen["edges"]  # no batch written after the deletion
    # the same run id started while another process writes it: said, and taken over
    runs.append("twice")
    twice = options.model_copy(update={"run_id": "twice"})
    _start_elsewhere(graph, loaded, twice, now_ms=int(time.time() * 1000))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_backfill(graph, loaded, lambda keys: scorer(keys), STAMP, twice)
    assert "run 'twice' was started or written by another process" in caplog.text


@pytest.mark.parametrize("stop", [KeyboardInterrupt, Boom])
def test_a_run_this_process_stopped_resumes_without_a_takeover_warning(
        graph: Graph, loaded: AlignConfig, runs: list[str], reference: set[tuple], caplog, stop) -> None:
    """Ctrl-C (or an error) ended the run, and the same command resumed it seconds later:
    the first process had let the run go, so no 'started or written by another process'
    warning (a trial saw it after every clean Ctrl-C); the edges are an uninterrupted run's."""
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    run_id = f"stopped-{stop.__name__}"
    runs.append(run_id)
    options = BackfillOptions(run_id=run_id, batch_size=20)
    calls = {"n": 0}

    def score(keys: Sequence[str]) -> list[ScoredPair]:
        calls["n"] += 1
        if calls["n"] > 2:
            raise stop("stopped")
        return scorer(keys)

    score.settings = getattr(scorer, "settings", None)  # type: ignore[attr-defined]
    with pytest.raises(stop):
        run_backfill(graph, loaded, score, STAMP, options)
    state = run_state(graph, run_id)
    assert state is not None and state["status"] == "running" and state["batches"] == 2
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        resumed = run_backfill(graph, loaded, scorer, STAMP, options)
    assert resumed.resumed and resumed.entities_before == 40
    assert "another process" not in caplog.text, caplog.text
    assert model_edges(graph, loaded) == reference


def test_a_run_this_process_could_not_let_go_resumes_here_quietly_and_elsewhere_warned(
        graph: Graph, loaded: AlignConfig, runs: list[str], caplog, monkeypatch) -> None:

    """The server went away mid-run, so the run could not be let go: a worker retrying the
    job in the same process is not told of 'another process' (a trial saw it after every
    outage); a resume by another process (another owner in between) still is."""
    from neo4j.exceptions import ServiceUnavailable

    from kgn_align.timing import epoch_ms

    names = NameSimilarityScorer(graph, loaded, k=5)

    def scorer(keys: Sequence[str]) -> list[ScoredPair]:  # no settings: as _start_elsewhere's run
        return names(keys)

    runs.append("outage")
    options = BackfillOptions(run_id="outage", batch_size=20)
    real_write = graph.write

    def write(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "backfill_run_release":  # the one write that meets the outage here
            raise ServiceUnavailable("no graph server answers")
        return real_write(name, *args, **kwargs)

    gone = failing_after(scorer, 2)
    monkeypatch.setattr(graph, "write", write)
    with pytest.raises(Boom):
        run_backfill(graph, loaded, gone, STAMP, options)
    monkeypatch.setattr(graph, "write", real_write)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = failing_after(scorer, 1)
        with pytest.raises(Boom):
            run_backfill(graph, loaded, again, STAMP, options)  # this process's retry
    assert "another process" not in caplog.text, caplog.text
    # released this time; another process's owner writes it, then this one resumes
    _start_elsewhere(graph, loaded, options, epoch_ms())
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_backfill(graph, loaded, scorer, STAMP, options)
    assert "was started or written by another process" in caplog.text


def test_other_settings_under_the_same_run_id_are_refused(graph: Graph, loaded: AlignConfig,
                                                          runs: list[str]) -> None:
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs.append("settings")
    with pytest.raises(Boom):
        run_backfill(graph, loaded, failing_after(scorer, 1), STAMP,
                     BackfillOptions(run_id="settings", batch_size=20))
    before = model_edges(graph, loaded)
    # the error names what differs, and only that
    with pytest.raises(RunConflict, match=r"other settings \(threshold: was 0\.5, now 0\.9\): give"):
        run_backfill(graph, loaded, scorer, STAMP,
                     BackfillOptions(run_id="settings", batch_size=20, threshold=0.9))
    with pytest.raises(RunConflict, match=r"other settings \(scorer\.k: was 5, now 3\): give"):
        run_backfill(graph, loaded, NameSimilarityScorer(graph, loaded, k=3), STAMP,
                     BackfillOptions(run_id="settings", batch_size=30))
    assert model_edges(graph, loaded) == before
    # the batch size only cuts the work into transactions: a resume may take another (a
    # new user's trial was refused resuming with the default after --batch-size 50)
    resumed = run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="settings", batch_size=7))
    assert resumed.resumed and resumed.entities_before == 20 and resumed.status == "done"


def test_bad_filters_are_clear_errors_and_write_nothing(graph: Graph, loaded: AlignConfig,
                                                        runs: list[str]) -> None:
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs.append("bad")
    options = BackfillOptions(run_id="bad")
    cases = {
        "no source entity has the entity type": BackfillFilter(entity_type="Paper"),
        "keys are not source entities: 'nope'": BackfillFilter(keys=("nope", loaded_key(graph, loaded))),
        "no source entity has the property 'modifiedAt'": BackfillFilter(
            changed_since=datetime(2024, 1, 1, tzinfo=timezone.utc), changed_property="modifiedAt"),
    }
    for message, flt in cases.items():
        with pytest.raises(ConfigError, match=message) as err:
            run_backfill(graph, loaded, scorer, STAMP, options, flt)
        assert "nothing was written" in str(err.value)
    with pytest.raises(ValueError, match="time zone"):
        BackfillFilter(changed_since=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="not a valid identifier"):
        BackfillFilter(entity_type="Entity`) DETACH DELETE n //")
    assert run_state(graph, "bad") is None
    assert model_edges(graph, loaded) == set()


def test_a_source_node_without_a_key_is_left_out_not_fatal(graph: Graph, loaded: AlignConfig, runs: list[str],
                                                           connection: ConnectionConfig,
                                                           kg_slice: datasets.KGDataset, tmp_path: Path) -> None:
    """A node of the source side without the key property is no entity ('check' says it is
    left out): a backfill, dry or not, covers the others (it failed on it: "source entities
    must have string keys", a new user's trial)."""
    import neo4j

    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        drv.execute_query("CREATE (:Entity {graph: $g, name: 'Keyless Song'})", g=loaded.source.value,
                          database_=connection.database)
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs.append("keyless")
    dry = run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="keyless-dry", dry_run=tmp_path / "d.csv"))
    assert dry.entities == len(kg_slice.sides[0].uris)
    done = run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="keyless"))
    assert done.status == "done" and done.entities == len(kg_slice.sides[0].uris)
    assert done.writes.created > 0 and None not in {e.source for e in read_edges(graph, loaded)}


def loaded_key(graph: Graph, config: AlignConfig) -> str:
    from kgn_align.scorers import read_side

    return read_side(graph, config, config.source)[0][0]


def test_key_and_changed_since_filters(graph: Graph, loaded: AlignConfig, runs: list[str],
                                       kg_slice: datasets.KGDataset) -> None:
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    # held-out sources: their best match is no seed (reviewed) edge, so the model writes one
    keys = sorted(str(a) for a, _ in kg_slice.test_pairs)
    runs += ["keys", "since"]
    summary = run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="keys", threshold=0.0),
                           BackfillFilter(keys=tuple(keys[:4])))
    assert summary.entities == 4
    assert {e[0] for e in model_edges(graph, loaded)} == set(keys[:4])
    # mark three entities as changed now, two long ago
    now = datetime.now(timezone.utc)
    rows = ([{"key": k, "props": {"updatedAt": now}} for k in keys[10:13]]
            + [{"key": k, "props": {"updatedAt": now - timedelta(days=30)}} for k in keys[13:15]])
    graph.write("load_nodes", {"graph": loaded.source.value, "load_id": "t", "rows": rows},
                {"label": "Entity"})
    summary = run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="since", threshold=0.0),
                           BackfillFilter(changed_since=now - timedelta(days=1)))
    assert summary.entities == 3
    assert {e[0] for e in model_edges(graph, loaded)} == set(keys[:4]) | set(keys[10:13])


def test_dry_run_writes_csv_and_nothing_else(graph: Graph, loaded: AlignConfig, runs: list[str],
                                             tmp_path: Path) -> None:
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs += ["dry", "real"]
    out = tmp_path / "would-be.csv"
    # a low threshold: some targets are chosen by several sources (policy best allows it)
    summary = run_backfill(graph, loaded, scorer, STAMP,
                           BackfillOptions(run_id="dry", batch_size=20, threshold=0.1, dry_run=out))
    assert summary.status == "dry-run" and summary.csv == str(out)
    assert run_state(graph, "dry") is None and model_edges(graph, loaded) == set()
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == summary.pairs_selected > 0
    assert {r["change"] for r in rows} == {"created"} and summary.writes.created == len(rows)
    would_be = {(r["source"], r["target"], float(r["score"]), r["model"], r["method"]) for r in rows}
    real = run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="real", batch_size=20,
                                                                      threshold=0.1))
    written = model_edges(graph, loaded)
    # the real run writes exactly the dry run's pairs, except where a person already decided
    assert written <= would_be and len(would_be - written) == real.writes.reviewed + real.writes.skipped
    # and the dry run counts the targets several sources chose as the real run does
    per_target = Counter(r["target"] for r in rows)
    assert summary.shared_targets == sum(n > 1 for n in per_target.values()) == real.shared_targets > 0


@pytest.mark.parametrize("threshold, model", [(0.7, "names@other"), (0.3, "names@test")])
def test_a_dry_run_says_what_the_real_run_then_changes(graph: Graph, loaded: AlignConfig,
                                                       runs: list[str], tmp_path: Path,
                                                       threshold: float, model: str) -> None:
    """Over edges a first run wrote (threshold 0.5), a dry run with another threshold or
    model predicts, edge by edge, what the same run then creates, updates, leaves
    unchanged and retracts; and it writes nothing itself."""
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    runs += ["first", "dry", "then"]
    run_backfill(graph, loaded, scorer, STAMP, BackfillOptions(run_id="first", batch_size=20))
    before = model_edges(graph, loaded)
    stamp = ModelStamp(model=model, method=STAMP.method)
    out = tmp_path / "dry.csv"
    dry = run_backfill(graph, loaded, scorer, stamp,
                       BackfillOptions(run_id="dry", batch_size=20, threshold=threshold, dry_run=out))
    assert model_edges(graph, loaded) == before and run_state(graph, "dry") is None
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    real = run_backfill(graph, loaded, scorer, stamp,
                        BackfillOptions(run_id="then", batch_size=20, threshold=threshold))
    after = model_edges(graph, loaded)
    counts = ("created", "updated", "unchanged", "retracted", "reviewed")
    assert {c: getattr(dry.writes, c) for c in counts} == {c: getattr(real.writes, c) for c in counts}
    by_change = {c: {(r["source"], r["target"]) for r in rows if r["change"] == c} for c in counts}
    pairs_before = {(s, t) for s, t, *_ in before}
    pairs_after = {(s, t) for s, t, *_ in after}
    assert by_change["retracted"] == pairs_before - pairs_after
    assert by_change["created"] == pairs_after - pairs_before
    assert by_change["updated"] | by_change["unchanged"] == pairs_before & pairs_after
    if threshold > 0.5:  # a higher threshold and another model: every kept edge restamped
        assert by_change["retracted"] and by_change["updated"] and not by_change["created"]
    else:  # a lower one, the same model: new edges, the old ones as they were
        assert by_change["created"] and by_change["unchanged"] and not by_change["retracted"]


def test_reviews_rule_what_the_model_writes(graph: Graph, loaded: AlignConfig, runs: list[str],
                                            kg_slice: datasets.KGDataset, connection: ConnectionConfig,
                                            caplog: pytest.LogCaptureFixture, backend: str) -> None:
    """A source with an accepted SAME_AS gets no other model edge; a pair a person
    rejected is never written again, and its source falls back to its next candidate;
    under one-to-one an accepted target is given to no other source."""
    scorer = NameSimilarityScorer(graph, loaded, k=5)
    accepted = {(str(a), str(b)) for a, b in kg_slice.train_pairs}
    runs.append(f"rev-{uuid.uuid4().hex[:8]}")
    first = run_backfill(graph, loaded, scorer, STAMP,
                         BackfillOptions(run_id=runs[-1], threshold=0.0, batch_size=40))
    assert first.reviewed_sources == len({a for a, _ in accepted})
    edges = [e for e in read_edges(graph, loaded) if e.review is None]
    assert edges and not {e.source for e in edges} & {a for a, _ in accepted}

    # a person rejects one model edge in Browser (the documented review queries)
    queue = [row for row in graph.read("browser_review_queue", {"minScore": 0.0, "maxScore": 1.0,
                                                                  "model": None, "limit": 100000})
             if row["a"]["graph"] == loaded.source.value]
    # one model's queue: that model's edges only (a server holding several pairs of graphs
    # mixed them: a trial's dblp_acm review queue interleaved the demo's songs)
    ours = graph.read("browser_review_queue", {"minScore": 0.0, "maxScore": 1.0, "model": STAMP.model,
                                               "limit": 100000})
    assert {row["edgeId"] for row in queue} <= {row["edgeId"] for row in ours}
    assert not graph.read("browser_review_queue", {"minScore": 0.0, "maxScore": 1.0,
                                                   "model": "kgn-align/no-such-model", "limit": 10})
    victim = queue[0]
    rejected = (victim["a"]["key"], victim["b"]["key"])
    # a verdict that is no label, or an edge id that is none, is said and changes nothing
    for edge_id, review, says in ((victim["edgeId"], "reject", "review must be 'accepted' or 'rejected'"),
                                  ("no-such-edge", "rejected", "no SAME_AS edge has this edgeId")):
        (row,) = graph.write("browser_review_set", {"edgeId": edge_id, "review": review, "reviewer": "test"})
        assert row["outcome"] == f"not recorded: {says}", row
    assert not [e for e in read_edges(graph, loaded) if e.review is not None and e.source == victim["a"]["key"]]
    (row,) = graph.write("browser_review_set", {"edgeId": victim["edgeId"], "review": "rejected",
                                                "reviewer": "test"})
    assert (row["outcome"], row["edgeId"], row["review"]) == ("recorded", victim["edgeId"], "rejected")
    # a review value that is no label (a typo) is named, and labels nothing
    odd = queue[1]
    with neo4j_driver(connection) as drv:
        drv.execute_query("MATCH ()-[r:SAME_AS]->() WHERE elementId(r) = $id SET r.review = 'Accepted'",
                          id=odd["edgeId"], database_=connection.database)
    with caplog.at_level(logging.WARNING, logger="kgn_align.writeback"):
        writeback._said_odd_reviews.clear()  # said once per process: the other server's run said it
        labelled = labelled_pairs(graph, loaded)
    assert "have a review other than 'accepted' or 'rejected' ('Accepted')" in caplog.text
    assert (odd["a"]["key"], odd["b"]["key"]) not in {(a, b) for a, b, _ in labelled}
    # the Browser's lists of alignments leave the rejected pair out
    for name, params in (("browser_top_same_as", {"minScore": 0.0}),
                         ("browser_same_as_by_model", {"model": STAMP.model})):
        shown = {(row["a"]["key"], row["b"]["key"]) for row in graph.read(name, {**params, "limit": 100000})
                 if row["a"]["graph"] == loaded.source.value}
        assert shown and rejected not in shown, name
    # pairs a person accepted are among the strongest (the seed pairs carry no score)
    top = {(row["a"]["key"], row["b"]["key"]) for row in graph.read(
        "browser_top_same_as", {"minScore": 0.99, "limit": 100000}) if row["a"]["graph"] == loaded.source.value}
    assert accepted <= top
    if backend == "neo4j":  # quantified path patterns: Neo4j Browser's Cypher, not ArcadeDB's
        clustered = {m["key"] for row in graph.read("browser_same_as_clusters", {"minScore": 1.01, "limit": 100000})
                     for m in row["members"] if m["graph"] == loaded.source.value}
        assert clustered == {a for a, _ in accepted}
    runs.append(f"rev-{uuid.uuid4().hex[:8]}")
    run_backfill(graph, loaded, NameSimilarityScorer(graph, loaded, k=5),
                 ModelStamp(model="names@test2", method="name-similarity"),
                 BackfillOptions(run_id=runs[-1], threshold=0.0, batch_size=40))
    after = [e for e in read_edges(graph, loaded, "names@test2") if e.review is None]
    assert rejected not in {(e.source, e.target) for e in after}
    assert rejected[0] in {e.source for e in after}  # fell back to another candidate
    assert not {e.source for e in after} & {a for a, _ in accepted}

    runs.append(f"rev-{uuid.uuid4().hex[:8]}")
    run_backfill(graph, loaded, NameSimilarityScorer(graph, loaded, k=5),
                 ModelStamp(model="names@1to1", method="name-similarity"),
                 BackfillOptions(run_id=runs[-1], threshold=0.0, batch_size=40, policy="one-to-one"))
    one_to_one = [e for e in read_edges(graph, loaded, "names@1to1") if e.review is None]
    assert one_to_one and not {e.target for e in one_to_one} & {b for _, b in accepted}


def test_clean_removes_what_kgn_align_wrote_and_keeps_reviews(graph: Graph, loaded: AlignConfig,
                                                              runs: list[str], connection,
                                                              tmp_path: Path) -> None:
    import neo4j
    from click.testing import CliRunner

    from kgn_align.cli import cli
    from kgn_align.snapshot import take

    take(graph, loaded)  # sampling writes its hash property onto the sides' nodes
    runs.append(f"clean-{uuid.uuid4().hex[:8]}")
    run_backfill(graph, loaded, NameSimilarityScorer(graph, loaded, k=3), STAMP,
                 BackfillOptions(run_id=runs[-1], threshold=0.3))
    # a link imported from elsewhere (no model, no review): not kgn-align's to delete
    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        drv.execute_query("MATCH (a {graph: $a, key: '0'}), (b {graph: $b, key: '10501'}) "
                          "CREATE (a)-[:SAME_AS {source: 'import-2024'}]->(b)",
                          a=loaded.source.value, b=loaded.target.value, database_=connection.database)
    before = read_edges(graph, loaded)
    reviewed = [e for e in before if e.review is not None]
    imported = [e for e in before if e.model is None and e.review is None]
    assert reviewed and len(imported) == 1 and any(e.model is not None for e in before)
    prefix = loaded.source.value.rsplit("dbp15k_fr_en", 1)[0]
    env = {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
           "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}
    # at a terminal it asks first, and "no" leaves everything as it was
    import os
    import pty
    import subprocess
    import sys

    terminal, tty = pty.openpty()
    try:
        os.write(terminal, b"n\n")  # the answer, waiting on the terminal's input
        asked = subprocess.run(
            [sys.executable, "-m", "kgn_align.cli", "--home", str(tmp_path), "clean", "--dataset",
             "dbp15k_fr_en", "--prefix", prefix], stdin=tty, capture_output=True, text=True, timeout=120,
            env={**os.environ, **env})
    finally:
        os.close(terminal)
        os.close(tty)
    # the prompt counts what would go: the model's unreviewed edges, not the reviewed or imported
    assert asked.returncode == 1, asked
    assert f"Delete the {len(before) - len(reviewed) - 1:,} model-written SAME_AS edges" in asked.stderr, asked
    assert "Aborted" in asked.stderr and read_edges(graph, loaded) == before
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "clean", "--dataset", "dbp15k_fr_en",
                                      "--prefix", prefix, "--bookkeeping"], env=env)
    assert result.exit_code == 0, result.output
    removed = json.loads(result.output)
    assert removed["model_edges"] == len(before) - len(reviewed) - 1 and removed["sampling_hashes"] > 0
    assert removed["bookkeeping_nodes"] >= 1  # this test's run progress
    assert read_edges(graph, loaded) == sorted(reviewed + imported, key=lambda e: (e.source, e.target))
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        left = drv.execute_query("MATCH (n) WHERE n.graph IN [$a, $b] AND n.kgnHash IS NOT NULL "
                                 "RETURN count(n) AS n", a=loaded.source.value, b=loaded.target.value,
                                 database_=connection.database).records[0]["n"]
    assert left == 0


def test_clean_names_a_worker_of_these_sides_that_may_still_run(graph: Graph, loaded: AlignConfig,
                                                                connection: ConnectionConfig,
                                                                tmp_path: Path) -> None:
    """A worker left running rewrites what clean removed at its next job: clean says so
    first when one of these sides' workers ran lately (it was silent), and not for a
    worker last seen days ago."""
    from click.testing import CliRunner

    from kgn_align.cli import cli
    from kgn_align.jobs import scope_of
    from kgn_align.timing import epoch_ms

    scope = scope_of(loaded)
    prefix = loaded.source.value.rsplit("dbp15k_fr_en", 1)[0]
    env = {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
           "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}
    said = []
    try:
        for seen in (epoch_ms() - 3 * 86_400_000, epoch_ms()):  # days ago, then now
            graph.write("worker_scope_register", {"key": scope.key, "name": scope.name,
                                                  "graphs": list(scope.graphs), "now": seen})
            result = CliRunner().invoke(cli, ["--home", str(tmp_path), "clean", "-y", "--dataset",
                                              "dbp15k_fr_en", "--prefix", prefix], env=env)
            assert result.exit_code == 0, result.output
            json.loads(result.stdout)  # what was removed, as before
            said.append(result.stderr)
    finally:
        graph.write("graph_delete_worker_scopes", {"prefix": loaded.source.value})
    assert "a worker of" not in said[0], said[0]
    assert f"a worker of {scope.name} ran in the last 2 hours" in said[1], said[1]
    assert "its next job writes model edges again (stop it first)" in said[1], said[1]


def test_edges_and_clean_name_a_wrong_prefix(graph: Graph, loaded: AlignConfig, connection: ConnectionConfig,
                                             tmp_path) -> None:
    """As every other command: a --prefix the graph does not have is named, not answered with 'no edges' or a clean that removed nothing (exit 0 both, in a
    new-user trial, beside 1,547 edges under the right prefix)."""
    from click.testing import CliRunner

    from kgn_align.cli import cli

    env = {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
           "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}
    for command in (["edges"], ["clean", "-y"]):
        result = CliRunner().invoke(cli, ["--home", str(tmp_path), *command, "--dataset", "dbp15k_fr_en",
                                          "--prefix", "demo/"], env=env)
        assert result.exit_code == 1, (command, result.output)
        assert "demo/dbp15k_fr_en/fr') has no entities" in result.output, (command, result.output)


def _chosen(choice: dict[str, str]) -> Callable[[Sequence[str]], list[ScoredPair]]:
    """A scorer that picks ``choice[source]`` for each source it is asked about."""
    def score(keys: Sequence[str]) -> list[ScoredPair]:
        return [ScoredPair(source=k, target=choice[k], score=0.9) for k in keys if k in choice]

    return score


def test_a_backfill_retracts_the_model_edges_it_no_longer_chooses(
        graph: Graph, loaded: AlignConfig, connection: ConnectionConfig, runs: list[str],
        kg_slice: datasets.KGDataset) -> None:
    """After a backfill the graph holds, for every source it covered, exactly the edges it
    chose: an edge chosen before and not now is deleted in the batch's transaction (the
    source got another target, none, or an accepted pair); reviewed edges, SAME_AS edges
    kgn-align did not write, and sources outside the run are left alone."""
    pairs = sorted((str(a), str(b)) for a, b in kg_slice.test_pairs)
    (s1, t1), (s2, t2), (s3, t3), (s4, t4), (_, t5), (_, t6) = pairs[:6]
    sources = (s1, s2, s3)
    runs += ["retract-1", "retract-2", "retract-3"]
    first = run_backfill(graph, loaded, _chosen({s1: t1, s2: t2, s3: t3, s4: t4}), STAMP,
                         BackfillOptions(run_id="retract-1", batch_size=2))
    assert first.writes.created == 4 and first.writes.retracted == 0
    with neo4j_driver(connection) as drv:
        # a person rejects a pair of s2's, and someone's own SAME_AS (no model) starts at s3
        drv.execute_query(
            "MATCH (a:Entity {graph: $ga, key: $s2}), (b:Entity {graph: $gb, key: $t5}), "
            "      (c:Entity {graph: $ga, key: $s3}), (d:Entity {graph: $gb, key: $t6}) "
            "CREATE (a)-[:SAME_AS {review: 'rejected', score: 0.7, model: 'names@test'}]->(b), "
            "       (c)-[:SAME_AS {note: 'mine'}]->(d)",
            ga=loaded.source.value, gb=loaded.target.value, s2=s2, t5=t5, s3=s3, t6=t6,
            database_=connection.database)
        # s1 moves to another target, s2 keeps its own, s3 gets none; s4 is not in the run
        second = run_backfill(graph, loaded, _chosen({s1: t4, s2: t2}),
                              ModelStamp(model="names@v2", method="name-similarity"),
                              BackfillOptions(run_id="retract-2", batch_size=2),
                              BackfillFilter(keys=sources))
        assert (second.writes.created, second.writes.updated, second.writes.retracted) == (1, 1, 2)
        edges = {(e.source, e.target): e for e in read_edges(graph, loaded)}
        assert {p for p, e in edges.items() if e.model and e.review is None} == {(s1, t4), (s2, t2), (s4, t4)}
        assert edges[(s2, t5)].review == "rejected" and (s3, t6) in edges  # left alone
        # a person accepts another pair for s2: its model edge goes with the next run over it
        drv.execute_query(
            "MATCH (a:Entity {graph: $ga, key: $s2}), (b:Entity {graph: $gb, key: $t3}) "
            "CREATE (a)-[:SAME_AS {review: 'accepted'}]->(b)",
            ga=loaded.source.value, gb=loaded.target.value, s2=s2, t3=t3, database_=connection.database)
    third = run_backfill(graph, loaded, _chosen({s1: t4, s2: t2}),
                         ModelStamp(model="names@v2", method="name-similarity"),
                         BackfillOptions(run_id="retract-3", batch_size=2), BackfillFilter(keys=sources))
    assert third.reviewed_sources == 1 and third.writes.retracted == 1
    after = {(e.source, e.target) for e in read_edges(graph, loaded) if e.model and e.review is None}
    assert after == {(s1, t4), (s4, t4)}


def test_one_to_one_over_some_sources_keeps_the_others_targets(graph: Graph, loaded: AlignConfig,
                                                              runs: list[str],
                                                              kg_slice: datasets.KGDataset) -> None:
    """A run over some sources (a 'changed' job, --key) under one-to-one gives none of them a
    target a model edge from another source already holds: both want T, the second gets U."""
    (s1, t), (s2, u) = [(str(a), str(b)) for a, b in kg_slice.test_pairs[:2]]

    def wants_t(keys: Sequence[str]) -> list[ScoredPair]:
        return [p for k in keys for p in (ScoredPair(source=k, target=t, score=0.9),
                                          ScoredPair(source=k, target=u, score=0.8))]

    runs += ["o2o-first", "o2o-second", "o2o-best"]
    o2o = BackfillOptions(run_id="o2o-first", policy="one-to-one")
    run_backfill(graph, loaded, wants_t, STAMP, o2o, BackfillFilter(keys=(s1,)))
    run_backfill(graph, loaded, wants_t, STAMP, o2o.model_copy(update={"run_id": "o2o-second"}),
                 BackfillFilter(keys=(s2,)))
    edges = {(s, tg) for s, tg, *_ in model_edges(graph, loaded)}
    assert edges == {(s1, t), (s2, u)}
    # under best, sharing a target is allowed: s2 takes T too
    run_backfill(graph, loaded, wants_t, STAMP, BackfillOptions(run_id="o2o-best"), BackfillFilter(keys=(s2,)))
    assert {(s, tg) for s, tg, *_ in model_edges(graph, loaded)} == {(s1, t), (s2, t)}


def test_a_same_as_edge_kgn_align_did_not_write_is_never_taken_over(
        graph: Graph, loaded: AlignConfig, connection: ConnectionConfig, runs: list[str],
        kg_slice: datasets.KGDataset, tmp_path: Path) -> None:
    """A SAME_AS edge someone else wrote (no r.model, no review: an import's own link) on a
    pair the model chooses is left as it is: not stamped with the model's score, so that a
    later run that no longer chooses the pair does not retract it (a review found the merge
    took such an edge over, and the next run deleted it)."""
    (s1, t1), (s2, t2) = sorted((str(a), str(b)) for a, b in kg_slice.test_pairs)[:2]
    link(connection, loaded, (s1, t1, {"note": "mine"}), (s2, t2, {}))
    runs += ["foreign-dry", "foreign-1", "foreign-2"]
    both = BackfillFilter(keys=(s1, s2))
    out = tmp_path / "dry.csv"
    dry = run_backfill(graph, loaded, _chosen({s1: t1, s2: t2}), STAMP,
                       BackfillOptions(run_id="foreign-dry", dry_run=out), both)
    with open(out, newline="") as fh:
        assert {r["change"] for r in csv.DictReader(fh)} == {"foreign"} and dry.writes.foreign == 2
    first = run_backfill(graph, loaded, _chosen({s1: t1, s2: t2}), STAMP,
                         BackfillOptions(run_id="foreign-1"), both)
    assert (first.writes.foreign, first.writes.created, first.writes.updated) == (2, 0, 0)
    edges = {(e.source, e.target): e for e in read_edges(graph, loaded)}
    assert edges[(s1, t1)].model is None and edges[(s1, t1)].score is None
    assert edges[(s2, t2)].model is None
    # a run that chooses neither pair leaves both edges where they were
    second = run_backfill(graph, loaded, _chosen({}), STAMP, BackfillOptions(run_id="foreign-2"), both)
    assert second.writes.retracted == 0
    assert {(s1, t1), (s2, t2)} <= {(e.source, e.target) for e in read_edges(graph, loaded)}


@pytest.mark.parametrize("policy", ["best", "one-to-one"])
def test_a_review_made_while_the_run_scored_rules_the_batch_it_writes(
        graph: Graph, loaded: AlignConfig, connection: ConnectionConfig, runs: list[str],
        kg_slice: datasets.KGDataset, policy: str) -> None:
    """A run reads the reviews before it scores; a pair accepted after that and before a
    batch is written still rules that batch, under every policy (as the reviews the run read
    do): its source accepted for another target gets no model edge (an earlier one is
    retracted), nor does a source whose target was accepted for another source. Before, the
    batch wrote them all."""
    (s1, t1), (s2, t2), (s3, t3), (s4, _) = sorted((str(a), str(b)) for a, b in kg_slice.test_pairs)[:4]
    run_id = f"race-{policy}-{uuid.uuid4().hex[:6]}"
    runs += [run_id + "-0", run_id]
    choice = _chosen({s1: t1, s2: t2})
    flt = BackfillFilter(keys=(s1, s2))
    before = run_backfill(graph, loaded, choice, STAMP, BackfillOptions(run_id=run_id + "-0", policy=policy), flt)
    assert before.writes.created == 2
    reviewed = {"done": False}

    def review_meanwhile() -> None:  # a person in the Browser, while the run scored
        if reviewed["done"]:
            return
        reviewed["done"] = True
        link(connection, loaded, (s1, t3, {"review": "accepted"}), (s4, t2, {"review": "accepted"}))

    after = run_backfill(graph, loaded, choice, STAMP, BackfillOptions(run_id=run_id, policy=policy), flt,
                         before_write=review_meanwhile)
    model = {(e.source, e.target) for e in read_edges(graph, loaded) if e.model and e.review is None}
    assert model == set() and after.writes.retracted == 2 and after.writes.skipped == 2
