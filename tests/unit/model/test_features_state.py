"""The fitted n-gram featurizer travels in checkpoints: same vectors after a round trip."""

import io

import torch

from kgn_align.features import NgramFeaturizer, ngram_features

NAMES = ["Paris", "Paris (France)", "Lyon", "Olympique Lyonnais", "FC Barcelona", ""]


def test_fit_transform_matches_ngram_features():
    f = NgramFeaturizer.fit(NAMES, dim=32)
    assert torch.equal(f.transform(NAMES), ngram_features(NAMES, dim=32))


def test_state_round_trip_with_weights_only_and_no_refit_drift():
    f = NgramFeaturizer.fit(NAMES, dim=32)
    buf = io.BytesIO()
    torch.save({"features": f.state()}, buf)
    buf.seek(0)
    g = NgramFeaturizer.from_state(torch.load(buf, weights_only=True)["features"])
    new = ["Paris", "Marseille"]
    assert torch.equal(g.transform(new), f.transform(new))
    # re-fitting IDF on the new names alone would give other vectors: the stored state avoids that
    assert not torch.allclose(ngram_features(new, dim=32), f.transform(new))


def test_neighbour_context_sums_neighbours_both_directions_and_blends():
    from kgn_align.features import neighbour_context, with_context

    x = torch.eye(4)
    edges = torch.tensor([[0, 0], [1, 2]])  # 0 -> 1, 0 -> 2; 3 isolated
    c = neighbour_context(x, edges)
    assert torch.allclose(c[0], torch.tensor([0.0, 1.0, 1.0, 0.0]) / 2**0.5)
    assert torch.allclose(c[1], torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert torch.equal(c[3], torch.zeros(4))
    blended = with_context(x, c, 1.0)
    assert blended.shape == (4, 8) and torch.allclose(blended.norm(dim=1), torch.ones(4))
    # cosine of blended rows = (cos_x + cos_c) / 2 for rows with neighbours
    assert torch.isclose(blended[1] @ blended[2], (x[1] @ x[2] + c[1] @ c[2]) / 2)
    assert torch.equal(with_context(x, c, 0.0), x)
