"""Candidate generation (blocking): exact top-k by cosine, chunked to bound memory.

Exact search is fine up to ~10^5 entities per side on a CPU; beyond that an ANN index
(faiss / hnswlib) over the same vectors takes its place.
"""

from __future__ import annotations

import scipy.sparse as sp
import torch
from torch import Tensor


def dense_topk(queries: Tensor, keys: Tensor, k: int, *, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """Top-``k`` keys by dot product (cosine for unit rows) for each query row.

    Shapes: ``(Q, F), (K, F) -> (Q, k)`` scores and ``(Q, k)`` key rows, best first.
    """
    if queries.dim() != 2 or keys.dim() != 2 or queries.size(1) != keys.size(1):
        raise ValueError("queries and keys must be (Q, F) and (K, F) with the same F")
    k = min(k, keys.size(0))
    scores, idx = [], []
    for start in range(0, queries.size(0), chunk):
        s, i = torch.topk(queries[start : start + chunk] @ keys.T, k, dim=1)
        scores.append(s)
        idx.append(i)
    if not scores:
        return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
    return torch.cat(scores), torch.cat(idx)


def sparse_topk(queries: sp.csr_matrix, keys: sp.csr_matrix, k: int, *, chunk: int = 2048) -> tuple[Tensor, Tensor]:
    """Exact cosine top-``k`` over sparse rows (e.g. :func:`kgn_align.features.ngram_matrix`).

    Shapes: ``(Q, F), (K, F) -> (Q, k)`` scores and ``(Q, k)`` key rows, best first.
    """
    k = min(k, keys.shape[0])
    keys_t = keys.T.tocsc()
    scores, idx = [], []
    for start in range(0, queries.shape[0], chunk):
        block = torch.from_numpy((queries[start : start + chunk] @ keys_t).toarray())
        s, i = torch.topk(block, k, dim=1)
        scores.append(s)
        idx.append(i)
    if not scores:
        return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
    return torch.cat(scores), torch.cat(idx)
