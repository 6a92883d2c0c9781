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
