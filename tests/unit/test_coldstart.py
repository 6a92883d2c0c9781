"""Cold-start student: learns a feature -> embedding mapping and fills isolated rows."""

from __future__ import annotations

import pytest
import torch

from kgn_align.candidates import recall_at_k, search
from kgn_align.coldstart import ColdStartConfig, ColdStartMLP, fill, fit


def toy(n: int = 1200, f: int = 32, d: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher embeddings that are a fixed non-linear function of the features."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, f, generator=g)
    w1, w2 = torch.randn(f, 64, generator=g), torch.randn(64, d, generator=g)
    z = torch.nn.functional.normalize(torch.tanh(x @ w1 / f**0.5) @ w2, dim=-1)
    return x, z


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_student_learns_the_mapping_for_unseen_entities() -> None:
    x, z = toy()
    has = torch.ones(len(x), dtype=torch.bool)
    has[1000:] = False  # the last 200 are "isolated": never seen in training
    student = fit(x, z, has, ColdStartConfig(hidden=128, epochs=60, batch_size=128, lr=5e-3,
                                              dropout=0.0))
    with torch.no_grad():
        pred = student(x[1000:])
    cos = (pred * z[1000:]).sum(-1)
    assert float(cos.mean()) > 0.9
    # an untrained student is far off: the score above is learnt, not given
    with torch.no_grad():
        untrained = (ColdStartMLP(32, 16, 128)(x[1000:]) * z[1000:]).sum(-1)
    assert float(untrained.mean()) < 0.3
    # and the filled embeddings find the right counterpart by nearest neighbour
    filled = fill(x, torch.zeros_like(z), has, student)
    assert torch.equal(filled[:1000], torch.zeros(1000, 16))
    cands = search(filled[1000:], z[1000:], 5, backend="exact")
    assert recall_at_k(cands, [(i, i) for i in range(200)], ks=(1, 5))[5] > 0.9


def test_fit_is_deterministic_and_validates() -> None:
    x, z = toy(200)
    has = torch.ones(200, dtype=torch.bool)
    cfg = ColdStartConfig(hidden=16, epochs=2)
    a, b = fit(x, z, has, cfg), fit(x, z, has, cfg)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="nothing to distil"):
        fit(x, z, torch.zeros(200, dtype=torch.bool), cfg)
    with pytest.raises(ValueError):
        fit(x, z[:10], has, cfg)


def test_output_shape_and_norm() -> None:
    out = ColdStartMLP(8, 4, hidden=16, layers=3)(torch.randn(5, 8))
    assert out.shape == (5, 4)
    assert torch.allclose(out.norm(dim=-1), torch.ones(5), atol=1e-5)
