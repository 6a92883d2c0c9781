"""Seed-alignment propagation: two entities whose neighbours are already aligned to each
other are likely the same entity.

Every reviewed match (an accepted ``SAME_AS``, the seed alignment) becomes an *anchor*: both
of its ends get the same signed unit vector, a bucket of :data:`ANCHOR_DIM` chosen by a hash
of the pair's two keys (feature hashing, Weinberger et al. 2009: inner products are kept in
expectation, and an anchor's bucket does not move when other reviews come and go). An
entity's *anchor vector* is the sum of the anchor vectors around it — its neighbours, and
at :data:`HOP2_WEIGHT` those two hops away, over the snapshot's neighbour lists (each
node's first candidates in the sampler's race-key order, cut at the sampler's cap) —
L2-normalised, so the
cosine of a source's and a target's anchor vectors measures how many aligned neighbours they
share. It is label propagation of the seed alignment through the relation structure, in
the manner of LightEA (Mao et al. 2022, "LightEA: A Scalable, Robust, and Interpretable
Entity Alignment Framework via Three-view Label Propagation") and of CG-MuAlign's
collective alignment, where aligned neighbours help their entities (Zhu et al. 2020).

:func:`with_anchors` appends the anchor vectors to the blocking vectors, so both blocking
and the cosine the global assignment starts from see them; an entity with no aligned
neighbour keeps its blocking cosine, scaled by ``1 - weight``, against every candidate.

Measured on the product path (``kgn-align evaluate``, defaults, weight 0.15): dbp15k_fr_en
Hits@1 among all targets 0.979 -> 0.988, dbp15k_ja_en 0.931 -> 0.949, dblp_acm F1 over every
written edge 0.985 -> 0.992 (its papers share aligned papers through their authors: hop 2);
``benchmarks/results/quality_*.json``.

**Bootstrapping** (:func:`pseudo_seeds`): the reviewed pairs are a share of the matches (30 %
in the benchmarks), so most neighbours have no anchor. After a first global assignment the
confident mutual best pairs become *pseudo-seeds*, anchors like the reviewed ones, and the
assignment is made again with them: BootEA's bootstrapping (Sun et al. 2018, "Bootstrapping
Entity Alignment with Knowledge Graph Embedding") and LightEA's iterations, here one round
(a second added ~0.0001 Hits@1 on dbp15k_fr_en). Pseudo-seeds are anchors only: they never
become edges by themselves, their own pair's anchor never enters their own vectors (walks
back to the entity are left out), and the scores are calibrated after them, as the backfill
sees them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch_geometric.utils import scatter

from kgn_align.sampling.lists import NeighbourLists

#: dimensions anchors are hashed into. On dbp15k_fr_en (4,500 anchors) 256 ranked as 1,024
#: did (Hits@1 0.9875 against 0.9876; dblp_acm equal) at 0.4 GB less peak memory
ANCHOR_DIM = 256
#: share of the blocking cosine that comes from shared aligned neighbours
ANCHOR_WEIGHT = 0.15
#: weight of hop-2 neighbours' anchors against hop-1 neighbours'
HOP2_WEIGHT = 0.25
#: a pseudo-seed's Sinkhorn assignment probability and calibrated probability are at least
#: this. On dbp15k_fr_en 0.5 gave 14,205 pseudo-seeds (99.6 % right where the gold is known)
#: and Hits@1 0.9888 -> 0.9903; 0.9 gave 12,038 (99.97 %) and 0.9898
PSEUDO_SEED_MIN_PROB = 0.5


def anchor_identity(pairs: Iterable[tuple[str, str, int, int]], n_a: int, n_b: int,
                    dim: int = ANCHOR_DIM) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Each side's anchor rows, sparse: ``(source key, target key, source row, target row)``
    seed pairs give both of their rows the same signed one-hot vector, its bucket and sign
    from a CRC-32 of the two keys (stable across runs and processes); other rows are empty.

    Shapes: ``-> (n_a, dim), (n_b, dim)``."""
    rows_a, rows_b, buckets, signs = [], [], [], []
    for s_key, t_key, row_a, row_b in pairs:
        code = zlib.crc32(f"{len(s_key)}:{s_key}|{t_key}".encode())
        rows_a.append(row_a)
        rows_b.append(row_b)
        buckets.append(code % dim)
        signs.append(1.0 if (code // dim) % 2 == 0 else -1.0)
    value = np.asarray(signs, dtype=np.float32)
    return (sp.csr_matrix((value, (rows_a, buckets)), shape=(n_a, dim)),
            sp.csr_matrix((value, (rows_b, buckets)), shape=(n_b, dim)))


def adjacency(lists: NeighbourLists, n: int) -> sp.csr_matrix:
    """The symmetric 0/1 adjacency of ``n`` entity rows over their neighbour lists (an edge
    either way counts once), without self-loops. Shape ``(n, n)``."""
    rows = np.repeat(np.arange(lists.num_nodes), lists.lengths())
    head, tail = np.concatenate([rows, lists.nbr]), np.concatenate([lists.nbr, rows])
    keep = head != tail
    a = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (head[keep], tail[keep])), shape=(n, n))
    a.data[:] = 1.0  # duplicates were summed
    return a


def anchor_vectors(identity: sp.csr_matrix, lists: NeighbourLists | sp.csr_matrix,
                   hop2_weight: float = HOP2_WEIGHT, *, rows: np.ndarray | None = None) -> Tensor:
    """Each entity's anchor vector: the anchors of its neighbours (over the snapshot's
    neighbour lists, both directions, or their :func:`adjacency`) plus ``hop2_weight`` times
    those reached in two hops, L2-normalised; zero where none is aligned. Walks that come
    back to the entity are left out: an aligned entity's own anchor would be shared with its
    counterpart's, and a pair would vouch for itself.

    ``rows``: only these entity rows (what a worker recomputes after a change,
    :func:`reach_of_change`), equal to those rows of the whole computation.

    Shapes: ``(N, D)`` sparse ``-> (N, D)`` dense; ``(R, D)`` with ``rows (R,)``."""
    a = lists if sp.issparse(lists) else adjacency(lists, identity.shape[0])
    hop1 = a @ identity
    if rows is not None:
        a, identity, own = a[rows], identity[rows], hop1[rows]
    else:
        own = hop1
    hop2 = a @ hop1 - sp.diags(np.asarray(a.sum(axis=1)).ravel()) @ identity  # x -> u -> x walks removed
    summed = (own + hop2_weight * hop2).toarray().astype(np.float32, copy=False)
    return torch.nn.functional.normalize(torch.from_numpy(summed), dim=-1)


def reach_of_change(before: sp.csr_matrix, after: sp.csr_matrix) -> np.ndarray:
    """The rows whose anchor vectors can differ between two adjacencies of one entity table
    (the same anchors): the rows whose neighbours changed (both ends of a link that came or
    went) and their neighbours before or after, whose hop-2 sums read those rows. Shapes:
    two ``(N, N)`` -> ``(R,)`` sorted rows."""
    changed = np.zeros(before.shape[0], dtype=bool)
    changed[np.unique((before != after).tocoo().row)] = True
    return np.flatnonzero(changed | ((before + after) @ changed.astype(np.float32) > 0))


def pseudo_seeds(row: Tensor, col: Tensor, log_assignment: Tensor, prob: Tensor, *,
                 min_prob: float = PSEUDO_SEED_MIN_PROB) -> Tensor:
    """The entries that are the best of their row *and* of their column by Sinkhorn
    log-probability (mutual best: each side's choice agrees, as BootEA's and CSLS-style
    mutual nearest neighbours), with an assignment probability and a calibrated
    probability ``prob`` of at least ``min_prob``. A row or column whose best is tied
    gives none.

    Shapes: ``(P,)`` each (one per candidate pair) ``-> (M,)`` entry indices, ascending."""
    if row.numel() == 0:
        return torch.empty(0, dtype=torch.long)
    _, r = torch.unique(row, return_inverse=True)
    _, c = torch.unique(col, return_inverse=True)
    la = log_assignment.double()
    row_top = scatter(la, r, dim=0, reduce="max")[r] == la
    col_top = scatter(la, c, dim=0, reduce="max")[c] == la
    top = row_top & col_top
    ties = (scatter(row_top.long(), r, dim=0, reduce="sum")[r] > 1) | \
        (scatter(col_top.long(), c, dim=0, reduce="sum")[c] > 1)
    sure = (la.exp() >= min_prob) & (prob.double() >= min_prob)
    return torch.nonzero(top & ~ties & sure, as_tuple=True)[0]


def with_anchors(blocking: Tensor, anchors: Tensor, weight: float = ANCHOR_WEIGHT) -> Tensor:
    """``[sqrt(1 - weight) * blocking || sqrt(weight) * anchors]``: for unit rows the cosine
    of two such rows is ``(1 - weight) cos_blocking + weight cos_anchors``.

    Shapes: ``(N, F), (N, D) -> (N, F + D)``; ``weight`` 0 returns ``blocking``."""
    if weight <= 0:
        return blocking
    width = blocking.size(1)
    out = torch.empty(blocking.size(0), width + anchors.size(1), dtype=blocking.dtype)
    torch.mul(blocking, (1.0 - weight) ** 0.5, out=out[:, :width])  # written once, no temporaries
    torch.mul(anchors, weight ** 0.5, out=out[:, width:])
    return out


def anchors_replaced(anchored: Tensor, anchors: Tensor, weight: float = ANCHOR_WEIGHT, *,
                     in_place: bool = False) -> Tensor:
    """:func:`with_anchors`'s result with its anchor part replaced by ``anchors``, equal bit
    for bit to ``with_anchors(blocking, anchors, weight)``: a new tensor, or ``anchored``
    itself rewritten with ``in_place`` (no second copy of the vectors in memory).

    Shapes: ``(N, F + D), (N, D) -> (N, F + D)``."""
    if weight <= 0:
        return anchored
    out = anchored if in_place else anchored.clone()
    torch.mul(anchors, weight ** 0.5, out=out[:, anchored.size(1) - anchors.size(1):])
    return out
