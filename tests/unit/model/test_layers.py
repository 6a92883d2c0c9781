import os
import subprocess
import sys

import pytest
import torch

from kgn_align.model.layers import CrossGraphAttentionConv

from .handmade import IN, OUT, make_store


def small_side():
    # two trees: seed 0 (3 neighbours, one with 2 children), seed 5 (1 neighbour), seed 7 (none)
    store = make_store(8, [
        (0, [(0, OUT, 1, [(1, IN, 4), (2, OUT, 6)]), (1, IN, 2, []), (2, OUT, 3, [])]),
        (5, [(0, IN, 6, [])]),
        (7, []),
    ])
    return store.collate([0, 1, 2])


def test_shapes_and_gradients():
    torch.manual_seed(0)
    b = small_side()
    x = torch.randn(b.num_slots, 8, requires_grad=True)
    conv = CrossGraphAttentionConv(8, 4, num_relations=3)
    cross = torch.rand(b.num_slots) * 2 - 1
    out, alpha = conv(x, b.edge_index, b.edge_type, b.edge_dir, cross=cross, return_attention=True)
    assert out.shape == (b.num_slots, 4)
    assert alpha.shape == (b.edge_index.size(1),)
    # attention sums to one over each parent's children
    sums = torch.zeros(b.num_slots).index_add_(0, b.edge_index[1], alpha)
    has_children = torch.bincount(b.edge_index[1], minlength=b.num_slots) > 0
    torch.testing.assert_close(sums[has_children], torch.ones(int(has_children.sum())))
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in conv.named_parameters():
        if not name.startswith("lin_cross"):  # only reached through cross_scores
            assert p.grad is not None, name


def test_leaf_seed_keeps_own_view():
    b = small_side()
    conv = CrossGraphAttentionConv(8, 4, num_relations=3)
    x = torch.randn(b.num_slots, 8)
    out = conv(x, b.edge_index, b.edge_type, b.edge_dir)
    lone = int(b.seed[2])  # seed 7 has no neighbours: only its own view counts
    expected = conv.lin_out(torch.cat([conv.lin_self(x[lone]), torch.zeros(4)]))
    torch.testing.assert_close(out[lone], expected)


def test_reset_parameters_is_deterministic_under_seed():
    torch.manual_seed(3)
    a = CrossGraphAttentionConv(8, 4, num_relations=3)
    torch.manual_seed(3)
    b = CrossGraphAttentionConv(8, 4, num_relations=3)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(p, q, msg=n)


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError):
        CrossGraphAttentionConv(8, 4, num_relations=0)
    conv = CrossGraphAttentionConv(8, 4, num_relations=3)
    b = small_side()
    with pytest.raises(ValueError):
        conv(torch.randn(b.num_slots, 7), b.edge_index, b.edge_type, b.edge_dir)
    with pytest.raises(ValueError):
        conv(torch.randn(b.num_slots, 8), b.edge_index, b.edge_type, b.edge_dir, cross=torch.zeros(2))
    no_cross = CrossGraphAttentionConv(8, 4, num_relations=3, cross_attention=False)
    with pytest.raises(ValueError):
        no_cross.cross_scores(torch.randn(2, 8), torch.randn(2, 8), torch.zeros(2, dtype=torch.long),
                              torch.zeros(2, dtype=torch.long), 1)


def _matching_trees():
    """Seed 0 (side a) has neighbours 1 and 2; seed 10 (side b) has neighbours 11 and 12.
    Entity 1 and 11 are the same thing (identical features); 2 has no counterpart."""
    a = make_store(3, [(0, [(0, OUT, 1, []), (0, OUT, 2, [])])]).collate([0])
    b = make_store(13, [(10, [(0, OUT, 11, []), (0, OUT, 12, [])])]).collate([0])
    fa = torch.zeros(3, 4)
    fb = torch.zeros(13, 4)
    fa[0] = fb[10] = torch.tensor([1.0, 0, 0, 0])
    fa[1] = fb[11] = torch.tensor([0, 1.0, 0, 0])  # the shared neighbour
    fa[2] = torch.tensor([0, 0, 1.0, 0])  # no counterpart on side b
    fb[12] = torch.tensor([0, 0, 0, 1.0])
    return a, b, fa[a.entity], fb[b.entity]


@pytest.mark.parametrize("self_attention", [False, True])
def test_neighbour_with_counterpart_gets_more_cross_weight(self_attention):
    torch.manual_seed(0)
    a, b, xa, xb = _matching_trees()
    conv = CrossGraphAttentionConv(4, 4, num_relations=1, self_attention=self_attention)
    with torch.no_grad():
        ca, cb = conv.cross_scores(xa, xb, a.tree * 3 + a.depth, b.tree * 3 + b.depth, 3)
    # slot order in tree a: seed, neighbour 1, neighbour 2
    assert ca[1] == pytest.approx(1.0, abs=1e-5)
    assert ca[2] < 0.5
    _, alpha = conv(xa, a.edge_index, a.edge_type, a.edge_dir, cross=ca, return_attention=True)
    _, alpha_plain = conv(xa, a.edge_index, a.edge_type, a.edge_dir, cross=None, return_attention=True)
    child = a.edge_index[0].tolist()
    w = dict(zip(child, alpha.tolist()))
    w_plain = dict(zip(child, alpha_plain.tolist()))
    assert w[1] > w[2]
    # the cross term is what moved the weight towards the matched neighbour
    assert w[1] - w_plain[1] > 0.3


def test_without_any_attention_weights_are_uniform():
    a, b, xa, xb = _matching_trees()
    conv = CrossGraphAttentionConv(4, 4, num_relations=1, self_attention=False, cross_attention=False)
    _, alpha = conv(xa, a.edge_index, a.edge_type, a.edge_dir, return_attention=True)
    torch.testing.assert_close(alpha, torch.full_like(alpha, 0.5))


def test_cross_scores_compare_only_within_group():
    conv = CrossGraphAttentionConv(2, 2, num_relations=1)
    xa = torch.tensor([[1.0, 0], [0, 1.0]])
    xb = torch.tensor([[0, 1.0], [1.0, 0]])
    # group 0 on a holds [1,0]; on b group 0 holds [0,1]: no match there, though b's group 1 has one
    with torch.no_grad():
        ca, cb = conv.cross_scores(xa, xb, torch.tensor([0, 1]), torch.tensor([0, 1]), 3)
    torch.testing.assert_close(ca, torch.zeros(2), atol=1e-6, rtol=0)
    # group 2 exists on neither side; a group empty on the other side gives -1
    with torch.no_grad():
        ca, _ = conv.cross_scores(xa, xb[:1], torch.tensor([0, 1]), torch.tensor([0]), 3)
    assert ca[1] == -1.0


@pytest.mark.parametrize("shuffled", [False, True])
def test_cross_match_equals_brute_force_per_group(shuffled):
    """The dense layout (sorted groups: no sort; any order: one stable sort) gives every
    slot its best cosine within its group on the other side, -1 where that group is empty."""
    gen = torch.Generator().manual_seed(3)
    num_groups = 6
    group_a = torch.sort(torch.randint(0, 5, (40,), generator=gen)).values  # group 5: on b only
    group_b = torch.sort(torch.randint(1, 6, (30,), generator=gen)).values  # group 0: on a only
    if shuffled:
        group_a = group_a[torch.randperm(40, generator=gen)]
        group_b = group_b[torch.randperm(30, generator=gen)]
    za = torch.nn.functional.normalize(torch.randn(40, 8, generator=gen), dim=-1)
    zb = torch.nn.functional.normalize(torch.randn(30, 8, generator=gen), dim=-1)
    ca, cb = CrossGraphAttentionConv.cross_match(za, zb, group_a, group_b, num_groups)
    sim = za @ zb.T
    same = group_a[:, None] == group_b[None, :]
    want_a = torch.where(same, sim, torch.full_like(sim, -9.0)).amax(1).clamp_min(-1.0)
    want_b = torch.where(same, sim, torch.full_like(sim, -9.0)).amax(0).clamp_min(-1.0)
    torch.testing.assert_close(ca, want_a)
    torch.testing.assert_close(cb, want_b)
    assert bool((ca[group_a == 0] == -1.0).all()) and bool((cb[group_b == 5] == -1.0).all())


@pytest.mark.parametrize("shuffled", [False, True])
def test_cross_match_under_autograd_gives_the_same_values_and_the_gradient_of_the_maximum(shuffled):
    """Training recomputes each slot's best cosine from its chosen counterpart only: the
    values are the block's maxima and the gradients those of the brute-force maximum (no
    ties in random data), zero for slots whose group is empty on the other side."""
    gen = torch.Generator().manual_seed(5)
    num_groups = 6
    group_a = torch.sort(torch.randint(0, 5, (40,), generator=gen)).values
    group_b = torch.sort(torch.randint(1, 6, (30,), generator=gen)).values
    if shuffled:
        group_a = group_a[torch.randperm(40, generator=gen)]
        group_b = group_b[torch.randperm(30, generator=gen)]
    xa = torch.randn(40, 8, generator=gen, requires_grad=True)
    xb = torch.randn(30, 8, generator=gen, requires_grad=True)
    weight_a, weight_b = torch.randn(40, generator=gen), torch.randn(30, generator=gen)

    def loss(ca, cb):
        return (ca * weight_a).sum() + (cb * weight_b).sum()

    za, zb = torch.nn.functional.normalize(xa, dim=-1), torch.nn.functional.normalize(xb, dim=-1)
    ca, cb = CrossGraphAttentionConv.cross_match(za, zb, group_a, group_b, num_groups)
    assert ca.requires_grad and cb.requires_grad
    got = torch.autograd.grad(loss(ca, cb), (xa, xb))
    with torch.no_grad():
        plain_a, plain_b = CrossGraphAttentionConv.cross_match(za, zb, group_a, group_b, num_groups)
    torch.testing.assert_close(ca.detach(), plain_a)
    torch.testing.assert_close(cb.detach(), plain_b)
    za, zb = torch.nn.functional.normalize(xa, dim=-1), torch.nn.functional.normalize(xb, dim=-1)
    same = group_a[:, None] == group_b[None, :]
    sim = torch.where(same, za @ zb.T, torch.full((40, 30), -9.0))
    want = torch.autograd.grad(loss(sim.amax(1).clamp_min(-1.0), sim.amax(0).clamp_min(-1.0)), (xa, xb))
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])
    assert bool((got[0][group_a == 0] == 0).all()) and bool((got[1][group_b == 5] == 0).all())


def test_building_a_layer_leaves_no_generated_source_in_the_temporary_directory(tmp_path):
    # PyG writes each MessagePassing class's propagate into the temporary directory and
    # never deletes it: one file per process that built a model, until the disk fills
    code = (
        "import torch\n"
        "from kgn_align.model.layers import CrossGraphAttentionConv\n"
        "a = CrossGraphAttentionConv(4, 4, num_relations=2)\n"
        "b = CrossGraphAttentionConv(4, 4, num_relations=2)\n"
        "x = torch.randn(3, 4)\n"
        "edges = torch.tensor([[1, 2], [0, 0]])\n"
        "out = b(x, edges, torch.tensor([0, 1]), torch.tensor([0, 1]))\n"
        "assert out.shape == (3, 4), out.shape\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
