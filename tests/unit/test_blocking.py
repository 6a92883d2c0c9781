"""Blocking vectors (names + sampled neighbourhood names, cold-start student) on a real slice.

A slice of dbp15k_fr_en (6,000 gold pairs, triples among them only): the counterparts are
searched among *all* slice targets, as a backfill searches them.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from kgn_align.candidates import blocking_vectors, distil_student, has_neighbours, recall_at_k, search
from kgn_align.coldstart import ColdStartConfig, ColdStartMLP
from kgn_align.datasets import KGSide, local_name, read_kg
from kgn_align.features import NgramFeaturizer, neighbour_context
from kgn_align.sampling.reference import sample_in_memory
from kgn_align.snapshot import feature_text

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _side(side: KGSide) -> tuple[Tensor, list[str]]:
    ids = sorted(side.uris)
    keys = [str(i) for i in ids]
    store = sample_in_memory(((str(h), r, str(t)) for h, r, t in side.triples), keys, k1=10, k2=1, keys=keys)
    texts = [feature_text([side.names.get(i), local_name(side.uris[i])]) for i in ids]
    return store.edges(), texts


@pytest.fixture(scope="module")
def fr_en() -> tuple[list[Tensor], list[Tensor], Tensor]:
    ds = read_kg("dbp15k_fr_en").slice(6000)
    (e0, t0), (e1, t1) = _side(ds.sides[0]), _side(ds.sides[1])
    featurizer = NgramFeaturizer.fit(t0 + t1)
    rows = [{k: r for r, k in enumerate(sorted(s.uris))} for s in ds.sides]
    test = torch.tensor([(rows[0][a], rows[1][b]) for a, b in ds.test_pairs])
    return [featurizer.transform(t0), featurizer.transform(t1)], [e0, e1], test


def _recall(vectors: list[Tensor], pairs: Tensor, k: int) -> float:
    found = search(vectors[0][pairs[:, 0]], vectors[1], k, backend="exact")
    return recall_at_k(found, [(i, int(b)) for i, b in enumerate(pairs[:, 1].tolist())], (k,))[k]


def _cut(edges: Tensor, rows: Tensor, n: int) -> Tensor:
    gone = torch.zeros(n, dtype=torch.bool)
    gone[rows] = True
    return edges[:, ~(gone[edges[0]] | gone[edges[1]])]


def test_neighbourhood_names_raise_candidate_recall(fr_en) -> None:
    x, edges, test = fr_en
    names = [blocking_vectors(x[s], edges[s], beta=0.0) for s in (0, 1)]
    both = [blocking_vectors(x[s], edges[s]) for s in (0, 1)]
    assert both[0].shape == (x[0].size(0), 2 * x[0].size(1))
    assert torch.allclose(both[0].norm(dim=1), torch.ones(x[0].size(0)), atol=1e-5)
    for k in (1, 50):
        assert _recall(both, test, k) > _recall(names, test, k)
    assert _recall(both, test, 50) >= 0.99


def test_cold_start_student_finds_targets_that_lost_their_links(fr_en) -> None:
    """1,000 targets cut loose from every relationship (new nodes nobody linked yet)."""
    x, edges, test = fr_en
    pairs = test[:1000]
    cut = [edges[0], _cut(edges[1], pairs[:, 1], x[1].size(0))]
    isolated = ~has_neighbours(neighbour_context(x[1], cut[1]))
    assert bool(isolated[pairs[:, 1]].all())
    student = distil_student(x, cut, ColdStartConfig())
    zero = [blocking_vectors(x[s], cut[s]) for s in (0, 1)]
    guessed = [blocking_vectors(x[s], cut[s], student=student) for s in (0, 1)]
    # the student changes only the isolated rows
    linked = ~isolated
    assert torch.equal(guessed[1][linked], zero[1][linked])
    assert not torch.allclose(guessed[1][isolated], zero[1][isolated])
    assert _recall(guessed, pairs, 1) >= _recall(zero, pairs, 1) + 0.01
    assert _recall(guessed, pairs, 50) >= _recall(zero, pairs, 50)


def test_beta_zero_is_names_only_and_student_needs_no_isolated_rows() -> None:
    x = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    edges = torch.tensor([[0, 1, 2], [1, 2, 0]])
    assert torch.allclose(blocking_vectors(x, edges, beta=0.0), x)
    student = ColdStartMLP(4, 4, hidden=8)
    assert torch.equal(blocking_vectors(x, edges, student=student), blocking_vectors(x, edges))


def test_a_graph_without_relationships_gets_no_student() -> None:
    from kgn_align.snapshot import SideSnapshot, Snapshot

    keys = ["a", "b", "c"]
    x = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)

    def snapshot(edges: list[tuple[str, str, str]]) -> Snapshot:
        store = sample_in_memory(edges, keys, k1=10, k2=1, keys=keys)
        side = SideSnapshot(side=None, table=None, store=store, names=keys, labels=keys,  # type: ignore[arg-type]
                            aligned_row={k: i for i, k in enumerate(keys)})
        return Snapshot(config=None, source=side, target=side)  # type: ignore[arg-type]

    assert snapshot([]).distil_student((x, x)) is None
    student = snapshot([("a", "R", "b")]).distil_student((x, x), ColdStartConfig(hidden=8, epochs=1))
    assert isinstance(student, ColdStartMLP)
