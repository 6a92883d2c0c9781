"""Blocking: ANN top-k against brute force, type restriction, recall@k."""

from __future__ import annotations

import pytest
import torch

from kgn_align.candidates import Candidates, candidate_pairs, dense_topk, recall_at_k, search


def _ann(name: str) -> object:
    """A backend id that skips when its optional library is missing."""
    module = {"hnsw": "hnswlib", "faiss": "faiss"}.get(name)
    if module is None:
        return name
    try:
        __import__(module)
    except ImportError:
        return pytest.param(name, marks=pytest.mark.skip(reason=f"{module} is not installed"))
    return name


ANN = [_ann("hnsw"), _ann("faiss")]


def unit(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)


def brute(source: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    sim = source @ target.T
    return torch.argsort(-sim, dim=1)[:, :k]


def test_exact_matches_brute_force_in_any_chunking() -> None:
    s, t = unit(300, 16, 0), unit(200, 16, 1)
    sim, idx = dense_topk(s, t, 10, chunk=7)
    assert torch.equal(idx, brute(s, t, 10))
    assert torch.allclose(sim, torch.gather(s @ t.T, 1, idx))
    assert torch.all(sim[:, :-1] >= sim[:, 1:])


@pytest.mark.parametrize("low_precision", [True, False])
def test_exact_search_stays_exact_among_keys_bfloat16_cannot_tell_apart(low_precision: bool) -> None:
    """Clusters of 300 keys whose scores differ by less than bfloat16's rounding (~0.004)
    but far more than float32's: the bfloat16 shortlist alone would rank them wrongly (checked
    here), so the search must notice and rank those queries in float32; the answer is the
    float64 brute force either way, scores included."""
    g = torch.Generator().manual_seed(7)
    base = torch.nn.functional.normalize(torch.randn(4, 64, generator=g), dim=-1)
    keys = torch.nn.functional.normalize(base.repeat_interleave(300, 0)
                                         + 1e-2 * torch.randn(1200, 64, generator=g), dim=-1)
    queries = torch.nn.functional.normalize(base + 1e-2 * torch.randn(4, 64, generator=g), dim=-1)
    truth = queries.double() @ keys.double().T
    want = torch.argsort(-truth, dim=1)[:, :10]
    rough = (queries.bfloat16() @ keys.bfloat16().T).float()
    assert not torch.equal(torch.topk(rough, 10, dim=1).indices, want)  # the case is hard
    sim, idx = dense_topk(queries, keys, 10, low_precision=low_precision)
    assert torch.equal(idx, want)
    assert torch.allclose(sim.double(), truth.gather(1, want), atol=1e-6)


def test_scores_do_not_depend_on_the_chunk_or_the_query_rows() -> None:
    """One pair, one score, bit for bit (the bfloat16 search, the default where the CPU has
    it): a worker searching one changed source and a backfill searching every source give
    that source the same similarities."""
    s, t = unit(300, 48, 8), unit(500, 48, 9)
    whole_sim, whole_idx = dense_topk(s, t, 10, low_precision=True)
    for chunk, rows in ((7, None), (1, torch.tensor([5, 299, 5, 0]))):
        sim, idx = dense_topk(s, t, 10, chunk=chunk, query_rows=rows, low_precision=True)
        picked = slice(None) if rows is None else rows
        assert torch.equal(idx, whole_idx[picked]) and torch.equal(sim, whole_sim[picked])


@pytest.mark.parametrize("ann", ANN)
def test_ann_agrees_with_brute_force(ann: str) -> None:
    s, t = unit(500, 32, 2), unit(2000, 32, 3)
    got = search(s, t, 10, backend=ann, ef_search=200)
    want = brute(s, t, 10)
    overlap = sum(len(set(a) & set(b)) for a, b in zip(got.index.tolist(), want.tolist()))
    assert overlap / want.numel() > 0.97
    # similarities are the true cosines of the returned rows
    assert torch.allclose(got.similarity, torch.gather(s @ t.T, 1, got.index), atol=1e-4)


@pytest.mark.parametrize("ann", ANN)
def test_ann_is_deterministic(ann: str) -> None:
    s, t = unit(200, 16, 4), unit(800, 16, 5)
    a, b = search(s, t, 5, backend=ann), search(s, t, 5, backend=ann)
    assert torch.equal(a.index, b.index)


@pytest.mark.parametrize("ann", ["exact", *ANN])
def test_candidates_only_of_the_same_type(ann: str) -> None:
    s, t = unit(120, 8, 6), unit(90, 8, 7)
    s_types = torch.arange(120) % 3
    t_types = torch.arange(90) % 2  # no target of type 2
    got = search(s, t, 20, source_types=s_types, target_types=t_types, backend=ann)
    for row in range(120):
        cands = got.index[row]
        if s_types[row] == 2:
            assert torch.all(cands == -1) and torch.all(got.similarity[row] == float("-inf"))
        else:
            assert torch.all(cands >= 0)
            assert torch.all(t_types[cands] == s_types[row])
    # restricted exact search equals brute force within the type
    exact = search(s, t, 20, source_types=s_types, target_types=t_types, backend="exact")
    rows0 = torch.nonzero(s_types == 0, as_tuple=True)[0]
    cols0 = torch.nonzero(t_types == 0, as_tuple=True)[0]
    assert torch.equal(exact.index[rows0], cols0[brute(s[rows0], t[cols0], 20)])


def test_fewer_targets_than_k_are_padded() -> None:
    got = search(unit(4, 8, 8), unit(3, 8, 9), 5)
    assert got.k == 5
    assert torch.all(got.index[:, 3:] == -1) and torch.all(got.index[:, :3] >= 0)
    assert len(list(got.pairs())) == 12


def test_recall_at_k() -> None:
    index = torch.tensor([[3, 1, 2], [0, 2, 1], [1, 0, -1]])
    cands = Candidates(index=index, similarity=torch.zeros(3, 3))
    gold = [(0, 3), (1, 2), (2, 4)]  # hit at rank 1, hit at rank 2, miss
    assert recall_at_k(cands, gold, ks=(1, 2, 10)) == {1: 1 / 3, 2: 2 / 3, 10: 2 / 3}
    with pytest.raises(ValueError):
        recall_at_k(cands, [])


def test_identical_embeddings_have_perfect_recall() -> None:
    t = unit(400, 24, 10)
    perm = torch.randperm(400, generator=torch.Generator().manual_seed(0))
    s = t[perm] + 0.01 * unit(400, 24, 11)
    got = search(torch.nn.functional.normalize(s, dim=-1), t, 1, backend="hnsw")
    gold = list(zip(range(400), perm.tolist()))
    assert recall_at_k(got, gold, ks=(1,)) == {1: 1.0}


def test_bad_arguments_raise_value_error() -> None:
    s, t = unit(4, 8, 0), unit(4, 6, 1)
    with pytest.raises(ValueError, match="dimension"):
        search(s, t, 2)
    with pytest.raises(ValueError, match="both sides"):
        search(s, unit(4, 8, 1), 2, source_types=torch.zeros(4))
    with pytest.raises(ValueError):
        search(s, unit(4, 8, 1), 0)
    with pytest.raises(ValueError, match="backend"):
        search(s, unit(4, 8, 1), 2, backend="annoy")  # type: ignore[arg-type]


def test_candidate_pairs_carry_keys() -> None:
    got = search(unit(2, 4, 0), unit(3, 4, 1), 2)
    pairs = candidate_pairs(got, ["a", "b"], ["x", "y", "z"])
    assert len(pairs) == 4 and {p.source for p in pairs} == {"a", "b"}
    assert {p.target for p in pairs} <= {"x", "y", "z"}


def test_search_pool_answers_in_rows_of_the_whole_target_table() -> None:
    from kgn_align.candidates import search_pool

    target = torch.nn.functional.normalize(torch.randn(10, 8, generator=torch.Generator().manual_seed(3)), dim=-1)
    source = target[[7, 2, 5]].clone()  # each source is a copy of one target
    pool = torch.tensor([2, 5, 7, 9])
    types_t = torch.tensor([0, 0, 0, 0, 0, 1, 0, 0, 0, 1])  # rows 5 and 9 are another type
    types_s = torch.tensor([0, 0, 1])
    found = search_pool(source, target, torch.tensor([0, 1, 2]), pool, 3,
                        source_types=types_s, target_types=types_t)
    assert found.index[:, 0].tolist() == [7, 2, 5]  # its own copy first, as a whole-table row
    assert set(found.index[0].tolist()) == {7, 2, -1}  # only type-0 rows of the pool, padded
    assert set(found.index[2].tolist()) == {5, 9, -1}
    assert not bool(torch.isin(found.index, torch.tensor([0, 1, 3, 4, 6, 8])).any())  # never outside the pool


def test_cached_search_reuses_lists_and_searches_only_what_was_forgotten() -> None:
    """A worker's blocking cache: the same candidates as a full search, searching only the
    sources it holds no list for; a changed pool or k starts afresh."""
    from kgn_align.candidates import CandidateCache, search_cached, search_pool

    gen = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(30, 8, generator=gen), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(40, 8, generator=gen), dim=-1)
    s_keys, t_keys = [f"s{i}" for i in range(30)], [f"t{i}" for i in range(40)]
    sources, pool = torch.arange(0, 30, 2), torch.arange(5, 40)
    searched: list[int] = []

    def search_fn(rows: torch.Tensor, among: torch.Tensor = pool):
        searched.extend(rows.tolist())
        return search_pool(a, b, rows, among, 4)

    full = search_pool(a, b, sources, pool, 4)
    cache = CandidateCache()
    first = search_cached(cache, s_keys, t_keys, sources, pool, 4, search_fn)
    assert torch.equal(first.index, full.index) and torch.allclose(first.similarity, full.similarity)
    assert sorted(searched) == sources.tolist()
    searched.clear()
    again = search_cached(cache, s_keys, t_keys, sources, pool, 4, search_fn)
    assert searched == [] and torch.equal(again.index, full.index)
    target = t_keys[int(full.index[3, 0])]
    holders = {s_keys[int(s)] for s, row in zip(sources, full.index) if target in {t_keys[int(t)] for t in row}}
    assert cache.forget(sources=["s0"], targets=[target]) == len(holders | {"s0"})
    search_cached(cache, s_keys, t_keys, sources, pool, 4, search_fn)
    assert {s_keys[r] for r in searched} == holders | {"s0"}
    searched.clear()
    other = torch.arange(6, 40)
    search_cached(cache, s_keys, t_keys, sources, other, 4,
                  lambda rows: search_fn(rows, other))  # another pool: every source again
    assert sorted(searched) == sources.tolist()


def test_query_rows_read_a_chunk_at_a_time_give_the_rows_own_answers() -> None:
    s, t = unit(300, 16, 4), unit(200, 16, 5)
    rows = torch.tensor([299, 0, 17, 17, 150])
    sim, idx = dense_topk(s, t, 10, chunk=2, query_rows=rows)
    whole_sim, whole_idx = dense_topk(s, t, 10)
    assert torch.equal(idx, whole_idx[rows])
    assert torch.allclose(sim, whole_sim[rows], atol=1e-6)  # float32 mode: BLAS may round a chunk apart


@pytest.mark.parametrize("kind", ["exact"] + ANN)
def test_search_pool_equals_search_over_the_gathered_rows(kind: str) -> None:
    """search_pool reads the source rows and the pool in place of copies of them: the same
    candidates as searching copies, mapped to whole-table rows."""
    from kgn_align.candidates import search_pool

    s, t = unit(120, 16, 6), unit(90, 16, 7)
    types_s, types_t = torch.arange(120) % 3, torch.arange(90) % 3
    sources, pool = torch.tensor([5, 99, 3, 60, 61]), torch.arange(0, 90, 2)
    found = search_pool(s, t, sources, pool, 4, source_types=types_s, target_types=types_t, backend=kind)
    copies = search(s[sources], t[pool], 4, source_types=types_s[sources], target_types=types_t[pool],
                    backend=kind)
    expected = torch.where(copies.index >= 0, pool[copies.index.clamp(min=0)], copies.index)
    assert torch.equal(found.index, expected)
    assert torch.allclose(found.similarity, copies.similarity, atol=1e-6)
    whole = search_pool(s, t, sources, torch.arange(90), 4, source_types=types_s, target_types=types_t,
                        backend=kind)  # the whole table as the pool: no copy at all
    assert torch.equal(whole.index, search(s, t, 4, source_types=types_s, target_types=types_t,
                                           backend=kind).index[sources])


def test_hubness_is_the_mean_cosine_of_each_targets_nearest_sources() -> None:
    """r_t of CSLS: the mean of each target row's k highest cosines among the source rows
    given (of its type); fewer where its type has fewer, 0 with none."""
    from kgn_align.candidates import hubness

    a, b = unit(50, 16, 1), unit(30, 16, 2)
    targets, sources = torch.arange(5, 30), torch.arange(0, 50, 2)
    r = hubness(b, a, targets, sources, k=4)
    expected = (b[targets] @ a[sources].T).topk(4, dim=1).values.mean(dim=1)
    assert torch.allclose(r, expected, atol=1e-6)
    # a type with two sources: the mean of two; a type with none: 0
    a_types, b_types = torch.zeros(50, dtype=torch.long), torch.zeros(30, dtype=torch.long)
    a_types[[0, 2]], b_types[5], b_types[6] = 1, 1, 2
    typed = hubness(b, a, targets, sources, k=4, target_types=b_types, source_types=a_types)
    assert typed[0] == pytest.approx(float((b[5] @ a[[0, 2]].T).mean()), abs=1e-6)
    assert typed[1] == 0.0


def test_csls_keeps_a_hub_target_from_crowding_out_the_matches() -> None:
    """A target near every source (a hub) tops each plain-cosine list and pushes a true
    match out of a list of one; ranked by CSLS (cos - r_t / 2), every source's own match
    comes first. Similarities handed on stay the plain cosines."""
    from kgn_align.candidates import CslsSearch, hubness, search_pool

    gen = torch.Generator().manual_seed(3)
    n, d = 12, 32
    matches = unit(n, d, 4)
    # each source: its match plus a shared direction, which the hub target is made of
    shared = torch.nn.functional.normalize(torch.randn(d, generator=gen), dim=0)
    sources = torch.nn.functional.normalize(matches + 1.2 * shared, dim=-1)
    hub = torch.nn.functional.normalize(shared + 0.4 * matches.mean(dim=0), dim=0)
    targets = torch.cat([matches, hub[None]])
    rows, pool = torch.arange(n), torch.arange(n + 1)
    plain = search_pool(sources, targets, rows, pool, 1)
    assert (plain.index[:, 0] == n).float().mean() > 0.5, "the example needs a hub"
    r = hubness(targets, sources, pool, rows, k=3)
    assert int(r.argmax()) == n
    found = CslsSearch(sources, targets, r).search(rows, pool, 2)
    assert torch.equal(found.index[:, 0], rows)
    cos = (sources[:, None, :] * targets[found.index]).sum(-1)
    assert torch.allclose(found.similarity, cos, atol=1e-5)
    # among part of the targets: rows of the whole target table, as search_pool answers
    part = CslsSearch(sources, targets, r).search(rows, torch.arange(1, n + 1), 1)
    assert torch.equal(part.index[1:, 0], rows[1:]) and int(part.index[0, 0]) != 0
    # searching with other query vectors: the same as building with them
    again = CslsSearch(sources, targets, r).search(torch.arange(3), pool, 2, queries=sources[5:8])
    assert torch.equal(again.index, found.index[5:8])


def test_a_cached_search_starts_afresh_when_the_hubness_changes() -> None:
    """Lists ranked by CSLS hold for one set of hubness values: other values search every
    source again; the same values reuse every list."""
    from kgn_align.candidates import CandidateCache, search_cached, search_pool

    a, b = unit(10, 8, 5), unit(12, 8, 6)
    s_keys, t_keys = [f"s{i}" for i in range(10)], [f"t{i}" for i in range(12)]
    sources, pool = torch.arange(10), torch.arange(12)
    searched: list[int] = []

    def search_fn(rows: torch.Tensor):
        searched.extend(rows.tolist())
        return search_pool(a, b, rows, pool, 3)

    cache = CandidateCache()
    hub = {t: 0.1 for t in t_keys}
    search_cached(cache, s_keys, t_keys, sources, pool, 3, search_fn, hubness=hub)
    searched.clear()
    search_cached(cache, s_keys, t_keys, sources, pool, 3, search_fn, hubness=dict(hub))
    assert searched == []
    search_cached(cache, s_keys, t_keys, sources, pool, 3, search_fn, hubness={**hub, "t4": 0.2})
    assert sorted(searched) == sources.tolist()
