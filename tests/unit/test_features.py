import pytest
import torch

from kgn_align.candidates import dense_topk, sparse_topk
from kgn_align.features import (NgramFeaturizer, name_features, ngram_features, ngram_matrix,
                                sentence_encoder_available)


def test_ngram_matrix_is_normalised_and_similar_names_are_close():
    names = ["Paris", "paris", "Paris, France", "Lyon", ""]
    m = ngram_matrix(names)
    assert m.shape == (5, 2**14)
    norms = torch.from_numpy((m.multiply(m)).sum(1).A.ravel())
    torch.testing.assert_close(norms[:4], torch.ones(4))
    assert norms[4] == 0  # empty name: zero row, not NaN
    sim = (m @ m.T).toarray()
    assert sim[0, 1] == pytest.approx(1.0, abs=1e-6)  # case-insensitive
    assert sim[0, 2] > 0.3 > 0.1 > sim[0, 3]


def test_dense_projection_keeps_cosines_roughly():
    names = ["saint joseph de coleraine", "saint joseph de coleraine quebec", "tommy jakobsen", "android"]
    exact = torch.from_numpy((ngram_matrix(names) @ ngram_matrix(names).T).toarray())
    dense = ngram_features(names, dim=1024)
    assert dense.shape == (4, 1024)
    assert (dense @ dense.T - exact).abs().max() < 0.15
    torch.testing.assert_close(ngram_features(names, dim=64), ngram_features(names, dim=64))  # deterministic


def test_fit_transform_hashes_once_and_gives_each_sides_transform_bit_for_bit() -> None:
    from kgn_align import datasets

    ds = datasets.read_kg("dbp15k_fr_en")
    side_a = [ds.sides[0].names.get(i, "") for i in sorted(ds.sides[0].uris)[:3000]]
    side_b = [ds.sides[1].names.get(i, "") for i in sorted(ds.sides[1].uris)[:3000]] + ["", "Ōtemachi"]
    fitted, vectors = NgramFeaturizer.fit_transform(side_a + side_b)
    alone = NgramFeaturizer.fit(side_a + side_b)
    assert (fitted.idf == alone.idf).all()
    # training featurises both sides in one pass; the backfill's scorer, one side at a time
    assert torch.equal(vectors[:len(side_a)], alone.transform(side_a))
    assert torch.equal(vectors[len(side_a):], alone.transform(side_b))
    assert NgramFeaturizer.fit_transform([])[1].shape == (0, alone.dim)


def test_counts_per_distinct_word_equal_scikit_learns_whole_name_hashing() -> None:
    """Each distinct word's char_wb n-grams are hashed once and summed per name: the same
    sparse counts, entry for entry and in the same order, as HashingVectorizer over each
    whole name (real names of both DBP15K sets, and names whose spacing or accents differ)."""
    import numpy as np
    from sklearn.feature_extraction.text import HashingVectorizer

    from kgn_align import datasets
    from kgn_align.features import _counts, fold_accents

    names = ["", " ", "Paris", "paris  paris", "a\u00a0b\tc\n d", "Ōtemachi Station, Tokyo",
             "Võ Văn Kiệt", "ǅemal Bijedić", "İstanbul", "東京駅 とうきょう", "x", "é é é", "FC"]
    for dataset in ("dbp15k_fr_en", "dbp15k_ja_en"):
        side = datasets.read_kg(dataset).sides[1]
        names += [side.names.get(i, "") for i in sorted(side.uris)[:1500]]
    for fold in (True, False):
        got = _counts(names, 14, (2, 4), 1.0, fold)

        def whole(analyzer: str, ngrams: tuple[int, int]):
            return HashingVectorizer(analyzer=analyzer, ngram_range=ngrams, n_features=2**14,
                                     alternate_sign=False, norm=None, lowercase=True,
                                     strip_accents=fold_accents if fold else None,
                                     dtype=np.float32).transform(names).tocsr()

        want = (whole("char_wb", (2, 4)) + 1.0 * whole("word", (1, 1))).tocsr()
        want.data = np.log1p(want.data)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert (got.indptr == want.indptr).all() and (got.indices == want.indices).all()
        assert (got.data == want.data).all()


def test_bad_arguments():
    with pytest.raises(ValueError):
        ngram_matrix(["a"], n_bits=40)
    with pytest.raises(ValueError, match="dim"):
        NgramFeaturizer.fit_transform(["a"], dim=0)
    with pytest.raises(ValueError):
        name_features(["a"], kind="word2vec")


@pytest.mark.skipif(sentence_encoder_available(), reason="only meaningful without the package")
def test_sentence_encoder_absent_is_an_import_error():
    with pytest.raises(ImportError):
        name_features(["a"], kind="sentence")


def test_topk_agree_dense_and_sparse():
    names_a = ["berlin", "munich", "hamburg"]
    names_b = ["hamburg germany", "berlin germany", "munchen", "cologne"]
    m = ngram_matrix(names_a + names_b)
    _, i_sparse = sparse_topk(m[:3], m[3:], 2, chunk=2)
    dense = torch.from_numpy(m.toarray())
    _, i_dense = dense_topk(dense[:3], dense[3:], 2, chunk=2)
    assert i_sparse[:, 0].tolist() == [1, 2, 0] == i_dense[:, 0].tolist()


def test_a_nameless_entity_has_no_name_evidence() -> None:
    from kgn_align.features import NgramFeaturizer
    from kgn_align.snapshot import feature_text

    assert feature_text([None, "", "  "]) == ""
    assert feature_text(["Heat", None, "Heat (film)", "Heat"]) == "Heat | Heat (film)"
    featurizer = NgramFeaturizer.fit(["23 Skidoo", "Heat"], n_bits=8, dim=None)
    vectors = featurizer.transform([feature_text([]), "23 Skidoo"])
    assert float(vectors[0].abs().sum()) == 0.0  # the key "3" never becomes a name


def test_an_entity_is_shown_by_every_name_the_model_reads() -> None:
    """explain and edges show each distinct name property: an edit to the second of two
    (a trial set name = 'Magdeleine Paz' beside name_en = 'avrig') is visible; a nameless
    entity is shown by its key."""
    from kgn_align.snapshot import display_name

    assert display_name(["avrig", "Magdeleine Paz"], "1040") == "avrig | Magdeleine Paz"
    assert display_name(["Heat", None, "Heat"], "7") == "Heat"
    assert display_name([None, ""], "1040") == "1040"


def test_cached_transform_equals_transform() -> None:
    import torch

    from kgn_align.features import NgramFeaturizer

    featurizer = NgramFeaturizer.fit(["Heat", "Alien", "Blade Runner", "Ran"], n_bits=10, dim=32)
    cache: dict = {}
    first = featurizer.transform_cached(["Heat", "Alien", "Heat"], cache)
    again = featurizer.transform_cached(["Ran", "Heat", "Blade Runner", ""], cache)
    assert torch.equal(first, featurizer.transform(["Heat", "Alien", "Heat"]))
    assert torch.equal(again, featurizer.transform(["Ran", "Heat", "Blade Runner", ""]))
    assert set(cache) == {"Heat", "Alien", "Ran", "Blade Runner", ""}


def test_neighbour_context_is_the_same_whatever_the_chunk_of_edges() -> None:
    """The memory-bounded sum (a chunk of edge terms at a time) gives the same bits as one
    pass, so blocking vectors do not move with the chunk size."""
    from kgn_align.features import neighbour_context

    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(500, 32, generator=g), dim=-1)
    edges = torch.randint(0, 500, (2, 4000), generator=g)
    one_pass = neighbour_context(x, edges, chunk=10**9)
    assert torch.equal(neighbour_context(x, edges, chunk=3), one_pass)
    assert torch.equal(neighbour_context(x, edges), one_pass)
    assert bool((one_pass.norm(dim=1) > 0.99).all())
