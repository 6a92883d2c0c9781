"""The fast paths give the plain results: per-entity tables, target subsets, one-to-one F1."""

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
