"""Which source entities a change to the graph can re-align.

The APOC trigger (``plugin/apoc_triggers.cypher``) queues a ``changed`` job with the element
ids of the nodes a transaction created or modified. Re-aligning the whole source side for
each such job would cost a full backfill per edit; instead the worker re-aligns the source
entities whose candidates or scores the change can move:

- a changed source entity itself;
- source entities with a changed node among their sampled hop-1 neighbours (their tree,
  and so their score, changed);
- for a changed target entity, the ``k`` source entities nearest to it on the blocking
  vectors (a search the other way, target -> sources, on the vectors the backfill searches
  with): those are the sources that may now have it, or no longer have it, as a candidate.
  This approximates "the sources whose top-k holds it"; a full backfill is exact.

Nodes the snapshot does not know (deleted since, or on neither side) are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch

from kgn_align.candidates import search_pool
from kgn_align.scoring import ModelScorer

log = logging.getLogger(__name__)


def affected_sources(scorer: ModelScorer, element_ids: Iterable[str]) -> list[str]:
    """Keys of the source entities to re-align after ``element_ids`` changed, sorted."""
    snapshot = scorer.snapshot
    src, tgt = snapshot.source, snapshot.target
    ids = set(element_ids)
    src_rows = [src.table.row_of[i] for i in ids if i in src.table.row_of]
    tgt_rows = [tgt.table.row_of[i] for i in ids if i in tgt.table.row_of]
    aligned_src = torch.tensor(sorted(src.aligned_row.values()), dtype=torch.long)
    hit = torch.zeros(len(src.table), dtype=torch.bool)
    if src_rows:
        changed = torch.zeros(len(src.table), dtype=torch.bool)
        changed[src_rows] = True
        hit |= changed
        edges = src.store.edges()  # [seed, neighbour]
        hit[edges[0][changed[edges[1]]]] = True
    aligned_tgt = [r for r in tgt_rows if tgt.table.aligned[r]]
    if aligned_tgt and aligned_src.numel():
        found = search_pool(scorer.block_b, scorer.block_a, torch.tensor(aligned_tgt), aligned_src,
                            scorer.k, source_types=scorer.types_b, target_types=scorer.types_a)
        hit[found.index[found.index >= 0]] = True
    keys = sorted(src.table.keys[r] for r in torch.nonzero(hit, as_tuple=True)[0].tolist()
                  if src.table.aligned[r])
    log.info("%d changed node(s) (%d source side, %d target side) -> %d source entities to re-align",
             len(ids), len(src_rows), len(tgt_rows), len(keys))
    return keys


def stale_keys(scorer: ModelScorer, element_ids: Iterable[str]) -> tuple[set[str], set[str]]:
    """Keys of the source and target entities whose sampled trees (any depth, the seed
    included) hold one of the changed nodes ``element_ids``: the pair model's logits of
    their pairs may differ now, so a kept logit cache must forget them."""
    ids = set(element_ids)
    out: tuple[set[str], set[str]] = (set(), set())
    for side, keys in zip((scorer.snapshot.source, scorer.snapshot.target), out):
        rows = [side.table.row_of[i] for i in ids if i in side.table.row_of]
        if not rows:
            continue
        store = side.store
        changed = torch.zeros(len(store.keys), dtype=torch.bool)
        changed[rows] = True
        trees = store.slot_tree[changed[store.slot_entity]]
        seeds = set(store.tree_seed[trees].tolist()) | set(rows)
        keys.update(store.keys[r] for r in seeds)
    return out


def forget_changed(scorer: ModelScorer, element_ids: Iterable[str]) -> list[str]:
    """Drop from the scorer's :class:`~kgn_align.scoring.ScoringCache` what the changed nodes
    can move — the logits of pairs whose trees hold one (:func:`stale_keys`), the candidate
    lists of the sources to re-align and of those whose trees changed, every list holding a
    target whose tree changed, and the nameless validation lists when one of their pairs is
    among them — and return the source keys to re-align (:func:`affected_sources`). The
    chosen logit weights stay (:class:`~kgn_align.scoring.ScoringCache`). Call it before the
    scorer's alignment is computed."""
    ids = list(element_ids)
    stale = stale_keys(scorer, ids)
    keys = affected_sources(scorer, ids)
    cache = scorer.cache
    if cache is not None:
        dropped = forget(cache.logits, stale)
        lists = cache.candidates.forget(sources=set(keys) | stale[0], targets=stale[1])
        nameless = cache.nameless
        if nameless is not None:
            s_keys, t_keys = scorer.snapshot.source.table.keys, scorer.snapshot.target.table.keys
            if ({s_keys[r] for r in nameless.rows.tolist()} & stale[0]
                    or {t_keys[c] for c in nameless.matrix.col.tolist()} & stale[1]):
                cache.forget_nameless()
        log.info("change: %d kept pair scores and %d candidate lists dropped (%d scores kept)",
                 dropped, lists, len(cache.logits))
    return keys


def forget(cache: dict[tuple[str, str], float], stale: tuple[set[str], set[str]]) -> int:
    """Drop from a logit cache the pairs with a stale source or target; returns how many."""
    sources, targets = stale
    gone = [p for p in cache if p[0] in sources or p[1] in targets]
    for p in gone:
        del cache[p]
    return len(gone)
