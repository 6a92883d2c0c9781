"""Deterministic race keys: the one definition of "random" shared by Cypher and Python.

Neighbours are drawn without replacement by an *exponential race* (Efraimidis & Spirakis,
2006): every candidate ``m`` of node ``x`` gets the key ``-ln(u) / w`` with ``u`` uniform on
(0, 1) and weight ``w``; the ``k`` smallest keys are a weighted sample of size ``k`` without
replacement, and the ``k`` smallest are a prefix of the ``k + 1`` smallest. With
``w = 1 / c`` (``c`` = how many of ``x``'s neighbours share the candidate's relationship
type and direction) the key is ``c * -ln(u)``.

Why not ``rand()``: ArcadeDB cannot seed it and Neo4j's is not reproducible either. ``u`` is
therefore a hash of ``(seed, x, m, direction)`` computed with plain 64-bit integer
arithmetic that Neo4j 5, ArcadeDB and numpy evaluate identically:

- every node carries an integer property (:data:`HASH_PROPERTY`), ``node_hash(key)`` in
  ``[1, P - 1]`` with ``P = 2**31 - 1``, written once by :meth:`Sampler.prepare
  <kgn_align.sampling.server.Sampler.prepare>` (Cypher has no portable string hash; strings
  can't be hashed in-query cheaply). With ``sampling.store_hash = false`` nothing is
  written: the sampler computes ``node_hash`` of the keys it reads and draws in Python;
- a random seed becomes two offsets ``s1, s2`` (:func:`seed_offsets`), passed as parameters;
- mixing: multiply-add mod ``P``, a squaring mod ``P`` and 16/15-bit rotations (Cypher
  has no XOR). A purely affine mix was tried first and failed: the offsets enter
  additively, so two candidates' ``u`` stayed correlated across seeds (r = 0.39) and the
  one-director-vs-fifty-actors draw came out 0.47 instead of 0.50; with the squaring the
  pairwise correlation over 20,000 seeds is at noise level (|r| < 0.025). All products stay
  below ``2**62``: no overflow on any server (Neo4j raises on overflow, it does not wrap).

``u`` deliberately does not depend on the relationship type (Cypher has no cheap integer
for a type name): a pair linked by two types gets one ``u`` and two keys that differ
through ``c`` only. Ties on the key are broken by (type name, direction, neighbour key) in
both implementations.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Mersenne prime 2**31 - 1: the modulus of every mixing step.
P = 2_147_483_647
#: Nonzero multipliers below P; any distinct ones would do (these are arbitrary, fixed).
M_NODE = 1_583_458_089
M1 = 784_588_716
M2 = 1_223_106_847
M3 = 1_914_874_113
#: Node property holding :func:`node_hash` of the node's key.
HASH_PROPERTY = "kgnHash"


def node_hash(key: object) -> int:
    """Stable integer in ``[1, P - 1]`` for an entity key (``str(key)``, UTF-8, BLAKE2b)."""
    digest = hashlib.blake2b(str(key).encode("utf-8"), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "big") % (P - 1)


def node_hashes(keys: list[str]) -> NDArray[np.int64]:
    return np.fromiter((node_hash(k) for k in keys), dtype=np.int64, count=len(keys))


def seed_offsets(seed: int) -> tuple[int, int]:
    """The two per-seed offsets ``s1, s2`` in ``[0, P)`` (query parameters ``$s1``/``$s2``)."""
    digest = hashlib.blake2b(f"kgn-align/sampling/{int(seed)}".encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "big") % P, int.from_bytes(digest[8:], "big") % P


def _rotate(t: NDArray[np.int64]) -> NDArray[np.int64]:
    """31-bit rotation: ``(t % 2**16) * 2**15 + t // 2**16``; maps [0, P) into [0, P)."""
    return (t % 65536) * 32768 + t // 65536


def uniform(hx: ArrayLike, hm: ArrayLike, direction: ArrayLike, seed: int) -> NDArray[np.float64]:
    """``u`` in (0, 1) for candidates (``hx``, ``hm``: node hashes; ``direction`` 0/1).

    Must match the Cypher in ``cypher/sampling_*.cypher`` operation for operation.
    """
    s1, s2 = seed_offsets(seed)
    hx = np.asarray(hx, dtype=np.int64)
    hm = np.asarray(hm, dtype=np.int64)
    d = np.asarray(direction, dtype=np.int64)
    pair = ((hx * M_NODE) % P + hm) % P  # the candidate, independent of the seed
    t1 = (pair * M1 + s1 + d) % P
    t2 = ((t1 * t1) % P + s2) % P  # squaring: the step that breaks additive structure
    t3 = (_rotate(t2) * M2 + pair) % P
    t4 = (_rotate(t3) * M3) % P
    return (t4.astype(np.float64) + 0.5) / float(P)


def race_keys(u: NDArray[np.float64], group_size: ArrayLike | None) -> NDArray[np.float64]:
    """``c * -ln(u)`` (weighted, ``c`` = group size) or ``-ln(u)`` (``group_size=None``)."""
    e = -np.log(u)
    if group_size is None:
        return e
    return np.asarray(group_size, dtype=np.float64) * e
