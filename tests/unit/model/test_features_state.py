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


def test_fold_accents_drops_latin_marks_and_keeps_kana_voicing_and_hangul():
    from kgn_align.features import fold_accents

    assert fold_accents("Ōtemachi Station") == "Otemachi Station"
    assert fold_accents("Võ Văn Kiệt") == "Vo Van Kiet"
    assert fold_accents("Småland") == "Smaland"
    assert fold_accents("がぎぐ パ") == "がぎぐ パ"  # voicing marks are part of the letter
    assert fold_accents("서울") == "서울"  # syllables, not jamo


def test_names_differing_only_by_accents_get_the_same_vector():
    f = NgramFeaturizer.fit(NAMES + ["Ōtsu", "Otsu", "Kyoto"], dim=32)
    v = f.transform(["Ōtsu", "Otsu", "Kyoto"])
    assert torch.equal(v[0], v[1])
    assert not torch.equal(v[0], v[2])


def test_a_checkpoint_from_before_accent_folding_keeps_its_vectors():
    # states written before the setting existed carry no "fold_accents": their models were
    # trained on unfolded names, and must keep getting exactly those vectors
    f = NgramFeaturizer.fit(NAMES + ["Ōtsu", "Otsu"], dim=32)
    state = f.state()
    assert state["fold_accents"] is True
    del state["fold_accents"]
    old = NgramFeaturizer.from_state(state)
    v = old.transform(["Ōtsu", "Otsu"])
    assert not torch.equal(v[0], v[1])
    assert torch.equal(v[1], f.transform(["Otsu"])[0])
