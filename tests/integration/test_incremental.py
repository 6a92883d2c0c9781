"""The worker keeps the pair model's scores between 'changed' jobs and drops those a change
touched: the kept scores must equal what a fresh scorer computes on the changed graph."""

from __future__ import annotations

from pathlib import Path

import neo4j
import pytest
import torch

from kgn_align import datasets, loaders
from kgn_align.changes import forget_changed, stale_keys
from kgn_align.graph import Graph
from kgn_align.scoring import ModelScorer, ScoringCache
from kgn_align.snapshot import refreshed, take
from kgn_align.training import TrainConfig
from kgn_align.workflows import train_model
from kgn_align.writeback import labelled_pairs

pytestmark = pytest.mark.slow


def test_kept_scores_equal_fresh_ones_after_a_change(graph: Graph, namespace: str, connection,
                                                     tmp_path: Path) -> None:
    """The worker's path after an edit — the kept snapshot refreshed from the changed node,
    the kept cache purged of what the change moves — gives the candidates, pair scores,
    blocking vectors and edge probabilities a fresh scorer computes on a fresh snapshot."""
    ds = datasets.read_kg("dbp15k_fr_en").slice(200)
    loaders.load_kg(graph, ds, prefix=namespace)
    config = loaders.preset_config(ds, prefix=namespace)
    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as driver:
        # three sources without a name: their own logit weight and calibrator are kept too
        driver.execute_query("UNWIND $keys AS k MATCH (n:Entity {graph: $g, key: k}) REMOVE n.name, n.name_en",
                             keys=[str(a) for a, _ in ds.test_pairs[:3]], g=config.source.value,
                             database_=connection.database)
    snapshot = take(graph, config)
    trained = train_model(graph, config, tmp_path / "models", snapshot=snapshot,
                          train_config=TrainConfig(epochs=1, max_steps=20))
    labelled = labelled_pairs(graph, config)
    cache = ScoringCache()
    first = ModelScorer(snapshot, trained, labelled=labelled, cache=cache).alignment  # fills it
    assert cache.logits and cache.candidates.lists and cache.blocking is not None
    weights = {"beta": first.beta, "nameless_beta": first.nameless_beta}
    assert cache.nameless is not None and cache.nameless.logit is not None
    # a person renames one source entity that has candidates and neighbours (whose trees
    # hold it: their pairs' scores and blocking vectors move too)
    linked = set(snapshot.source.store.edges()[1].tolist())
    edited = next(a for a, _ in cache.logits if snapshot.source.aligned_row[a] in linked)
    element_id = snapshot.source.table.ids[snapshot.source.aligned_row[edited]]
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as driver:
        driver.execute_query("MATCH (n:Entity {graph: $g, key: $k}) SET n.name_en = 'Zz renamed entity', "
                             "n.name = 'Zz renamed entity'", g=config.source.value, k=edited,
                             database_=connection.database)
    stale_copy = dict(cache.logits)
    # the worker keeps the logit weights, pseudo-seeds and targets' CSLS hubness it chose (a
    # setting for the whole graph, chosen again by a whole-side backfill): the fresh scorer
    # is given the same ones
    assert cache.pseudo_seeds.get("cg-mualign") and cache.hubness.get("cg-mualign")
    fresh_scorer = ModelScorer(take(graph, config), trained, labelled=labelled,
                               pseudo=cache.pseudo_seeds["cg-mualign"], hubness=cache.hubness["cg-mualign"])
    fresh = fresh_scorer.align(**weights)
    after = refreshed(graph, snapshot, [element_id])
    assert after is not None and after.parent == snapshot.token
    scorer = ModelScorer(after, trained, labelled=labelled, cache=cache)
    stale = stale_keys(scorer, [element_id])
    assert edited in stale[0]
    keys = forget_changed(scorer, [element_id])
    assert edited in keys
    assert len(cache.logits) < len(stale_copy)
    # only the dirty rows were computed again, to the values a full computation gives
    assert 0 < after.source.dirty.numel() < len(after.source.table)
    assert torch.allclose(scorer.block_a, fresh_scorer.block_a, atol=1e-6)
    assert torch.allclose(scorer.block_b, fresh_scorer.block_b, atol=1e-6)
    kept = scorer.alignment
    assert torch.equal(kept.matrix.row, fresh.matrix.row) and torch.equal(kept.matrix.col, fresh.matrix.col)
    # equal up to the last bits a matmul takes from the shape of its batch
    assert torch.allclose(kept.logit, fresh.logit, rtol=1e-5, atol=1e-4)
    assert torch.allclose(kept.prob, fresh.prob, atol=1e-4)
    assert (kept.beta, kept.nameless_beta) == (first.beta, first.nameless_beta)
    assert first.nameless_beta is not None
    # without forgetting, pairs whose trees hold the renamed entity would keep old scores
    s_keys, t_keys = after.source.table.keys, after.target.table.keys
    moved = [abs(stale_copy[(s_keys[a], t_keys[b])] - float(v))
             for a, b, v in zip(fresh.matrix.row.tolist(), fresh.matrix.col.tolist(), fresh.logit)
             if (s_keys[a], t_keys[b]) in stale_copy and (s_keys[a] in stale[0] or t_keys[b] in stale[1])]
    assert moved and max(moved) > 1e-3


def _same_snapshot(a, b) -> None:
    for x, y in ((a.source, b.source), (a.target, b.target)):
        assert x.table.ids == y.table.ids
        assert x.names == y.names and x.labels == y.labels
        sx, sy = x.store, y.store
        for field in ("tree_ptr", "tree_seed", "slot_entity", "slot_depth", "slot_parent", "slot_dir"):
            assert torch.equal(getattr(sx, field), getattr(sy, field)), field
        # relation ids are per-vocabulary: compare the names
        assert [sx.relations[i] for i in sx.slot_rel[sx.slot_rel >= 0].tolist()] == \
               [sy.relations[i] for i in sy.slot_rel[sy.slot_rel >= 0].tolist()]


def test_a_refreshed_snapshot_equals_a_fresh_one(graph: Graph, namespace: str, connection) -> None:
    """After a rename, a new link and its deletion, refreshing the kept snapshot from the changed nodes
    alone gives the trees and names a full sampling gives; a node new on a side cannot be
    refreshed in (the worker then samples again)."""
    ds = datasets.read_kg("dbp15k_fr_en").slice(200)
    loaders.load_kg(graph, ds, prefix=namespace)
    config = loaders.preset_config(ds, prefix=namespace)
    before = take(graph, config)
    src = before.source
    linked = src.store.edges()
    renamed = src.table.keys[int(linked[1][0])]  # a neighbour in someone's tree
    lone = src.store.tree_seed[src.store.tree_ptr.diff() == 1][:2]  # seeds without neighbours
    a, b = (src.table.keys[int(r)] for r in lone)
    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as driver:
        run = lambda q, **p: driver.execute_query(q, database_=connection.database, **p).records  # noqa: E731
        run("MATCH (n:Entity {graph: $g, key: $k}) SET n.name_en = 'Zz renamed', n.name = 'Zz renamed'",
            g=config.source.value, k=renamed)
        # two entities with no neighbours so far get linked: both trees change
        run("MATCH (x:Entity {graph: $g, key: $a}), (y:Entity {graph: $g, key: $b}) "
            "CREATE (x)-[:R_new_link {relation: 'new_link'}]->(y)", g=config.source.value, a=a, b=b)
        ids = [r["id"] for r in run("MATCH (n:Entity {graph: $g}) WHERE n.key IN $keys RETURN elementId(n) AS id",
                                    g=config.source.value, keys=[renamed, a, b])]
        assert len(ids) == 3
        after = refreshed(graph, before, ids)
        assert after is not None
        _same_snapshot(after, take(graph, config))
        assert after.source.names != before.source.names
        assert not torch.equal(after.source.store.tree_ptr, before.source.store.tree_ptr)
        # the link deleted again (the plugin's change capture names both ends): refreshed
        # from those, the trees are again what a full sampling gives
        run("MATCH (:Entity {graph: $g, key: $a})-[r:R_new_link]->() DELETE r", g=config.source.value, a=a)
        again = refreshed(graph, after, ids)
        assert again is not None
        _same_snapshot(again, take(graph, config))
        assert torch.equal(again.source.store.tree_ptr, before.source.store.tree_ptr)
        created = run("CREATE (n:Entity {graph: $g, key: 'zz-new', name: 'Zz new'}) RETURN elementId(n) AS id",
                      g=config.source.value)[0]["id"]
    assert refreshed(graph, after, [created]) is None


def test_kept_candidates_follow_aligned_neighbours_a_new_link_moves(graph: Graph, namespace: str, connection,
                                                                    tmp_path: Path) -> None:
    """A new relationship between two aligned source entities hands each one's anchor to
    the other's neighbours, two hops away (:mod:`kgn_align.seed_propagation`): the worker's
    kept blocking and alignment must equal a fresh one's. (On this slice every moved anchor
    sits in a tree the change touched, so the trees' rule alone would do here;
    ``tests/unit/test_scoring_cache.py`` shows the anchors' own rule.)"""
    ds = datasets.read_kg("dbp15k_fr_en").slice(300)
    loaders.load_kg(graph, ds, prefix=namespace)
    config = loaders.preset_config(ds, prefix=namespace)
    snapshot = take(graph, config)
    trained = train_model(graph, config, tmp_path / "models", snapshot=snapshot,
                          train_config=TrainConfig(epochs=1, max_steps=10))
    labelled = labelled_pairs(graph, config)
    cache = ScoringCache()
    first = ModelScorer(snapshot, trained, labelled=labelled, cache=cache)
    first.alignment  # fills the cache
    src = snapshot.source
    # two aligned sources, not linked yet; the first next to a busy entity, whose trees
    # (its first few neighbours at hop 2) likely miss it: their anchors move all the same
    edges = src.store.edges()
    adjacent = set(map(tuple, edges.t().tolist()))
    degree = torch.from_numpy(src.lists.lengths())
    anchored = sorted(first.seed_anchors)

    def busiest_neighbour(key: str) -> int:
        row = src.aligned_row[key]
        around = edges[1][edges[0] == row]
        return int(degree[around].max()) if around.numel() else 0

    x = max((a for a, _ in anchored), key=busiest_neighbour)
    y = next(a for a, _ in anchored if a != x and (src.aligned_row[x], src.aligned_row[a]) not in adjacent
             and (src.aligned_row[a], src.aligned_row[x]) not in adjacent)
    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as driver:
        driver.execute_query("MATCH (x:Entity {graph: $g, key: $x}), (y:Entity {graph: $g, key: $y}) "
                             "CREATE (x)-[:R_new_link {relation: 'new_link'}]->(y)",
                             g=config.source.value, x=x, y=y, database_=connection.database)
    ids = [src.table.ids[src.aligned_row[k]] for k in (x, y)]
    after = refreshed(graph, snapshot, ids)
    assert after is not None
    scorer = ModelScorer(after, trained, labelled=labelled, cache=cache)
    forget_changed(scorer, ids)
    moved = (first.anchor_a != scorer.anchor_a).any(dim=1).nonzero(as_tuple=True)[0].tolist()
    assert {after.source.table.keys[r] for r in moved} - {x, y}, "the link moved no anchor beyond its ends"
    # with the pseudo-seeds, hubness and logit weights the worker kept (chosen again only by
    # a whole-side backfill)
    fresh = ModelScorer(take(graph, config), trained, labelled=labelled,
                        pseudo=cache.pseudo_seeds["cg-mualign"], hubness=cache.hubness["cg-mualign"])
    assert torch.allclose(scorer.block_a, fresh.block_a, atol=1e-6)
    before = first.alignment
    kept, new = scorer.alignment, fresh.align(beta=before.beta, nameless_beta=before.nameless_beta)
    assert kept.beta == before.beta
    assert torch.equal(kept.matrix.row, new.matrix.row) and torch.equal(kept.matrix.col, new.matrix.col)
    assert torch.allclose(kept.cosine, new.cosine, atol=1e-6)
    assert torch.allclose(kept.prob, new.prob, atol=1e-4)
