"""Candidate generation (blocking): the ``k`` most similar target entities of each
source entity, from per-entity embeddings computed independently on each side.

- Blocking vectors (:func:`blocking_vectors`): the entity's name vector next to its
  neighbourhood-name vector (the sum of its sampled hop-1 neighbours' name vectors), so
  two entities are close when their names are *and* their neighbours' names are. No
  cross-graph term and no alignment label enters, so each side is embedded once. Entities
  without neighbours get a guess of their neighbourhood part from a student MLP
  (:mod:`kgn_align.coldstart`).

Why: the pair model (cross-encoder) is too expensive for all ``N_s x N_t`` pairs; an
independent embedding per entity (bi-encoder, or plain name features) lets a nearest
neighbour search propose a short list per entity, and only those pairs are scored.

- Embeddings are L2-normalised, so inner product is cosine similarity.
- Search runs separately per entity type: a source entity is only ever paired with
  target entities of the same type id (a paper never gets an author as a candidate).
- Backends: ``exact`` (chunked ``matmul`` + ``topk`` in torch: exact, memory bounded by
  ``chunk x N_t``), ``hnsw`` (hnswlib, approximate, ~log N per query), ``faiss``
  (faiss ``IndexHNSWFlat``). ``auto`` picks exact for small target sets, where it is
  both exact and fast, and hnsw above :data:`EXACT_MAX_TARGETS`.
- Everything is deterministic under a seed: the ANN index is built single-threaded (its
  graph depends on insertion order), so a resumed backfill sees the same candidates.

- Hubness (:class:`CslsSearch`): in a high-dimensional space some targets are near
  everything and crowd other targets out of many lists. Lists are ranked by CSLS (cross-
  domain similarity local scaling, Conneau et al. 2018, *Word translation without parallel
  data*): ``2 cos(s, t) - r_s - r_t``, ``r_t`` the mean cosine of ``t``'s :data:`CSLS_K`
  nearest sources (``r_s`` is one constant per list, so ``cos - r_t / 2`` ranks alike);
  the similarity handed on stays the plain cosine.

Outputs are padded: a source whose type has fewer than ``k`` targets gets index ``-1``
and similarity ``-inf`` in the unused slots.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor

from kgn_align.coldstart import STUDENT_WEIGHT, ColdStartConfig, ColdStartMLP, fill, fit
from kgn_align.features import neighbour_context, with_context

log = logging.getLogger(__name__)

Backend = Literal["auto", "exact", "hnsw", "faiss"]
#: ``auto`` searches exactly up to this many targets per type (exact top-k of 20k x 20k
#: 512-d vectors takes a few seconds on 2 cores), with an ANN index beyond.
EXACT_MAX_TARGETS = 50_000
DEFAULT_KS = (1, 10, 50)
#: nearest sources whose mean cosine is a target's hubness ``r_t`` in CSLS (Conneau et al.
#: 2018 use 10). On dbp15k_ja_en (trained model, after bootstrapping) CSLS lists of twenty
#: hold the answer for 0.992 of the test sources against 0.988 by cosine, and Hits@1 among
#: all targets rose 0.9663 -> 0.9690.
CSLS_K = 10
#: weight of the neighbourhood part in blocking vectors: cosine = (names + neighbours) / 2.
#: On the full benchmarks it lifts recall@50 over all targets from 0.981 to 0.995
#: (dbp15k_fr_en) and from 0.961 to 0.994 (srprs_en_fr): benchmarks/results/candidates.json.
CONTEXT_BETA = 1.0


def blocking_vectors(features: Tensor, neighbour_edges: Tensor, *, beta: float = CONTEXT_BETA,
                     student: ColdStartMLP | None = None,
                     student_weight: float = STUDENT_WEIGHT, rows: Tensor | None = None) -> Tensor:
    """``normalize([x || beta * c])`` per entity, ``c`` its neighbourhood-name vector
    (:func:`kgn_align.features.neighbour_context`); for an entity without neighbours ``c``
    is ``student_weight`` times the student's guess, or zero without a student.

    ``rows``: compute only these entity rows (``(R,)``; what a worker refreshes after a
    change), the same values as those rows of the whole computation.

    Shapes: ``features (N, F)``, ``neighbour_edges (2, E)`` [entity, neighbour] rows
    -> ``(N, 2F)`` (``(N, F)`` when ``beta`` is 0), rows L2-normalised; ``(R, ...)`` with ``rows``.
    """
    own = features if rows is None else features.index_select(0, rows)
    if beta <= 0:
        return torch.nn.functional.normalize(own, dim=-1)
    edges = neighbour_edges
    if rows is not None:  # the edges that reach the rows, in their order: the same sums
        wanted = torch.zeros(features.size(0), dtype=torch.bool)
        wanted[rows] = True
        edges = neighbour_edges[:, wanted[neighbour_edges[0]] | wanted[neighbour_edges[1]]]
    context = neighbour_context(features, edges, features.size(0))
    if rows is not None:
        context = context.index_select(0, rows)
    if student is not None:
        context = fill(own, context, has_neighbours(context), student, student_weight)
    return with_context(own, context, beta)


def refresh_blocking_vectors(previous: Tensor, features: Tensor, neighbour_edges: Tensor, rows: Tensor, *,
                             beta: float = CONTEXT_BETA, student: ColdStartMLP | None = None) -> Tensor:
    """``previous`` blocking vectors with ``rows`` computed again (:func:`blocking_vectors`),
    as a new tensor. Shapes: ``(N, D)``, features ``(N, F)``, ``(R,)`` -> ``(N, D)``."""
    out = previous.clone()
    if rows.numel():
        out[rows] = blocking_vectors(features, neighbour_edges, beta=beta, student=student, rows=rows)
    return out


def has_neighbours(context: Tensor) -> Tensor:
    """``(N, F) -> (N,)`` bool: rows of a neighbourhood vector that aggregated something."""
    return context.abs().sum(dim=1) > 0


def distil_student(features: Sequence[Tensor], neighbour_edges: Sequence[Tensor],
                   config: ColdStartConfig | None = None) -> ColdStartMLP:
    """Fit the cold-start student on every entity with neighbours, on both sides at once
    (one name -> neighbourhood mapping serves both graphs, as the name vectors do).

    Shapes: per side ``(N_i, F)`` features and ``(2, E_i)`` edges.
    """
    contexts = [neighbour_context(x, e, x.size(0)) for x, e in zip(features, neighbour_edges)]
    c = torch.cat(contexts)
    del contexts  # each (N_i, F): the concatenation is all the fit needs
    return fit(torch.cat(list(features)), c, has_neighbours(c), config)


@dataclass
class Candidates:
    """Top-``k`` targets per source row, best first.

    Shapes: ``index`` ``(N_s, k)`` target rows (``-1`` = no candidate), ``similarity``
    ``(N_s, k)`` cosine similarities (``-inf`` where ``index`` is ``-1``).
    """

    index: Tensor
    similarity: Tensor

    @property
    def k(self) -> int:
        return int(self.index.size(1))

    def pairs(self) -> Iterable[tuple[int, int, float]]:
        """``(source row, target row, similarity)`` for every real candidate."""
        rows, cols = torch.nonzero(self.index >= 0, as_tuple=True)
        for r, c in zip(rows.tolist(), cols.tolist()):
            yield r, int(self.index[r, c]), float(self.similarity[r, c])


class CandidatePair(BaseModel):
    """A proposed pair, by entity key, before the pair model scores it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    target: str
    similarity: float


def _check(x: Tensor, name: str) -> Tensor:
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (N, d) tensor, got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must be a float tensor, got {x.dtype}")
    return x.detach().float().cpu().contiguous()


#: extra rows the bfloat16 pass of :func:`dense_topk` keeps per query beyond ``k``: the
#: margin its rounding needs; a query whose ``k``-th exact score is not clear of the last
#: kept row's bound is searched again in float32
SHORTLIST_EXTRA = 8
_BF16_UNIT = 2.0 ** -8  # unit roundoff of bfloat16 (8 significant bits)
_F32_UNIT = 2.0 ** -24


def bf16_matmul_is_fast() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (oneDNN on AVX-512; about 3-8x
    float32's speed on an AMD EPYC with AVX512-BF16). Elsewhere :func:`dense_topk` stays in
    float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def dense_topk(queries: Tensor, keys: Tensor, k: int, *, chunk: int = 1024,
               query_rows: Tensor | None = None,
               low_precision: bool | None = None) -> tuple[Tensor, Tensor]:
    """Exact top-``k`` keys by inner product for each query row, ``chunk`` rows at a time
    (memory ``chunk x K``; the default keeps a chunk's scores near 80 MB for 20,000 keys).

    ``low_precision`` (default: :func:`bf16_matmul_is_fast`): a shortlist of ``k +``
    :data:`SHORTLIST_EXTRA` (at least; ``k / 2`` for a long list) keys per query from a bfloat16 product, rescored in float32;
    exact all the same: a query's shortlist is kept only when its ``k``-th float32 score
    exceeds what any key outside it can reach — the shortlist's last bfloat16 score plus the
    product's rounding bound (inputs rounded to 8 significant bits, float32 accumulation,
    the output rounded again: Higham, *Accuracy and Stability of Numerical Algorithms*,
    3.1) — and searched again in float32 otherwise. Similarities are then the float32
    dot products of the returned rows, one fixed-shape product per pair whatever the chunk
    or the query rows: the same rows give the same scores bit for bit, and equal scores go
    to the lower key row (unless the tie runs past the shortlist). In float32 mode (a CPU
    without native bfloat16): one ``matmul`` and ``topk`` per chunk, whose last bit may
    differ with the chunk's height.

    ``query_rows``: search for these rows of ``queries`` only, gathered a chunk at a time
    (no copy of every query row).

    Shapes: ``(Q, d), (K, d) -> (Q, min(k, K))`` similarities and key rows, best first
    (``(R, ...)`` for ``R`` query rows).
    """
    if queries.size(1) != keys.size(1):
        raise ValueError(f"queries have {queries.size(1)} columns, keys {keys.size(1)}")
    if k < 1 or chunk < 1:
        raise ValueError("k and chunk must be at least 1")
    k = min(k, keys.size(0))
    n = queries.size(0) if query_rows is None else query_rows.numel()
    low = bf16_matmul_is_fast() if low_precision is None else low_precision
    shortlist = min(k + max(SHORTLIST_EXTRA, k // 2), keys.size(0))
    low_keys = keys.bfloat16() if low else None
    # rounding bound of a bfloat16 product against the float32 one: |q~.t~ - q.t| <=
    # |q~ - q| |t~| + |q| |t~ - t|, plus float32 accumulation over d terms on both sides
    key_norm = keys.norm(dim=1).max().item() if keys.numel() else 0.0
    key_error = max(((low_keys[j:j + 8192].float() - keys[j:j + 8192]).norm(dim=1).max().item()
                     for j in range(0, keys.size(0), 8192)), default=0.0) if low else 0.0
    accumulation = 2 * keys.size(1) * _F32_UNIT * 1.01
    scores, idx, again_count = [], [], 0
    for start in range(0, n, chunk):
        block = queries[start:start + chunk] if query_rows is None \
            else queries.index_select(0, query_rows[start:start + chunk])
        if low:
            low_block = block.bfloat16()
            approx, near = torch.topk(low_block @ low_keys.T, shortlist, dim=1, sorted=True)
            s, i = _rescored_topk(block, keys, near, k)
            if shortlist < keys.size(0):
                q_norm = block.norm(dim=1)
                q_error = (low_block.float() - block).norm(dim=1)
                last = approx[:, -1].float()
                reach = last + _BF16_UNIT / (1 - _BF16_UNIT) * last.abs() \
                    + q_error * (key_norm + key_error) + q_norm * key_error \
                    + accumulation * (q_norm + q_error) * (key_norm + key_error)
                unsure = torch.nonzero(s[:, -1] <= reach, as_tuple=True)[0]
                if unsure.numel():
                    again_count += unsure.numel()
                    again = block.index_select(0, unsure)
                    _, wide = torch.topk(again @ keys.T, shortlist, dim=1, sorted=False)
                    s[unsure], i[unsure] = _rescored_topk(again, keys, wide, k)
        else:
            s, i = torch.topk(block @ keys.T, k, dim=1, sorted=True)
        scores.append(s)
        idx.append(i)
    if low:
        log.debug("exact search: %d of %d queries ranked again in float32 (shortlist not clear)",
                  again_count, n)
    if not scores:
        return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
    return torch.cat(scores), torch.cat(idx)


def _rescored_topk(block: Tensor, keys: Tensor, near: Tensor, k: int, *,
                   rows: int = 256) -> tuple[Tensor, Tensor]:
    """The ``k`` best of each query's ``near`` keys by float32 dot product, one
    matrix-vector product per query (the same call for every pair, whatever the chunk);
    equal scores in key-row order (keys with the same vector, e.g. the same name, come out
    the same way whatever the chunk). Shapes: ``(B, d), (K, d), (B, m) -> (B, k)`` x2."""
    near = torch.sort(near, dim=1).values
    exact = torch.empty(near.shape)
    gathered = torch.zeros(rows, near.size(1), keys.size(1))
    queries = torch.zeros(rows, keys.size(1), 1)
    out = torch.empty(rows, near.size(1), 1)
    for start in range(0, block.size(0), rows):
        part = near[start:start + rows]
        n = part.size(0)
        torch.index_select(keys, 0, part.reshape(-1), out=gathered[:n].view(-1, keys.size(1)))
        queries[:n, :, 0] = block[start:start + rows]
        torch.bmm(gathered, queries, out=out)  # always rows x m x d: the same kernel for every pair
        exact[start:start + n] = out[:n, :, 0]
    s, order = torch.sort(exact, dim=1, descending=True, stable=True)
    return s[:, :k].contiguous(), near.gather(1, order[:, :k])


def _hnsw_topk(queries: Tensor, keys: Tensor, k: int, *, m: int, ef_construction: int,
               ef_search: int, seed: int, threads: int) -> tuple[Tensor, Tensor]:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=keys.size(1))
    index.init_index(max_elements=keys.size(0), ef_construction=ef_construction, M=m,
                     random_seed=seed)
    # Single-threaded insertion: the HNSW graph depends on insertion order.
    index.add_items(keys.numpy(), np.arange(keys.size(0)), num_threads=1)
    index.set_ef(max(ef_search, k))
    labels, distances = index.knn_query(queries.numpy(), k=k, num_threads=threads)
    sim = torch.from_numpy(1.0 - distances.astype(np.float32))  # "ip" distance is 1 - <q, x>
    return sim, torch.from_numpy(labels.astype(np.int64))


def _faiss_topk(queries: Tensor, keys: Tensor, k: int, *, m: int, ef_construction: int,
                ef_search: int, threads: int) -> tuple[Tensor, Tensor]:
    import faiss

    previous = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(1)  # deterministic graph (see module docstring)
        index = faiss.IndexHNSWFlat(keys.size(1), m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.add(keys.numpy())
        index.hnsw.efSearch = max(ef_search, k)
        faiss.omp_set_num_threads(threads)
        sim, labels = index.search(queries.numpy(), k)
    finally:
        faiss.omp_set_num_threads(previous)
    return torch.from_numpy(sim), torch.from_numpy(labels.astype(np.int64))


def search(source: Tensor, target: Tensor, k: int, *,
           source_types: Tensor | None = None, target_types: Tensor | None = None,
           backend: Backend = "auto", chunk: int = 1024, m: int = 32,
           ef_construction: int = 200, ef_search: int = 128, seed: int = 0,
           threads: int | None = None) -> Candidates:
    """Top-``k`` target rows for every source row, restricted to equal type ids.

    Args:
        source: ``(N_s, d)`` L2-normalised source embeddings.
        target: ``(N_t, d)`` L2-normalised target embeddings.
        k: candidates per source entity.
        source_types / target_types: ``(N_s,)`` / ``(N_t,)`` integer type ids; both or
            neither (``None``: one type). Default ``None``.
        backend: ``"auto"`` | ``"exact"`` | ``"hnsw"`` | ``"faiss"``. Default ``"auto"``.
        chunk: query rows per matmul for the exact backend. Default 1024.
        m, ef_construction, ef_search: HNSW graph degree, build and query beam widths
            (recall rises with each). Defaults 32, 200, 128.
        seed: HNSW level-assignment seed. Default 0.
        threads: query threads for ANN backends. Default: all cores.

    Shapes: ``(N_s, d), (N_t, d) -> Candidates (N_s, k)``.
    """
    return _search_rows(source, target, None, None, k, source_types=source_types,
                        target_types=target_types, backend=backend, chunk=chunk, m=m,
                        ef_construction=ef_construction, ef_search=ef_search, seed=seed,
                        threads=threads)


def search_pool(source: Tensor, target: Tensor, sources: Tensor, pool: Tensor, k: int, *,
                source_types: Tensor | None = None, target_types: Tensor | None = None,
                backend: Backend = "auto") -> Candidates:
    """:func:`search` for some source rows among a pool of target rows, returned as rows of
    the *whole* target table (``-1`` padding): blocking for a backfill (every target) or an
    evaluation (the gold targets) alike. Source rows are read a chunk at a time, and the
    pool's rows copied once per entity type (none when the pool is the whole table).

    Shapes: ``source (N_s, d)``, ``target (N_t, d)``, ``sources (Q,)``, ``pool (T,)``,
    types ``(N_s,)`` / ``(N_t,)`` or ``None`` -> :class:`Candidates` ``(Q, k)``.
    """
    return _search_rows(source, target, torch.as_tensor(sources, dtype=torch.long),
                        torch.as_tensor(pool, dtype=torch.long), k, source_types=source_types,
                        target_types=target_types, backend=backend)


def _search_rows(source: Tensor, target: Tensor, sources: Tensor | None, pool: Tensor | None,
                 k: int, *, source_types: Tensor | None, target_types: Tensor | None,
                 backend: Backend, chunk: int = 1024, m: int = 32, ef_construction: int = 200,
                 ef_search: int = 128, seed: int = 0, threads: int | None = None) -> Candidates:
    """:func:`search` of the rows ``sources`` (``None``: all) among the rows ``pool``
    (``None``: all); the result holds rows of ``target``, one row per entry of ``sources``."""
    source, target = _check(source, "source"), _check(target, "target")
    if source.size(1) != target.size(1):
        raise ValueError(f"source has dimension {source.size(1)}, target {target.size(1)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if (source_types is None) != (target_types is None):
        raise ValueError("give entity types for both sides or for neither")
    if backend not in ("auto", "exact", "hnsw", "faiss"):
        raise ValueError(f"unknown backend {backend!r}: expected auto, exact, hnsw or faiss")
    if source_types is None or target_types is None:
        source_types = torch.zeros(source.size(0), dtype=torch.long)
        target_types = torch.zeros(target.size(0), dtype=torch.long)
    source_types = torch.as_tensor(source_types, dtype=torch.long).cpu()
    target_types = torch.as_tensor(target_types, dtype=torch.long).cpu()
    if source_types.shape != (source.size(0),) or target_types.shape != (target.size(0),):
        raise ValueError("entity types must have one id per row of the embeddings")
    sources = torch.arange(source.size(0)) if sources is None else sources
    pool = torch.arange(target.size(0)) if pool is None else pool
    threads = threads or torch.get_num_threads()

    index = torch.full((sources.numel(), k), -1, dtype=torch.long)
    similarity = torch.full((sources.numel(), k), float("-inf"))
    query_types, pool_types = source_types[sources], target_types[pool]
    for t in torch.unique(query_types).tolist():
        at = torch.nonzero(query_types == t, as_tuple=True)[0]  # positions in ``sources``
        t_rows = pool[pool_types == t]
        if t_rows.numel() == 0:
            continue
        s_rows = sources[at]
        whole = t_rows.numel() == target.size(0) and bool((t_rows == torch.arange(target.size(0))).all())
        keys = target if whole else target.index_select(0, t_rows)
        kk = min(k, keys.size(0))
        chosen = backend
        if chosen == "auto":
            chosen = "exact" if keys.size(0) <= EXACT_MAX_TARGETS else "hnsw"
        if chosen == "exact":
            sim, local = dense_topk(source, keys, kk, chunk=chunk, query_rows=s_rows)
        elif chosen == "hnsw":
            sim, local = _hnsw_topk(source.index_select(0, s_rows), keys, kk, m=m,
                                    ef_construction=ef_construction, ef_search=ef_search,
                                    seed=seed, threads=threads)
        else:
            sim, local = _faiss_topk(source.index_select(0, s_rows), keys, kk, m=m,
                                     ef_construction=ef_construction, ef_search=ef_search,
                                     threads=threads)
        del keys
        found = local >= 0  # ANN may return fewer than kk (faiss pads with -1)
        rows = torch.where(found, t_rows[local.clamp(min=0)], torch.full_like(local, -1))
        index[at, :kk] = rows
        similarity[at, :kk] = torch.where(found, sim, torch.full_like(sim, float("-inf")))
        log.debug("type %d: %d sources x %d targets, backend %s", t, at.numel(),
                  t_rows.numel(), chosen)
    return Candidates(index=index, similarity=similarity)


def hubness(target: Tensor, source: Tensor, targets: Tensor, sources: Tensor, *, k: int = CSLS_K,
            target_types: Tensor | None = None, source_types: Tensor | None = None,
            backend: Backend = "auto") -> Tensor:
    """CSLS hubness ``r_t`` of the rows ``targets``: the mean cosine of each one's ``k``
    nearest rows ``sources`` of its type (fewer where its type has fewer; 0 with none).

    Shapes: ``target (N_t, d)``, ``source (N_s, d)``, ``targets (T,)``, ``sources (S,)`` -> ``(T,)``.
    """
    found = search_pool(target, source, targets, sources, k, source_types=target_types,
                        target_types=source_types, backend=backend)
    real = found.index >= 0
    total = torch.where(real, found.similarity, torch.zeros_like(found.similarity)).sum(dim=1)
    return torch.where(real.any(dim=1), total / real.sum(dim=1).clamp(min=1), torch.zeros_like(total))


@dataclass
class CslsSearch:
    """Blocking ranked by CSLS (see the module docstring): a source's ``k`` targets with the
    highest ``cos(s, t) - r_t / 2``, searched as inner products of ``[s, 1]`` and
    ``[t, -r_t / 2]`` by :func:`search_pool` (so every backend serves it), returned with
    their plain cosines (the inner product plus ``r_t / 2``). It holds the vectors, not
    copies: each search copies the rows it searches and the pool's rows, widened by one.

    Shapes: ``source (N_s, d)``, ``target (N_t, d)`` L2-normalised, ``hubness (N_t,)``
    (:func:`hubness`; 0 for rows never searched).
    """

    source: Tensor
    target: Tensor
    hubness: Tensor

    def __post_init__(self) -> None:
        if self.hubness.shape != (self.target.size(0),):
            raise ValueError(f"hubness has shape {tuple(self.hubness.shape)}, expected ({self.target.size(0)},)")
        self.hubness = self.hubness.float()

    def search(self, sources: Tensor, pool: Tensor, k: int, *, source_types: Tensor | None = None,
               target_types: Tensor | None = None, backend: Backend = "auto",
               queries: Tensor | None = None) -> Candidates:
        """:func:`search_pool` ranked by CSLS: ``(Q,)`` source rows among ``(T,)`` target
        rows -> :class:`Candidates` ``(Q, k)`` in rows of the whole target table,
        similarities the plain cosines. ``queries``: ``(N_q, d)`` vectors of other sources
        to search with instead (``sources`` and ``source_types`` then index them)."""
        sources, pool = torch.as_tensor(sources, dtype=torch.long), torch.as_tensor(pool, dtype=torch.long)
        vectors = _check(self.source if queries is None else queries, "queries")
        wide_queries = torch.cat([vectors.index_select(0, sources), torch.ones(sources.numel(), 1)], dim=1)
        wide_keys = torch.cat([_check(self.target, "target").index_select(0, pool),
                               -0.5 * self.hubness.index_select(0, pool)[:, None]], dim=1)
        found = search_pool(wide_queries, wide_keys, torch.arange(sources.numel()), torch.arange(pool.numel()), k,
                            source_types=None if source_types is None else source_types[sources],
                            target_types=None if target_types is None else target_types[pool],
                            backend=backend)
        del wide_queries, wide_keys
        real = found.index >= 0
        rows = torch.where(real, pool[found.index.clamp(min=0)], torch.full_like(found.index, -1))
        back = 0.5 * self.hubness[rows.clamp(min=0)]
        return Candidates(index=rows, similarity=torch.where(real, found.similarity + back, found.similarity))


@dataclass
class CandidateCache:
    """Blocking results kept between jobs by a long-running caller (the worker), by key:
    a source's candidate targets and their similarities, valid for one pool of targets, one
    ``k``, one set of seed anchors (:mod:`kgn_align.seed_propagation`) and one set of CSLS
    hubness values (:class:`CslsSearch`). The caller drops
    what a change can move (:meth:`forget`); the rest is reused instead of searching every
    source again (:func:`search_cached`)."""

    pool: frozenset[str] | None = None
    k: int = 0
    anchors: frozenset[tuple[str, str]] = frozenset()
    #: each pool target's CSLS hubness, by key (empty: lists ranked by cosine)
    hubness: dict[str, float] = field(default_factory=dict)
    lists: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def forget(self, sources: Iterable[str] = (), targets: Iterable[str] = ()) -> int:
        """Drop the lists of ``sources`` and every list holding one of ``targets``; returns
        how many lists were dropped."""
        gone = set(sources) & self.lists.keys()
        wanted = set(targets)
        if wanted:
            gone |= {s for s, found in self.lists.items() if any(t in wanted for t, _ in found)}
        for s in gone:
            del self.lists[s]
        return len(gone)

    def clear(self) -> None:
        self.pool, self.k, self.anchors, self.hubness = None, 0, frozenset(), {}
        self.lists.clear()


def search_cached(cache: CandidateCache, source_keys: Sequence[str], target_keys: Sequence[str],
                  sources: Tensor, pool: Tensor, k: int, search_fn: Callable[[Tensor], Candidates], *,
                  anchors: frozenset[tuple[str, str]] = frozenset(),
                  hubness: dict[str, float] | None = None) -> Candidates:
    """:func:`search_pool`'s result for ``sources`` x ``pool``, searching only the sources
    ``cache`` holds no list for (``search_fn(rows)``: the search for those source rows) and
    keeping what it finds. A different pool, ``k``, set of seed ``anchors`` (the blocking
    vectors hold them) or ``hubness`` (the pool targets' CSLS hubness by key, that
    ``search_fn`` ranks with) empties the cache first. Shapes as
    :func:`search_pool`: ``(Q,)`` sources -> ``(Q, k)``.
    """
    pool_keys = frozenset(target_keys[i] for i in pool.tolist())
    hubness = hubness or {}
    if cache.pool != pool_keys or cache.k != k or cache.anchors != anchors or cache.hubness != hubness:
        cache.clear()
        cache.pool, cache.k, cache.anchors, cache.hubness = pool_keys, k, anchors, dict(hubness)
    row_of = {target_keys[i]: i for i in pool.tolist()}
    keys = [source_keys[i] for i in sources.tolist()]
    missing = [j for j, key in enumerate(keys) if key not in cache.lists]
    if missing:
        found = search_fn(sources[torch.tensor(missing, dtype=torch.long)])
        for j, rows, sims in zip(missing, found.index.tolist(), found.similarity.tolist()):
            cache.lists[keys[j]] = [(target_keys[r], s) for r, s in zip(rows, sims) if r >= 0]
    lengths = [min(len(cache.lists[key]), k) for key in keys]
    flat = [entry for key in keys for entry in cache.lists[key][:k]]
    index = torch.full((len(keys), k), -1, dtype=torch.long)
    similarity = torch.full((len(keys), k), float("-inf"))
    if flat:
        lens = torch.tensor(lengths, dtype=torch.long)
        owner = torch.repeat_interleave(torch.arange(len(keys)), lens)
        slot = torch.arange(len(flat)) - torch.repeat_interleave(torch.cumsum(lens, 0) - lens, lens)
        index[owner, slot] = torch.tensor([row_of[t] for t, _ in flat], dtype=torch.long)
        similarity[owner, slot] = torch.tensor([sim for _, sim in flat], dtype=similarity.dtype)
    return Candidates(index=index, similarity=similarity)


def recall_at_k(candidates: Candidates | Tensor, gold: Sequence[tuple[int, int]] | Tensor,
                ks: Sequence[int] = DEFAULT_KS) -> dict[int, float]:
    """Share of gold pairs ``(source row, target row)`` whose target is among the
    source's first ``k`` candidates, for each ``k`` in ``ks`` (``k`` above the number of
    candidates counts all of them). This bounds the recall of everything downstream.
    """
    index = candidates.index if isinstance(candidates, Candidates) else candidates
    gold_t = torch.as_tensor(gold, dtype=torch.long).reshape(-1, 2)
    if gold_t.numel() == 0:
        raise ValueError("no gold pairs to measure recall on")
    rows = index[gold_t[:, 0]]
    hit = rows == gold_t[:, 1:2]
    never = torch.iinfo(torch.long).max  # rank of a gold target that is not a candidate
    first = torch.where(hit.any(1), hit.long().argmax(1), torch.full_like(gold_t[:, 0], never))
    return {k: float((first < k).double().mean()) for k in ks}


def candidate_pairs(candidates: Candidates, source_keys: Sequence[str],
                    target_keys: Sequence[str]) -> list[CandidatePair]:
    """Candidates as keyed records (for the pair model, or for a file)."""
    return [CandidatePair(source=source_keys[r], target=target_keys[c], similarity=s)
            for r, c, s in candidates.pairs()]


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
