"""Load -> train -> backfill -> read back, with the GNN, on a real server and real data."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from kgn_align import datasets, loaders
from kgn_align.backfill import BackfillOptions, forget_run, run_backfill, run_state
from kgn_align.cli import cli
from kgn_align.graph import Graph
from kgn_align.scoring import ModelScorer, TrainedModel
from kgn_align.explaining import explain_pair, explain_source, render
from kgn_align.snapshot import take
from kgn_align.training import TrainConfig, score_pairs
from kgn_align.evaluation import Gold
from kgn_align.workflows import evaluate_alignment, judge_graph_edges, train_model
from kgn_align.writeback import Edge, Policy, labelled_pairs, read_edges
from tests.conftest import link, neo4j_driver

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slice_() -> datasets.KGDataset:
    return datasets.read_kg("dbp15k_fr_en").slice(400)


def _unlinked(ds: datasets.KGDataset, target: int) -> datasets.KGDataset:
    """``ds`` with every relationship of one target entity left out (a node nobody linked)."""
    src, tgt = ds.sides
    kept = [t for t in tgt.triples if target not in (t[0], t[2])]
    side = datasets.KGSide(tgt.name, tgt.uris, kept, tgt.names)
    return datasets.KGDataset(ds.name, (src, side), ds.train_pairs, ds.test_pairs)


def _env(connection) -> dict[str, str]:
    return {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
            "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}


def _edge_set(edges: list[Edge]) -> set[tuple[str, str, float | None, str | None]]:
    return {(e.source, e.target, e.score, e.model) for e in edges}


def test_train_backfill_and_rerun(graph: Graph, namespace: str, tmp_path: Path, connection,
                                  slice_: datasets.KGDataset, caplog: pytest.LogCaptureFixture) -> None:
    lonely_source, lonely_target = slice_.test_pairs[0]
    slice_ = _unlinked(slice_, lonely_target)
    loaders.load_kg(graph, slice_, prefix=namespace)
    config = loaders.preset_config(slice_, prefix=namespace)
    snapshot = take(graph, config)
    trained = train_model(graph, config, tmp_path / "models", snapshot=snapshot,
                          train_config=TrainConfig(epochs=1, max_steps=30))
    assert (tmp_path / "models" / f"{trained.version}.pt").is_file()
    assert TrainedModel.load(tmp_path / "models" / "latest.pt").version == trained.version

    scorer = ModelScorer(snapshot, trained, labelled=labelled_pairs(graph, config))
    # the target without relationships is blocked with the cold-start student's guess of its
    # neighbourhood part (zero without a student), and is still its source's candidate
    assert trained.student is not None
    row = snapshot.target.aligned_row[str(lonely_target)]
    level0 = snapshot.level0(trained.featurizer)
    # training featurises with the snapshot's own fit: the same IDF, the same level-0 vectors
    fitted, fitted_level0 = snapshot.fit_level0()
    assert torch.equal(torch.as_tensor(fitted.idf), torch.as_tensor(trained.featurizer.idf))
    assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(fitted_level0, level0))
    _, plain_b = snapshot.blocking(level0, trained.student, scorer.block_beta)  # what the scorer blocks with
    half = plain_b.size(1) // 2
    assert float(plain_b[row, half:].abs().sum()) > 0
    _, bare_b = snapshot.blocking(level0, None, scorer.block_beta)
    assert float(bare_b[row, half:].abs().sum()) == 0
    assert float(plain_b[:, half:].abs().sum(1).gt(0).float().mean()) > 0.9
    found = {p.target for p in scorer([str(lonely_source)])}
    assert str(lonely_target) in found
    options = BackfillOptions(run_id=namespace.strip("/") + "-run", policy=Policy.BEST, threshold=0.3, batch_size=50)
    first = run_backfill(graph, config, scorer, trained.stamp, options)
    assert first.writes.created > 0
    edges = read_edges(graph, config, trained.stamp.model)
    gold = Gold({str(x): str(y) for x, y in slice_.test_pairs})
    in_graph = judge_graph_edges(graph, config, gold, trained.stamp.model)
    # a SAME_AS edge kgn-align did not write (an import's link: no model, no review) is not
    # judged as one of the model's, whichever model is asked for (it was, scored 0.0)
    foreign = (edges[0].source, next(e.target for e in edges if e.target != edges[0].target))
    link(connection, config, (*foreign, {"origin": "import"}))
    assert judge_graph_edges(graph, config, gold) == in_graph
    with neo4j_driver(connection) as drv:
        drv.execute_query("MATCH (:Entity {graph: $g})-[r:SAME_AS {origin: 'import'}]->() DELETE r",
                          g=config.source.value, database_=connection.database)
    # a gold row that an accepted review (a training pair) contradicts is named, not settled in silence
    (a, b), (_, other) = slice_.train_pairs[0], slice_.train_pairs[1]
    with caplog.at_level(logging.WARNING):
        disputed = judge_graph_edges(graph, config, Gold({**gold.pairs, str(a): str(other)}), trained.stamp.model)
    assert disputed == in_graph
    assert f"1 gold pair(s) contradict an accepted review and are left out of the judging (gold {a} -> {other}, " \
           f"but {a} -> {b} is accepted)" in caplog.text
    names_floor = 0.5
    assert in_graph["precision"] > names_floor and in_graph["recall"] > names_floor

    # 'evaluate' judges exactly the edges a backfill with the same options writes: a dry run
    # through the same scorer, over the whole source side, judged by the same function
    evaluation = evaluate_alignment(graph, config, scorer, gold, options)
    judged = evaluation["methods"]["cg-mualign"]
    assert {k: judged[k] for k in in_graph} == in_graph
    assert judged["edges"] == first.pairs_selected == len(edges)
    # the baselines ran in the same invocation, on the same candidates
    assert set(evaluation["methods"]) == {"cg-mualign", "propagation-sinkhorn", "neighbourhood-cosine"}
    assert 0 < judged["all_targets"]["hits@1"] <= judged["protocol"]["hits@10"] <= 1
    assert 0 <= judged["calibration"]["ece"] <= 1

    # a second backfill (new run id) changes nothing
    again = run_backfill(graph, config, scorer, trained.stamp,
                         BackfillOptions(run_id=namespace.strip("/") + "-again", policy=Policy.BEST, threshold=0.3,
                                         batch_size=50))
    assert again.writes.created == 0 and again.writes.updated == 0
    assert read_edges(graph, config, trained.stamp.model) == edges
    # explain SOURCE says what the backfill did with each source, and why: the written edge
    # with its score, the accepted pair's source left alone, no edge below the threshold
    written = {e.source: e for e in edges}
    got_edge = edges[0]
    view = explain_source(graph, config, trained, got_edge.source, k=scorer.k, threshold=0.3,
                          policy=Policy.BEST)
    assert view.verdict == f"a backfill writes SAME_AS to {got_edge.target} (score {got_edge.score:.4f})"
    chosen = [c for c in view.candidates if c.outcome.startswith("chosen")]
    assert [(c.target, c.score) for c in chosen] == [(got_edge.target, got_edge.score)]
    assert [c.score for c in view.candidates] == sorted((c.score for c in view.candidates), reverse=True)
    assert {(c.target, c.score) for c in view.candidates} == {
        (p.target, p.score) for p in scorer([got_edge.source])}
    assert [e["target"] for e in view.edges] == [got_edge.target]
    accepted_view = explain_source(graph, config, trained, str(a), k=scorer.k, threshold=0.3, policy=Policy.BEST)
    assert accepted_view.accepted == [str(b)] and not accepted_view.candidates
    assert accepted_view.source_name == snapshot.source.labels[snapshot.source.aligned_row[str(a)]]
    assert accepted_view.verdict.startswith(f"no model edge: it has an accepted SAME_AS to {b}")
    reviewed = {str(x) for x, _ in slice_.train_pairs}
    no_edge = next(p for p in scorer(sorted(set(snapshot.source.aligned_row) - set(written) - reviewed)))
    quiet = explain_source(graph, config, trained, no_edge.source, k=scorer.k, threshold=0.3,
                           policy=Policy.BEST)
    top = quiet.candidates[0]
    assert top.score < 0.3 and top.outcome == "below the threshold (0.3)"
    assert quiet.verdict.startswith(f"no edge: its best candidate {top.target} scores {top.score:.4f}, "
                                    "below the threshold 0.3")
    # a 'changed' job (what the APOC trigger queues) re-aligns only what the change touches:
    # an edited source and its sampled neighbours, the lonely target's nearest sources (its
    # counterpart among them); nothing moves
    edited_key = str(slice_.test_pairs[1][0])
    edited = snapshot.source.aligned_row[edited_key]
    # and a node made on the source side without a key: no sample holds it, and the job
    # says so (a trial's was skipped without a word)
    import neo4j

    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        keyless = drv.execute_query("CREATE (n:Entity {graph: $g, name: 'Sans clef'}) RETURN elementId(n) AS id",
                                    g=config.source.value, database_=connection.database).records[0]["id"]
    job_id = graph.write("request_job", {"kind": "changed", "params": json.dumps(
        {"nodeIds": [snapshot.target.table.ids[row], snapshot.source.table.ids[edited], keyless], "total": 3,
         "threshold": 0.3})},
        kind="plugin")[0]["id"]
    # an earlier attempt of the job, over other sources (other companions then), left its run
    # unfinished: resuming it was refused as 'started with other settings', and the job failed
    # for good after its retries; the job's own run is now named for its sources too
    graph.write("backfill_run_start", {"run_id": f"job-{job_id}", "fingerprint": "an-earlier-attempt",
                                       "settings": None, "owner": "an-earlier-worker", "total": 0,
                                       "now": 0, "whole_side": False})
    try:
        # --warm: the worker warms up first, running a changed job's path dry; --burst: then
        # every due job (other tests' captured changes may be queued before this one)
        ran = CliRunner().invoke(cli, ["--home", str(tmp_path), "worker", "--burst", "--warm", "--dataset",
                                       "dbp15k_fr_en", "--prefix", namespace, "--model",
                                       str(trained.path)], env=_env(connection))
        assert ran.exit_code == 0, ran.output
        done = graph.read("worker_job", {"id": job_id})[0]
        assert done["status"] == "done", done
        result = json.loads(done["result"])
        assert result["run_id"].startswith(f"job-{job_id}-") and run_state(graph, result["run_id"])["status"] == "done"
        assert {str(lonely_source), edited_key} <= set(result["sources"])
        assert 2 <= result["entities"] <= 60 < len(snapshot.source.aligned_row)
        assert result["created"] == 0 and result["updated"] == 0
        assert result["keyless"] == 1
        line = next(x for x in ran.stdout.splitlines() if f" job {job_id} changed: done in" in x)
        assert line.endswith("(1 of its nodes lie on a side without the key property: not aligned until "
                             "they get one)"), line
        # where the job spent its time, stage by stage, for whoever reads the job node
        assert list(result["stages_s"]) == ["refresh", "prepare", "align", "write"]
        assert all(s >= 0 for s in result["stages_s"].values())
        # the warm-up wrote nothing: no edge moved, no run of its own left behind
        assert "worker warming up with model" in ran.stdout and "worker warm:" in ran.stdout
        assert run_state(graph, "worker-warm-up") is None
        # nothing new and nothing changed; an edge may only have gone if a job of this burst
        # retracted it and said so (the worker aligns in its own process, on one thread, from
        # pseudo-seeds of its own: a source near the threshold can come out otherwise)
        retracted = sum(int(n) for n in re.findall(r"(\d+) retracted", ran.stdout))
        after = _edge_set(read_edges(graph, config, trained.stamp.model))
        assert after <= _edge_set(edges) and len(edges) - len(after) <= retracted, ran.stdout
    finally:
        graph.write("worker_delete_job", {"id": job_id})
        forget_run(graph, f"job-{job_id}")
        with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
            drv.execute_query("MATCH (n) WHERE elementId(n) = $id DELETE n", id=keyless,
                              database_=connection.database)

    # the CLI says the same, from a dry run and from the edges in the graph
    args = ["--home", str(tmp_path), "evaluate", "--dataset", "dbp15k_fr_en", "--prefix", namespace,
            "--model", str(trained.path), "--threshold", "0.3"]
    shown = CliRunner().invoke(cli, [*args, "--method", "cg-mualign"], env=_env(connection))
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout[shown.stdout.index("{"):])
    assert report["model"] == trained.version and list(report["methods"]) == ["cg-mualign"]
    assert report["gold_pairs"] == len(gold.pairs)
    assert {k: report["methods"]["cg-mualign"][k] for k in in_graph} == in_graph
    assert report["bootstrap"] and report["methods"]["cg-mualign"]["pseudo_seeds"] > 0
    # people get one line per method on stderr; stdout stays JSON for programs
    summary = [line for line in shown.stderr.splitlines() if line.startswith("cg-mualign ")]
    assert len(summary) == 1 and f"F1 {report['methods']['cg-mualign']['f1']:.4f}" in summary[0]
    # --no-bootstrap: one round, the accepted pairs alone anchoring
    unbooted = CliRunner().invoke(cli, [*args, "--method", "cg-mualign", "--no-bootstrap"], env=_env(connection))
    assert unbooted.exit_code == 0, unbooted.output
    report = json.loads(unbooted.stdout[unbooted.stdout.index("{"):])
    assert not report["bootstrap"] and report["methods"]["cg-mualign"]["pseudo_seeds"] is None
    shown = CliRunner().invoke(cli, [*args, "--edges"], env=_env(connection))
    assert shown.exit_code == 0, shown.output
    # (judged as the graph stands now: the worker's jobs above may have retracted an edge)
    assert json.loads(shown.stdout[shown.stdout.index("{"):])["edges_in_graph"] == \
        judge_graph_edges(graph, config, gold, trained.stamp.model)

    # explain samples just the pair's two trees, yet the pair model scores it as in a backfill
    linked = [set(side.store.edges()[0].tolist()) for side in (snapshot.source, snapshot.target)]
    a_key, b_key = next((str(a), str(b)) for a, b in slice_.test_pairs
                        if snapshot.source.aligned_row[str(a)] in linked[0]
                        and snapshot.target.aligned_row[str(b)] in linked[1])
    ex = explain_pair(graph, config, trained, a_key, b_key)
    logit, prob = score_pairs(trained.model, scorer.side_a, scorer.side_b,
                              snapshot.source.rows([a_key]), snapshot.target.rows([b_key]))
    assert ex.logit == pytest.approx(float(logit[0]), abs=1e-3)
    assert ex.score == pytest.approx(float(prob[0]), abs=1e-3)
    assert {n.side for n in ex.neighbours} == {"source", "target"}
    assert "pair score" in render(ex)
    # ... and shows the edge the backfill wrote for the pair, whose score weighs its rivals
    written = {(e.source, e.target): e for e in read_edges(graph, config, trained.stamp.model)}
    if (a_key, b_key) in written:
        assert ex.edge is not None and ex.edge["score"] == written[(a_key, b_key)].score
        assert f"score {written[(a_key, b_key)].score}" in render(ex)
    else:
        assert ex.edge is None and "none between these two" in render(ex)

    # reviewed seed edges were left alone
    seeds = [e for e in read_edges(graph, config) if e.review == "accepted"]
    assert len(seeds) == len(slice_.train_pairs) and all(e.score is None for e in seeds)


def test_missing_model_is_a_clear_error_and_writes_nothing(graph: Graph, namespace: str, connection,
                                                           tmp_path: Path, slice_: datasets.KGDataset) -> None:
    piece = slice_.slice(60)
    loaders.load_kg(graph, piece, prefix=namespace)
    env = _env(connection)
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "backfill", "--dataset", "dbp15k_fr_en",
                                      "--prefix", namespace, "--no-progress"], env=env)
    assert result.exit_code == 1
    assert "no model at" in result.output and "kgn-align train" in result.output
    config = loaders.preset_config(piece, prefix=namespace)
    assert [e for e in read_edges(graph, config) if e.review is None] == []

    bad = CliRunner().invoke(cli, ["--home", str(tmp_path), "backfill", "--dataset", "dbp15k_fr_en",
                                   "--prefix", namespace, "--scorer", "names", "--type", "Moovie",
                                   "--no-progress"], env=env)
    assert bad.exit_code != 0 and "Moovie" in bad.output
    assert [e for e in read_edges(graph, config) if e.review is None] == []
