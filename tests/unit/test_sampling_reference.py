"""The in-memory sampler against a deliberately naive re-implementation, plus its weights,
determinism and inclusion frequencies."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest
import torch
from scipy import stats

from kgn_align.neighborhood import DIR_IN, DIR_OUT
from kgn_align.sampling import candidates, keys as rk, lists_in_memory, sample_in_memory
from kgn_align.sampling.keys import P, node_hash, seed_offsets

FILM = [("film", "DIRECTED_BY", "director")] + [(f"actor{i}", "ACTED_IN", "film") for i in range(50)]


# -- a naive implementation: Python ints, dicts and sorted(), one node at a time ----------
def naive_u(hx: int, hm: int, d: int, seed: int) -> float:
    s1, s2 = seed_offsets(seed)

    def rot(t: int) -> int:
        return (t % 65536) * 32768 + t // 65536

    pair = ((hx * rk.M_NODE) % P + hm) % P
    t1 = (pair * rk.M1 + s1 + d) % P
    t2 = ((t1 * t1) % P + s2) % P
    t3 = (rot(t2) * rk.M2 + pair) % P
    t4 = (rot(t3) * rk.M3) % P
    for t in (pair * rk.M1 + s1 + d, t1 * t1, rot(t2) * rk.M2 + pair, rot(t3) * rk.M3):
        assert t < 2**63 - 1  # what Neo4j would need: no overflow anywhere
    return (t4 + 0.5) / P


def naive_list(edges, x, seed, weighted, skip="SAME_AS"):
    groups: dict[tuple[str, int], set[str]] = {}
    for h, r, t in edges:
        if r == skip or h == t:
            continue
        if h == x:
            groups.setdefault((r, DIR_OUT), set()).add(t)
        if t == x:
            groups.setdefault((r, DIR_IN), set()).add(h)
    scored = []
    for (r, d), members in groups.items():
        for m in members:
            u = naive_u(node_hash(x), node_hash(m), d, seed)
            key = (len(members) if weighted else 1) * -math.log(u)
            scored.append((key, r, d, m))
    return [(m, r, d) for _, r, d, m in sorted(scored)]


def naive_tree(edges, s, k1, k2, seed, weighted):
    """[(key, depth, parent position, rel, dir)] in TreeStore slot order."""
    slots = [(s, 0, -1, None, -1)]
    hop1 = naive_list(edges, s, seed, weighted)[:k1]
    slots += [(m, 1, 0, r, d) for m, r, d in hop1]
    for j, (p, _, _) in enumerate(hop1):
        slots += [(m, 2, 1 + j, r, d) for m, r, d in naive_list(edges, p, seed, weighted)[:k2]]
    return slots


def as_slots(store, t):
    lo, hi = int(store.tree_ptr[t]), int(store.tree_ptr[t + 1])
    rel = store.slot_rel[lo:hi].tolist()
    return [(store.keys[e], dep, par, store.relations[r] if r >= 0 else None, d)
            for e, dep, par, r, d in zip(store.slot_entity[lo:hi].tolist(),
                                         store.slot_depth[lo:hi].tolist(),
                                         store.slot_parent[lo:hi].tolist(), rel,
                                         store.slot_dir[lo:hi].tolist())]


def random_graph(rng: random.Random, n: int, m: int, types=("A", "B", "C", "SAME_AS")):
    nodes = [f"n{i}" for i in range(n)]
    return [(rng.choice(nodes), rng.choice(types), rng.choice(nodes)) for _ in range(m)], nodes


# -- tests ----------------------------------------------------------------------------------
def test_node_hash_is_stable_and_in_range():
    assert node_hash("film") == node_hash("film")
    assert 1 <= node_hash("") < P
    assert node_hash(42) == node_hash("42")
    values = [node_hash(f"k{i}") for i in range(1000)]
    assert len(set(values)) == 1000


def test_uniform_matches_naive_and_is_in_open_interval():
    rng = random.Random(1)
    hx = [rng.randrange(1, P) for _ in range(200)] + [P - 1, 1]
    hm = [rng.randrange(1, P) for _ in range(200)] + [P - 1, P - 1]
    d = [rng.randrange(2) for _ in range(202)]
    u = rk.uniform(hx, hm, d, seed=7)
    assert ((u > 0) & (u < 1)).all()
    assert u.tolist() == [naive_u(a, b, c, 7) for a, b, c in zip(hx, hm, d)]


def test_weights_are_inverse_counts_per_type_and_direction():
    edges = FILM + [("film", "ACTED_IN", "x")]  # an outgoing ACTED_IN: its own group
    _, table, relations = lists_in_memory(edges, cap=0)
    idx = {k: i for i, k in enumerate(table)}
    rel_of = {r: i for i, r in enumerate(relations)}
    head = np.array([idx[h] for h, _, _ in edges])
    rel = np.array([rel_of[r] for _, r, _ in edges])
    tail = np.array([idx[t] for _, _, t in edges])
    c = candidates(head, rel, tail, len(relations))
    film = c.node == idx["film"]
    weight = {table[m]: w for m, w in zip(c.nbr[film], c.weight[film])}
    assert weight["director"] == 1.0
    assert weight["x"] == 1.0
    assert all(weight[f"actor{i}"] == pytest.approx(1 / 50) for i in range(50))
    # seen from an actor: one film, weight 1
    a0 = c.node == idx["actor0"]
    assert c.weight[a0].tolist() == [1.0]


def test_parallel_relationships_and_self_loops_count_once_or_not_at_all():
    edges = [("a", "R", "b"), ("a", "R", "b"), ("a", "R", "a"), ("a", "R", "c")]
    lists, table, _ = lists_in_memory(edges, cap=10)
    a = table.index("a")
    got = sorted(table[i] for i in lists.nbr[lists.ptr[a]:lists.ptr[a + 1]])
    assert got == ["b", "c"]


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("caps", [(3, 2), (1, 1), (10, 10), (2, 0)])
def test_matches_naive_implementation_on_random_graphs(weighted, caps):
    k1, k2 = caps
    rng = random.Random(hash(caps) & 0xFFFF)
    for trial in range(5):
        edges, nodes = random_graph(rng, 25, 80)
        store = sample_in_memory(edges, nodes, k1, k2, seed=trial, weighted=weighted, keys=nodes)
        for t, s in enumerate(nodes):
            assert as_slots(store, t) == naive_tree(edges, s, k1, k2, trial, weighted)


def test_below_the_caps_trees_hold_the_whole_two_hop_neighbourhood():
    edges = [("a", "R", "b"), ("c", "R", "a"), ("b", "S", "d"), ("a", "SAME_AS", "z")]
    store = sample_in_memory(edges, ["a"], k1=10, k2=10, keys=["a", "b", "c", "d", "z"])
    slots = as_slots(store, 0)
    hop1 = sorted((k, r, d) for k, dep, _, r, d in slots if dep == 1)
    assert hop1 == [("b", "R", DIR_OUT), ("c", "R", DIR_IN)]
    hop2 = sorted((k, r, d) for k, dep, _, r, d in slots if dep == 2)
    assert hop2 == [("a", "R", DIR_OUT), ("a", "R", DIR_IN), ("d", "S", DIR_OUT)]
    assert "z" not in [k for k, *_ in slots]  # SAME_AS never followed


def test_followed_types_only():
    edges = [("a", "R", "b"), ("a", "S", "c")]
    store = sample_in_memory(edges, ["a"], relationship_types=["S"])
    assert [k for k, *_ in as_slots(store, 0)] == ["a", "c", "a"]


def test_deterministic_under_a_seed_and_different_across_seeds():
    edges, nodes = random_graph(random.Random(3), 200, 1500)
    one = sample_in_memory(edges, nodes, 5, 3, seed=11, keys=nodes)
    two = sample_in_memory(list(reversed(edges)), nodes, 5, 3, seed=11, keys=nodes)
    other = sample_in_memory(edges, nodes, 5, 3, seed=12, keys=nodes)
    assert torch.equal(one.slot_entity, two.slot_entity)
    assert torch.equal(one.tree_ptr, two.tree_ptr)
    assert not torch.equal(one.slot_entity, other.slot_entity)


def test_collate_gives_consistent_batches():
    edges, nodes = random_graph(random.Random(5), 50, 200)
    store = sample_in_memory(edges, nodes, 4, 3, keys=nodes)
    batch = store.collate([3, 0, 3])
    assert batch.num_trees == 3
    assert batch.depth[batch.seed].tolist() == [0, 0, 0]
    child, parent = batch.edge_index
    assert (batch.depth[child] == batch.depth[parent] + 1).all()
    assert (batch.tree[child] == batch.tree[parent]).all()
    assert batch.edge_index.shape[1] == batch.num_slots - batch.num_trees


# -- inclusion frequencies ------------------------------------------------------------------
def first_pick_counts(edges, x, seeds, weighted=True):
    counts: Counter[str] = Counter()
    for s in seeds:
        store = sample_in_memory(edges, [x], k1=1, k2=0, seed=s, weighted=weighted)
        counts[store.keys[int(store.slot_entity[1])]] += 1
    return counts


def chi_square_p(counts: Counter, expected: dict[str, float]) -> float:
    n = sum(counts.values())
    names = sorted(expected)
    obs = np.array([counts.get(k, 0) for k in names], dtype=float)
    exp = np.array([expected[k] * n for k in names])
    return float(stats.chisquare(obs, exp).pvalue)


@pytest.mark.parametrize(("edges", "node", "group_sizes"), [
    (FILM, "film", {"director": 1} | {f"actor{i}": 50 for i in range(50)}),
    ([("x", "A", "a0")] + [("x", "B", f"b{i}") for i in range(5)]
     + [(f"c{i}", "B", "x") for i in range(20)], "x",
     {"a0": 1} | {f"b{i}": 5 for i in range(5)} | {f"c{i}": 20 for i in range(20)}),
])
def test_single_draw_frequencies_match_inverse_count_weights(edges, node, group_sizes):
    """k = 1: P(m) = w(m) / sum(w); every (type, direction) group gets an equal share."""
    counts = first_pick_counts(edges, node, range(3000))
    total = sum(1 / c for c in group_sizes.values())
    weighted = {k: (1 / c) / total for k, c in group_sizes.items()}
    uniform = {k: 1 / len(group_sizes) for k in group_sizes}
    # group-level test (well powered) plus item-level test
    assert chi_square_p(counts, weighted) > 1e-3
    assert chi_square_p(counts, uniform) < 1e-6


def test_inclusion_frequencies_without_replacement_match_an_independent_race():
    """k1 = 5 of {director, 50 actors}: inclusion probabilities against a numpy-RNG race."""
    n_draws = 3000
    hits: Counter[str] = Counter()
    for s in range(n_draws):
        store = sample_in_memory(FILM, ["film"], k1=5, k2=0, seed=s)
        hits.update(store.keys[e] for e in store.slot_entity[1:].tolist())
    rng = np.random.default_rng(0)
    c = np.array([1] + [50] * 50, dtype=float)
    race = c * -np.log(rng.random((200_000, 51)))
    picked = np.argsort(race, axis=1)[:, :5]
    p = np.bincount(picked.ravel(), minlength=51) / 200_000
    p_director, p_actor = p[0], p[1:].mean()
    director = hits["director"] / n_draws
    actor = sum(v for k, v in hits.items() if k.startswith("actor")) / (50 * n_draws)
    assert director == pytest.approx(p_director, abs=4 * math.sqrt(p_director * (1 - p_director) / n_draws))
    assert actor == pytest.approx(p_actor, abs=0.01)
    assert p_director > 0.9 and director > 0.9  # a uniform sampler keeps it ~5/51 of the time
