"""SAME_AS write-back on a real server: idempotence, reviews, model updates, atomicity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kgn_align import datasets, loaders
from kgn_align.config import AlignConfig
from kgn_align.errors import GraphError
from kgn_align.graph import Graph
from kgn_align.writeback import (
    ModelStamp,
    ScoredPair,
    merge_step,
    read_edges,
    write_pairs,
)

V1 = ModelStamp(model="toy@v1-aaaa", method="name-similarity")
V2 = ModelStamp(model="toy@v2-bbbb", method="name-similarity")


@pytest.fixture(scope="module")
def kg_slice() -> datasets.KGDataset:
    return datasets.read_kg("dbp15k_fr_en").slice(60)


@pytest.fixture
def loaded(graph: Graph, namespace: str, kg_slice: datasets.KGDataset) -> Iterator[AlignConfig]:
    loaders.load_kg(graph, kg_slice, prefix=namespace)
    yield loaders.preset_config(kg_slice, prefix=namespace)


def _test_pairs(ds: datasets.KGDataset, score: float = 0.8) -> list[ScoredPair]:
    return [ScoredPair(source=str(a), target=str(b), score=score - 0.001 * i)
            for i, (a, b) in enumerate(ds.test_pairs)]


def _model_edges(graph: Graph, config: AlignConfig) -> dict[tuple[str, str], tuple]:
    return {(e.source, e.target): (e.score, e.model, e.method)
            for e in read_edges(graph, config) if e.review is None}


def test_second_write_changes_nothing(graph: Graph, loaded: AlignConfig,
                                      kg_slice: datasets.KGDataset) -> None:
    pairs = _test_pairs(kg_slice)
    first = write_pairs(graph, loaded, pairs, V1, batch_size=7)
    assert first.created == len(pairs) and first.batches == -(-len(pairs) // 7)
    before = read_edges(graph, loaded)
    stamps = {(r["source"], r["target"]): (r["createdAt"], r["updatedAt"])
              for r in _raw_edges(graph, loaded)}
    second = write_pairs(graph, loaded, pairs, V1, batch_size=7)
    assert second.unchanged == len(pairs) and second.changed == 0
    assert read_edges(graph, loaded) == before
    assert {(r["source"], r["target"]): (r["createdAt"], r["updatedAt"])
            for r in _raw_edges(graph, loaded)} == stamps
    edge = read_edges(graph, loaded, model=V1.model)[0]
    assert edge.method == "name-similarity" and edge.review is None


def test_a_score_moved_in_its_last_digit_is_unchanged(graph: Graph, loaded: AlignConfig,
                                                       kg_slice: datasets.KGDataset) -> None:
    """Another process's arithmetic can move a score's sixth decimal, a review of another
    pair its fifth: a re-run with the same model leaves such an edge alone (a change below
    SCORE_TOLERANCE, 0.001); a real change of score is written."""
    from kgn_align.writeback import SCORE_TOLERANCE

    pairs = _test_pairs(kg_slice)
    write_pairs(graph, loaded, pairs, V1)
    jitter = [p.model_copy(update={"score": round(p.score + SCORE_TOLERANCE / 2, 6)}) for p in pairs]
    assert write_pairs(graph, loaded, jitter, V1).unchanged == len(pairs)
    assert _model_edges(graph, loaded) == {(p.source, p.target): (p.score, V1.model, V1.method) for p in pairs}
    moved = [p.model_copy(update={"score": p.score - 0.01}) for p in pairs[:3]]
    report = write_pairs(graph, loaded, moved, V1)
    assert (report.updated, report.unchanged) == (3, 0)


def _raw_edges(graph: Graph, config: AlignConfig) -> list[dict]:
    from kgn_align.writeback import EDGES_QUERY, selection

    identifiers, params = selection(config)
    return graph.read(EDGES_QUERY, {**params, "model": None}, identifiers)


def test_newer_model_updates_scores_without_duplicates(graph: Graph, loaded: AlignConfig,
                                                      kg_slice: datasets.KGDataset) -> None:
    pairs = _test_pairs(kg_slice)
    write_pairs(graph, loaded, pairs, V1)
    created = {(r["source"], r["target"]): r["createdAt"] for r in _raw_edges(graph, loaded)}
    newer = [p.model_copy(update={"score": round(p.score / 2, 4)}) for p in pairs]
    report = write_pairs(graph, loaded, newer, V2)
    assert report.updated == len(pairs) and report.created == 0
    edges = _model_edges(graph, loaded)
    assert len(edges) == len(pairs) == len(read_edges(graph, loaded, model=V2.model))
    assert edges == {(p.source, p.target): (p.score, V2.model, V2.method) for p in newer}
    raw = _raw_edges(graph, loaded)
    assert len(raw) == len({(r["source"], r["target"]) for r in raw})  # no duplicates
    for r in raw:  # createdAt kept, updatedAt moved
        if r["review"] is None:
            assert r["createdAt"] == created[(r["source"], r["target"])]
            assert r["updatedAt"] >= r["createdAt"]


def test_reviewed_edges_are_never_changed(graph: Graph, namespace: str, loaded: AlignConfig,
                                          kg_slice: datasets.KGDataset) -> None:
    accepted = [(str(a), str(b)) for a, b in kg_slice.train_pairs[:3]]
    rejected = (str(kg_slice.test_pairs[0][0]), str(kg_slice.test_pairs[0][1]))
    reverse = (str(kg_slice.test_pairs[1][0]), str(kg_slice.test_pairs[1][1]))
    g0, g1 = loaded.source.value, loaded.target.value
    graph.write("load_seed_pairs", {"rows": [{"source": rejected[0], "target": rejected[1],
                                              "review": "rejected"}],
                                    "source_graph": g0, "target_graph": g1, "origin": "person",
                                    "load_id": "t"},
                {"source_label": "Entity", "target_label": "Entity", "same_as": "SAME_AS"})
    # a person's edge pointing the other way (target -> source), also reviewed
    graph.write("load_seed_pairs", {"rows": [{"source": reverse[1], "target": reverse[0],
                                              "review": "accepted"}],
                                    "source_graph": g1, "target_graph": g0, "origin": "person",
                                    "load_id": "t"},
                {"source_label": "Entity", "target_label": "Entity", "same_as": "SAME_AS"})
    before = {(e.source, e.target): e for e in read_edges(graph, loaded) if e.review}
    pairs = [ScoredPair(source=s, target=t, score=0.99) for s, t in accepted + [rejected, reverse]]
    for stamp in (V1, V2):
        report = write_pairs(graph, loaded, pairs, stamp)
        assert report.reviewed == 4 and report.skipped == 1 and report.changed == 0
    after = {(e.source, e.target): e for e in read_edges(graph, loaded) if e.review}
    assert after == before
    assert after[rejected].review == "rejected" and after[rejected].score is None
    assert _model_edges(graph, loaded) == {}  # nothing created beside the reviewed edges


def test_accepted_pairs_rule_out_only_within_the_two_graphs(graph: Graph, namespace: str, loaded: AlignConfig,
                                                            kg_slice: datasets.KGDataset) -> None:
    """A source accepted for another target of *these* graphs gets no model edge, as does a
    target accepted for another source; a pair accepted with a node of a third graph (the
    same entities loaded again under another name) rules nothing out here."""
    third = loaders.preset_config(kg_slice, prefix=namespace + "third/")
    loaders.load_kg(graph, kg_slice, prefix=namespace + "third/")
    (s1, t1), (s2, t2), (s3, t3), (s4, t4), (s5, t5) = [(str(a), str(b)) for a, b in kg_slice.test_pairs[:5]]
    g0, g1, h0, h1 = loaded.source.value, loaded.target.value, third.source.value, third.target.value

    def accept(source: str, target: str, source_graph: str, target_graph: str) -> None:
        graph.write("load_seed_pairs", {"rows": [{"source": source, "target": target, "review": "accepted"}],
                                        "source_graph": source_graph, "target_graph": target_graph,
                                        "origin": "person", "load_id": "t"},
                    {"source_label": "Entity", "target_label": "Entity", "same_as": "SAME_AS"})

    accept(s1, t4, g0, h1)  # s1 accepted for a target of the third graph: (s1, t1) stays open
    accept(s4, t2, h0, g1)  # t2 accepted for a source of the third graph: (s2, t2) stays open
    accept(s3, t4, g0, g1)  # s3 accepted for another target here: (s3, t3) is ruled out
    accept(s4, t5, g0, g1)  # t5 accepted for another source here: (s5, t5) is ruled out
    pairs = [ScoredPair(source=s, target=t, score=0.9) for s, t in ((s1, t1), (s2, t2), (s3, t3), (s5, t5))]
    report = write_pairs(graph, loaded, pairs, V1)
    assert set(_model_edges(graph, loaded)) == {(s1, t1), (s2, t2)}
    assert report.created == 2 and report.skipped == 2


def test_failing_batch_leaves_nothing(graph: Graph, loaded: AlignConfig,
                                      kg_slice: datasets.KGDataset) -> None:
    """Rows 0-3 merge fine, row 4 fails on the server (a map is no property value):
    the batch is one transaction, so none of rows 0-3 lands either."""
    good = _test_pairs(kg_slice)[:6]
    rows = [{"source": p.source, "target": p.target, "score": p.score} for p in good]
    rows[4]["score"] = {"not": "a number"}
    name, params, identifiers = merge_step(loaded, rows, V1)
    with pytest.raises(GraphError):
        graph.write(name, params, identifiers)
    assert _model_edges(graph, loaded) == {}
    # the same batch, fixed, lands whole
    write_pairs(graph, loaded, good, V1)
    assert len(_model_edges(graph, loaded)) == 6


def test_unknown_keys_are_skipped_not_created(graph: Graph, loaded: AlignConfig) -> None:
    report = write_pairs(graph, loaded, [ScoredPair(source="no-such", target="key", score=0.9)], V1)
    assert report.skipped == 1 and report.created == 0
    assert _model_edges(graph, loaded) == {}


def test_sides_selected_by_label_alone(graph: Graph, loaded: AlignConfig,
                                       kg_slice: datasets.KGDataset) -> None:
    """A side without a property filter goes through the generic template; same rules.
    Here the target is "every Entity" (keys are unique across both sides of DBP15K)."""
    from kgn_align.config import GraphSide

    config = loaded.model_copy(update={"target": GraphSide(name="any", label="Entity")})
    pairs = _test_pairs(kg_slice)[:5]
    assert write_pairs(graph, config, pairs, V1).created == 5
    assert write_pairs(graph, config, pairs, V1).unchanged == 5
    assert len(_model_edges(graph, loaded)) == 5
    # a backfill that moves one source to another target retracts its old edge, through the
    # generic retraction template too
    from kgn_align.backfill import BackfillFilter, BackfillOptions, forget_run, run_backfill

    moved, elsewhere = pairs[0].source, pairs[1].target
    try:
        summary = run_backfill(
            graph, config, lambda keys: [ScoredPair(source=moved, target=elsewhere, score=0.9)]
            if moved in keys else [], V1, BackfillOptions(run_id="generic-retract"),
            BackfillFilter(keys=(moved,)))
    finally:
        forget_run(graph, "generic-retract")
    assert (summary.writes.created, summary.writes.retracted) == (1, 1)
    edges = _model_edges(graph, loaded)
    assert (moved, elsewhere) in edges and (moved, pairs[0].target) not in edges and len(edges) == 5
