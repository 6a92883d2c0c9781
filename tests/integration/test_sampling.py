"""The Cypher sampler on a real server against the in-memory reference.

Each test builds its graphs under its own ``namespace`` (``graph`` property prefix) and
the fixture deletes them afterwards.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable

import pytest

from kgn_align.config import AlignConfig, GraphSide, SamplingConfig
from kgn_align.graph import Graph
from kgn_align.loaders import ElementIds, ensure_constraints, write_edges, write_nodes
from kgn_align.neighborhood import TreeStore
from kgn_align.sampling import Sampler, SeedNotFound, sample_in_memory
from kgn_align.sampling.keys import HASH_PROPERTY

Edge = tuple[str, str, str]


def load(graph: Graph, g: str, keys: Iterable[str], edges: Iterable[Edge], label: str = "Entity",
         labels: dict[str, str] | None = None) -> None:
    """Nodes ``(:label {graph: g, key})`` (``labels`` overrides per key) and typed edges."""
    labels = labels or {}
    by_label: dict[str, list[dict]] = {}
    for k in keys:
        by_label.setdefault(labels.get(k, label), []).append({"key": k, "props": {"name": k}})
    ensure_constraints(graph, by_label)
    ids: ElementIds = {}
    for lab, rows in by_label.items():
        write_nodes(graph, g, lab, rows, ids, load_id="test")
    grouped: dict[tuple[str, str, str, str], list[dict]] = {}
    for h, r, t in edges:
        grouped.setdefault((g, labels.get(h, label), r, labels.get(t, label)), []).append(
            {"head": h, "tail": t, "relation": None})
    write_edges(graph, grouped, ids, load_id="test")


def cross(graph: Graph, ga: str, a: str, gb: str, b: str, rel: str) -> None:
    """One relationship from graph ``ga`` to graph ``gb`` (what a side filter must not follow)."""
    graph.write("load_seed_pairs", {"rows": [{"source": a, "target": b, "review": "accepted"}],
                                    "source_graph": ga, "target_graph": gb, "origin": "test",
                                    "load_id": "test"},
                {"source_label": "Entity", "target_label": "Entity", "same_as": rel})


def config(ns: str, **sampling: object) -> AlignConfig:
    return AlignConfig(source=GraphSide(name="a", label="Entity", property="graph", value=f"{ns}a"),
                       target=GraphSide(name="b", label="Entity", property="graph", value=f"{ns}b"),
                       sampling=SamplingConfig(**sampling))


def trees(store: TreeStore) -> list[list[tuple]]:
    """Each tree as [(key, depth, parent, relation name, direction)] (vocabulary-free)."""
    out = []
    for t in range(store.num_trees):
        lo, hi = int(store.tree_ptr[t]), int(store.tree_ptr[t + 1])
        out.append([(store.keys[e], d, p, store.relations[r] if r >= 0 else None, x)
                     for e, d, p, r, x in zip(store.slot_entity[lo:hi].tolist(), store.slot_depth[lo:hi].tolist(),
                                              store.slot_parent[lo:hi].tolist(), store.slot_rel[lo:hi].tolist(),
                                              store.slot_dir[lo:hi].tolist())])
    return out


def random_side(rng: random.Random, prefix: str, n: int, m: int,
                types: tuple[str, ...] = ("R", "S", "T")) -> tuple[list[str], list[Edge]]:
    keys = [f"{prefix}{i}" for i in range(n)]
    edges = list({(rng.choice(keys), rng.choice(types), rng.choice(keys)) for _ in range(m)})
    return keys, edges


@pytest.fixture
def two_sides(graph: Graph, namespace: str):
    """Side a and side b, random typed edges in each, plus SAME_AS and a typed relationship
    across (neither may be followed)."""
    rng = random.Random(7)
    keys_a, edges_a = random_side(rng, "a", 60, 220)
    keys_b, edges_b = random_side(rng, "b", 40, 120)
    load(graph, f"{namespace}a", keys_a, edges_a)
    load(graph, f"{namespace}b", keys_b, edges_b)
    for i in range(10):
        cross(graph, f"{namespace}a", f"a{i}", f"{namespace}b", f"b{i}", "SAME_AS")
        cross(graph, f"{namespace}a", f"a{i + 10}", f"{namespace}b", f"b{i}", "R")
    return keys_a, edges_a, keys_b, edges_b


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("caps", [(3, 2), (10, 10)])
def test_side_matches_in_memory_reference(graph: Graph, namespace: str, two_sides, caps, weighted) -> None:
    keys_a, edges_a, *_ = two_sides
    k1, k2 = caps
    sampler = Sampler(graph, config(namespace, k1=k1, k2=k2, seed=3, weighted=weighted, batch_size=17))
    store = sampler.sample_side("source")
    ref = sample_in_memory(edges_a, store.keys, k1, k2, seed=3, weighted=weighted, keys=store.keys)
    assert sorted(store.keys) == sorted(keys_a)  # nothing from side b
    assert trees(store) == trees(ref)
    assert sampler.stats.batches == 4  # 60 nodes in batches of 17


def test_few_seeds_match_whole_side(graph: Graph, namespace: str, two_sides) -> None:
    keys_a, *_ = two_sides
    cfg = config(namespace, k1=4, k2=3, batch_size=7)
    whole = Sampler(graph, cfg).sample_side("a")
    chosen = keys_a[5:25]
    few = Sampler(graph, cfg).sample_seeds("a", chosen)
    assert few.keys[: len(chosen)] == chosen
    position = {k: t for t, k in enumerate(whole.keys)}
    expected = trees(whole)
    assert trees(few) == [expected[whole.tree_of()[position[k]]] for k in chosen]


def test_a_load_checks_each_relationship_end_its_element_id_finds(graph: Graph, namespace: str) -> None:
    """A load finds a relationship's ends by the element ids its node batches returned, then
    checks each is the entity the row names (graph and key): an id that now names
    another node (deleted and reused between the batches), or the same key in another
    graph, links nothing. Without the check both rows below would link the wrong nodes."""
    g, other = f"{namespace}a", f"{namespace}z"
    ensure_constraints(graph, ["Entity"])
    ids: ElementIds = {}
    write_nodes(graph, g, "Entity", [{"key": k, "props": {"name": k}} for k in ("x", "y", "w")], ids, load_id="t")
    write_nodes(graph, other, "Entity", [{"key": "y", "props": {"name": "y"}}], ids, load_id="t")
    handed = dict(ids)
    handed[(g, "Entity", "x")] = ids[(g, "Entity", "w")]  # x's id is now w's
    write_edges(graph, {(g, "Entity", "R", "Entity"): [{"head": "x", "tail": "y", "relation": None},
                                                        {"head": "y", "tail": "w", "relation": None}]},
                handed, load_id="t")
    # y's id from the other graph
    write_edges(graph, {(g, "Entity", "S", "Entity"): [{"head": "w", "tail": "y", "relation": None}]},
                {**handed, (g, "Entity", "y"): ids[(other, "Entity", "y")]}, load_id="t")
    store = Sampler(graph, config(namespace)).sample_seeds("a", ["x", "y", "w"])
    hop1 = {tree[0][0]: sorted((key, rel, d) for key, depth, _, rel, d in tree if depth == 1)
            for tree in trees(store)}
    assert hop1["x"] == []
    assert [(key, rel) for key, rel, _ in hop1["y"]] == [("w", "R")]
    assert [(key, rel) for key, rel, _ in hop1["w"]] == [("y", "R")]


def test_below_the_caps_neighbourhoods_are_exact(graph: Graph, namespace: str) -> None:
    edges = [("film", "DIRECTED_BY", "dir"), ("a1", "ACTED_IN", "film"), ("a2", "ACTED_IN", "film"),
             ("dir", "BORN_IN", "paris")]
    load(graph, f"{namespace}a", ["film", "dir", "a1", "a2", "paris"], edges)
    store = Sampler(graph, config(namespace)).sample_seeds("a", ["film"])
    (tree,) = trees(store)
    assert sorted(s for s in tree if s[1] == 1) == [
        ("a1", 1, 0, "ACTED_IN", 1), ("a2", 1, 0, "ACTED_IN", 1), ("dir", 1, 0, "DIRECTED_BY", 0)]
    assert sorted(s[0] for s in tree if s[1] == 2) == ["film", "film", "film", "paris"]


def test_deterministic_and_seed_dependent(graph: Graph, namespace: str, two_sides) -> None:
    one = Sampler(graph, config(namespace, k1=2, k2=2, seed=1)).sample_side("a")
    again = Sampler(graph, config(namespace, k1=2, k2=2, seed=1, batch_size=9)).sample_side("a")
    other = Sampler(graph, config(namespace, k1=2, k2=2, seed=2)).sample_side("a")
    assert trees(one) == trees(again)
    assert trees(one) != trees(other)


def test_never_same_as_never_the_other_side(graph: Graph, namespace: str, two_sides) -> None:
    for side, own in (("a", "a"), ("b", "b")):
        sampler = Sampler(graph, config(namespace, k1=50, k2=50))
        for store in (sampler.sample_side(side), sampler.sample_seeds(side, [f"{own}{i}" for i in range(10)])):
            assert all(k.startswith(own) for k in store.keys)
            assert "SAME_AS" not in store.relations


def test_only_followed_types(graph: Graph, namespace: str, two_sides) -> None:
    cfg = config(namespace).model_copy(update={"relationship_types": ("S",)})
    store = Sampler(graph, cfg).sample_side("a")
    assert set(store.relations) <= {"S"}
    _, edges_a, *_ = two_sides
    ref = sample_in_memory(edges_a, store.keys, keys=store.keys, relationship_types=["S"])
    assert trees(store) == trees(ref)


def test_unknown_seed_is_an_error(graph: Graph, namespace: str, two_sides) -> None:
    with pytest.raises(SeedNotFound, match="1 key"):
        Sampler(graph, config(namespace)).sample_seeds("a", ["a1", "b1"])  # b1: other side


def test_hashes_are_written_once_and_repaired(graph: Graph, namespace: str) -> None:
    load(graph, f"{namespace}a", ["x", "y"], [("x", "R", "y")])
    sampler = Sampler(graph, config(namespace))
    sampler.prepare("a")
    graph.write("sampling_set_hash", {"rows": [{"id": sampler.prepare("a").ids[0], "hash": 1}]},
                {"hash_property": HASH_PROPERTY})
    before = Sampler(graph, config(namespace)).sample_side("a")
    ref = sample_in_memory([("x", "R", "y")], before.keys, keys=before.keys)
    assert trees(before) == trees(ref)  # the stale hash was rewritten before drawing


PAPER_LABELS = {"p1": "Paper", "p2": "Paper", "ann": "Author", "bob": "Author", "vldb": "Venue"}


def _papers(graph: Graph, namespace: str) -> tuple[dict[str, str], AlignConfig]:
    """Side ``a``: two papers with their authors and venue, which lack the side's label."""
    edges = [("p1", "AUTHORED_BY", "ann"), ("p1", "AUTHORED_BY", "bob"), ("p2", "AUTHORED_BY", "ann"),
             ("p1", "PUBLISHED_IN", "vldb")]
    load(graph, f"{namespace}a", list(PAPER_LABELS), edges, labels=PAPER_LABELS)
    cfg = AlignConfig(source=GraphSide(name="a", label="Paper", property="graph", value=f"{namespace}a"),
                      target=GraphSide(name="b", label="Paper", property="graph", value=f"{namespace}b"),
                      entity_labels=("Paper", "Author", "Venue"))
    return dict(PAPER_LABELS), cfg


def test_multi_label_side(graph: Graph, namespace: str) -> None:
    """A paper's authors and venue are on its side although they lack the side's label."""
    labels, cfg = _papers(graph, namespace)
    store = Sampler(graph, cfg).sample_side("a")
    assert sorted(store.keys[e] for e in store.tree_seed.tolist()) == ["p1", "p2"]
    assert sorted(store.types) == ["Author", "Paper", "Venue"]
    type_of = {k: store.types[t] for k, t in zip(store.keys, store.entity_type.tolist())}
    assert type_of == labels
    few = Sampler(graph, cfg).sample_seeds("a", ["p1"])
    assert {few.keys[e] for e in few.slot_entity.tolist()} == {"p1", "p2", "ann", "bob", "vldb"}


@pytest.mark.slow
def test_supernode_rows_stay_bounded(graph: Graph, namespace: str, record_property) -> None:
    """A hub with 100,000 neighbours: rows per tree stay within the caps."""
    n = 100_000
    leaves = [f"leaf{i}" for i in range(n)]
    # leaf -> hub: the loader's MERGE checks the head's relationships, so hub -> leaf would
    # make loading quadratic on ArcadeDB (147 s for 10k leaves, 4.6 s the other way round)
    edges = [(leaf, "LINKS", "hub") for leaf in leaves] + [("leaf0", "OTHER", "leaf1")]
    start = time.perf_counter()
    load(graph, f"{namespace}a", ["hub", *leaves], edges)
    record_property("load_s", round(time.perf_counter() - start, 2))
    k1, k2 = 10, 10
    sampler = Sampler(graph, config(namespace, k1=k1, k2=k2))
    sampler.prepare("a")  # hashes for 100k nodes: not what we time
    sampler.stats.__init__()
    start = time.perf_counter()
    store = sampler.sample_seeds("a", ["hub", "leaf0", "leaf5"])
    seconds = time.perf_counter() - start
    record_property("hub_trees_s", round(seconds, 3))
    record_property("hub_trees_rows", sampler.stats.rows)
    print(f"\nsupernode: 3 seeds incl. a 100k hub: {seconds:.2f}s, {sampler.stats.rows} rows")
    # hop 1: <= k1 per seed; hop 2: <= k2 per distinct hop-1 node (<= 3 * k1 of them)
    assert sampler.stats.rows <= 3 * k1 + 3 * k1 * k2
    hub_tree = trees(store)[0]
    assert sum(1 for s in hub_tree if s[1] == 1) == k1
    assert len(hub_tree) <= 1 + k1 + k1 * k2
    # the whole-side path: each node's list is capped at max(k1, k2)
    lists, _ = sampler.side_lists("a", sampler.prepare("a"))
    assert int(lists.lengths().max()) <= max(k1, k2)


def _hashed(connection, namespace: str) -> int:
    """Nodes under ``namespace`` that carry the sampler's hash property."""
    import neo4j

    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        return drv.execute_query(
            f"MATCH (n) WHERE n.graph STARTS WITH $ns AND n.{HASH_PROPERTY} IS NOT NULL "
            "RETURN count(n) AS n", ns=namespace, database_=connection.database).records[0]["n"]


@pytest.mark.parametrize("weighted", [True, False])
def test_without_stored_hashes_the_same_trees_and_nothing_written(
        graph: Graph, namespace: str, connection, two_sides, weighted: bool) -> None:
    """sampling.store_hash = false: no node gets a kgnHash, and both samplers (whole side,
    a few seeds) draw exactly the trees the stored-hash path draws."""
    keys_a, edges_a, keys_b, _ = two_sides
    chosen = keys_a[3:20]
    off = Sampler(graph, config(namespace, k1=3, k2=2, seed=5, weighted=weighted, batch_size=7,
                                store_hash=False))
    side_off, few_off = off.sample_side("a"), off.sample_seeds("a", chosen)
    side_b_off = off.sample_side("b")
    assert _hashed(connection, namespace) == 0
    assert off.stats.batches > 0 and off.stats.rows > 0
    on = Sampler(graph, config(namespace, k1=3, k2=2, seed=5, weighted=weighted, batch_size=7))
    side_on, few_on = on.sample_side("a"), on.sample_seeds("a", chosen)
    assert _hashed(connection, namespace) == len(keys_a)  # the default stores them
    assert side_off.keys == side_on.keys and trees(side_off) == trees(side_on)
    assert few_off.keys == few_on.keys and trees(few_off) == trees(few_on)
    assert trees(side_b_off) == trees(on.sample_side("b"))
    ref = sample_in_memory(edges_a, side_off.keys, 3, 2, seed=5, weighted=weighted, keys=side_off.keys)
    assert trees(side_off) == trees(ref)
    # stored hashes, stale or not, do not change what the hash-free path draws
    graph.write("sampling_set_hash", {"rows": [{"id": on.prepare("a").ids[0], "hash": 1}]},
                {"hash_property": HASH_PROPERTY})
    assert trees(Sampler(graph, off.config).sample_side("a")) == trees(side_on)


@pytest.mark.parametrize("store_hash", [True, False])
def test_nodes_without_a_key_are_never_neighbours(graph: Graph, namespace: str, connection, two_sides,
                                                  store_hash: bool) -> None:
    """Nodes of the side without the key property are no entities: they are left out of
    every neighbour list, stored hashes or not (without them the hash-free path crashed on
    lists of unequal length, and the tree path paired later neighbours with shifted keys),
    and the trees are those of the graph without them."""
    import neo4j

    keys_a, edges_a, *_ = two_sides
    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        drv.execute_query("MATCH (a:Entity {graph: $g}) WHERE a.key IN $keys "
                          "CREATE (a)-[:R0]->(:Extra {graph: $g, name: 'no key'})<-[:R1]-(a)",
                          g=f"{namespace}a", keys=keys_a[:12], database_=connection.database)
    sampler = Sampler(graph, config(namespace, k1=3, k2=2, seed=5, batch_size=7, store_hash=store_hash))
    whole, few = sampler.sample_side("a"), sampler.sample_seeds("a", keys_a[:12])
    ref = sample_in_memory(edges_a, whole.keys, 3, 2, seed=5, keys=whole.keys)
    assert sorted(whole.keys) == sorted(keys_a) and trees(whole) == trees(ref)
    assert "None" not in few.keys
    assert trees(few) == trees(sample_in_memory(edges_a, keys_a[:12], 3, 2, seed=5, keys=whole.keys))


def test_without_stored_hashes_unknown_seeds_and_multi_label_sides(graph: Graph, namespace: str,
                                                                   connection) -> None:
    labels, cfg = _papers(graph, namespace)
    off = cfg.model_copy(update={"sampling": SamplingConfig(store_hash=False)})
    with pytest.raises(SeedNotFound, match="1 key"):
        Sampler(graph, off).sample_seeds("a", ["p1", "ann"])  # ann: no Paper
    few = Sampler(graph, off).sample_seeds("a", ["p1", "p2"])
    whole = Sampler(graph, off).sample_side("a")
    assert _hashed(connection, namespace) == 0
    on = Sampler(graph, cfg)
    assert trees(whole) == trees(on.sample_side("a"))  # writes the hashes first
    assert trees(few) == trees(on.sample_seeds("a", ["p1", "p2"]))
    assert {few.types[t] for t in few.entity_type.tolist()} == {"Paper", "Author", "Venue"}
