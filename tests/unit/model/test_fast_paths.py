"""The fast paths give the plain results: per-entity tables, target subsets, one-to-one F1."""

import pytest
import torch

from kgn_align.metrics import one_to_one_f1
from kgn_align.model.layers import CrossGraphAttentionConv

from .test_layers import small_side


def test_table_and_targets_match_per_slot_computation():
    torch.manual_seed(0)
    b = small_side()
    table = torch.randn(8, 8)  # one row per entity
    x = table[b.entity]
    conv = CrossGraphAttentionConv(8, 4, num_relations=3).eval()
    cross = torch.rand(b.num_slots)
    ref, alpha = conv(x, b.edge_index, b.edge_type, b.edge_dir, cross=cross, return_attention=True)
    got, alpha2 = conv(table, b.edge_index, b.edge_type, b.edge_dir, cross=cross, return_attention=True,
                       x_index=b.entity)
    assert torch.allclose(ref, got, atol=1e-6) and torch.allclose(alpha, alpha2)
    sub = conv(x, b.edge_index, b.edge_type, b.edge_dir, cross=cross, targets=b.seed)
    assert torch.allclose(sub, ref[b.seed], atol=1e-6)
    sub_t = conv(table, b.edge_index, b.edge_type, b.edge_dir, cross=cross, x_index=b.entity, targets=b.seed)
    assert torch.allclose(sub_t, ref[b.seed], atol=1e-6)


def test_one_to_one_f1_takes_each_entity_once():
    sources = torch.tensor([0, 1])
    cands = torch.tensor([[10, 11], [10, 11]])
    scores = torch.tensor([[0.9, 0.2], [0.8, 0.7]])  # 1's best (10) is taken by 0: 1 gets 11
    gold = torch.tensor([[0, 10], [1, 11]])
    m = one_to_one_f1(scores, cands, sources, gold)
    assert m["o2o_best_f1"] == 1.0 and m["o2o_f1@0.5"] == 1.0
    m = one_to_one_f1(scores, cands, sources, torch.tensor([[0, 11], [1, 10]]))
    assert m["o2o_best_f1"] == 0.0


def test_trees_are_stored_compact_and_collate_as_int64():
    """A TreeStore keeps its slot arrays in SLOT_DTYPES (14 bytes a slot, not 40) whatever
    it was built from, and hands out the same int64 batches as before."""
    from kgn_align.neighborhood import SLOT_DTYPES

    from .handmade import IN, OUT, make_store

    store = make_store(6, [(0, [(1, OUT, 1, [(2, IN, 4), (0, OUT, 5)]), (2, IN, 3, [])]),
                           (3, [(0, IN, 2, [(1, OUT, 0)])])])
    for name, dtype in SLOT_DTYPES.items():
        assert getattr(store, name).dtype == dtype
    assert sum(getattr(store, name).element_size() for name in SLOT_DTYPES) == 14
    b = store.collate([1, 0, 1])
    for name in ("entity", "node_type", "depth", "tree", "seed", "edge_index", "edge_type", "edge_dir"):
        assert getattr(b, name).dtype == torch.long, name
    assert b.entity.tolist() == [3, 2, 0, 0, 1, 4, 5, 3, 3, 2, 0]  # handmade trees are depth-first
    assert b.edge_index.tolist() == [[1, 2, 4, 5, 6, 7, 9, 10], [0, 1, 3, 4, 4, 3, 8, 9]]
    assert b.edge_type.tolist() == [0, 1, 1, 2, 0, 2, 0, 1]
    assert store.edges().dtype == torch.long


#: the CPU, and CUDA where there is one (the GPU machine's run of the unit tests)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_a_store_on_a_device_collates_the_same_batches_there(device):
    """``TreeStore.to``: batches are cut on the store's device (on CUDA nothing is built on
    the host and copied over per batch), the same batches as on the host."""
    from .handmade import IN, OUT, make_store

    store = make_store(6, [(0, [(1, OUT, 1, [(2, IN, 4), (0, OUT, 5)]), (2, IN, 3, [])]),
                           (3, [(0, IN, 2, [(1, OUT, 0)])])])
    moved = store.to(device)
    assert moved.keys is store.keys and moved.nbytes == store.nbytes
    here, there = store.collate([1, 0, 1]), moved.collate(torch.tensor([1, 0, 1]))
    for name in ("entity", "node_type", "depth", "tree", "seed", "edge_index", "edge_type", "edge_dir"):
        value = getattr(there, name)
        assert value.device.type == device and torch.equal(value.cpu(), getattr(here, name)), name
