"""Stand-in loader + in-memory sampler for the KG benchmark folders (DBP15K, SRPRS).

Private to ``benchmarks/train_eval.py`` and one unit test. It predates
``kgn_align.datasets`` and ``kgn_align.sampling.sample_in_memory``, which the product uses;
it stays because the pair-model figures in ``results/`` were produced with its sampler (a
numpy draw, not the product's hash race keys), and replacing it means re-running them.
Finds the data as the CLI does (``$KGN_ALIGN_DATASETS``, else ``../shared/datasets``),
read-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import torch

from kgn_align.datasets import dataset_dir
from kgn_align.neighborhood import DIR_IN, DIR_OUT, TreeStore



@dataclass
class KGPair:
    ids: tuple[list[int], list[int]]  # dataset ids per side (row order)
    names: tuple[list[str], list[str]]
    triples: tuple[np.ndarray, np.ndarray]  # (T, 3) rows: head_row, rel_id, tail_row
    train: np.ndarray  # (P, 2) rows (side1 row, side2 row)
    test: np.ndarray
    types: tuple[np.ndarray, np.ndarray] | None = None  # (N,) type id per entity (tables)
    type_names: list[str] | None = None
    seeds: tuple[np.ndarray, np.ndarray] | None = None  # rows of the aligned type (tables: papers/songs)
    labelled: dict[str, np.ndarray] | None = None  # split -> (P, 3) rows a, b, label (itunes_amazon)


def _rows(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    return [line.rstrip("\r").split("\t") for line in text.split("\n") if line.strip()]


def load_kg(name: str, root: Path | None = None, *, train_ratio: float = 0.3, names: str = "translated") -> KGPair:
    """``names``: "translated" (English translation where given, else the URI name),
    "native" (URI local name), or "both" (joined with " | ")."""
    if names not in ("translated", "native", "both"):
        raise ValueError(f"names must be translated, native or both, not {names!r}")
    folder = dataset_dir(name, root)  # $KGN_ALIGN_DATASETS or ../shared/datasets, as the CLI finds it
    trans: dict[int, str] = {}
    tpath = folder / "translated_names.json"
    if tpath.exists():
        trans = {int(i): " ".join(toks) for i, toks in json.loads(tpath.read_text())}
    names_mode = names
    ids, names, index = [], [], []
    for side in (1, 2):
        rows = _rows(folder / f"ent_ids_{side}")
        side_ids = [int(r[0]) for r in rows]
        local = [unquote(r[1].rsplit("/", 1)[-1]).replace("_", " ") for r in rows]
        ids.append(side_ids)
        if names_mode == "native":
            names.append(local)
        elif names_mode == "both":
            names.append([f"{trans.get(i) or n} | {n}" for i, n in zip(side_ids, local)])
        else:
            names.append([trans.get(i) or n for i, n in zip(side_ids, local)])
        index.append({e: k for k, e in enumerate(side_ids)})
    triples = []
    for side in (1, 2):
        t = np.array([[int(x) for x in r[:3]] for r in _rows(folder / f"triples_{side}")])
        ix = index[side - 1]
        keep = np.array([h in ix and tl in ix for h, _, tl in t])
        t = t[keep]
        triples.append(np.stack([[ix[h] for h in t[:, 0]], t[:, 1], [ix[x] for x in t[:, 2]]], 1))

    def pairs(file: str) -> np.ndarray:
        return np.array([[index[0][int(a)], index[1][int(b)]] for a, b, *_ in _rows(folder / file)])

    if (folder / "sup_ent_ids").exists():
        train, test = pairs("sup_ent_ids"), pairs("ref_ent_ids")
    else:
        gold = pairs("ref_ent_ids")
        cut = int(round(train_ratio * len(gold)))
        train, test = gold[:cut], gold[cut:]
    return KGPair((ids[0], ids[1]), (names[0], names[1]), (triples[0], triples[1]), train, test)


def sample_trees(
    num_entities: int,
    triples: np.ndarray,
    *,
    k1: int = 10,
    k2: int = 5,
    seed: int = 0,
    weighted: bool = True,
    seeds: np.ndarray | None = None,
    entity_type: np.ndarray | None = None,
    types: list[str] | None = None,
) -> TreeStore:
    """Two-hop trees for every entity; neighbours drawn without replacement with weight
    1 / (number of the node's neighbours sharing that relation type and direction)."""
    rng = np.random.default_rng(seed)
    h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
    # incident edges both directions: node, neighbour, rel, dir (as seen from node)
    node = np.concatenate([h, t])
    nbr = np.concatenate([t, h])
    rel = np.concatenate([r, r])
    direc = np.concatenate([np.full(len(h), DIR_OUT), np.full(len(t), DIR_IN)])
    order = np.argsort(node, kind="stable")
    node, nbr, rel, direc = node[order], nbr[order], rel[order], direc[order]
    ptr = np.searchsorted(node, np.arange(num_entities + 1))
    # weight: 1 / count of (node, rel, dir)
    key = (node.astype(np.int64) * 1_000_003 + rel) * 2 + direc
    _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    w = 1.0 / cnt[inv] if weighted else np.ones(len(key))

    def draw(n: int, k: int, exclude: int) -> np.ndarray:
        lo, hi = ptr[n], ptr[n + 1]
        cand = np.arange(lo, hi)
        cand = cand[nbr[cand] != exclude]
        if len(cand) <= k:
            return cand
        p = w[cand] / w[cand].sum()
        return rng.choice(cand, size=k, replace=False, p=p)

    rel_names = sorted(set(r.tolist()))
    rel_index = {x: i for i, x in enumerate(rel_names)}
    tree_ptr = [0]
    s_ent, s_depth, s_par, s_rel, s_dir = [], [], [], [], []
    seed_rows = np.arange(num_entities) if seeds is None else np.asarray(seeds)
    for e in seed_rows.tolist():
        ents, depth, par, rl, dr = [e], [0], [-1], [-1], [-1]
        for ei in draw(e, k1, -1):
            ents.append(int(nbr[ei])); depth.append(1); par.append(0)
            rl.append(rel_index[int(rel[ei])]); dr.append(int(direc[ei]))
            me = len(ents) - 1
            for ej in draw(int(nbr[ei]), k2, e):
                ents.append(int(nbr[ej])); depth.append(2); par.append(me)
                rl.append(rel_index[int(rel[ej])]); dr.append(int(direc[ej]))
        s_ent += ents; s_depth += depth; s_par += par; s_rel += rl; s_dir += dr
        tree_ptr.append(len(s_ent))
    lt = lambda x: torch.tensor(x, dtype=torch.long)  # noqa: E731
    return TreeStore(
        keys=[str(i) for i in range(num_entities)],
        entity_type=(torch.zeros(num_entities, dtype=torch.long) if entity_type is None
                     else torch.as_tensor(entity_type, dtype=torch.long)),
        tree_ptr=lt(tree_ptr),
        tree_seed=torch.as_tensor(seed_rows, dtype=torch.long),
        slot_entity=lt(s_ent),
        slot_depth=lt(s_depth),
        slot_parent=lt(s_par),
        slot_rel=lt(s_rel),
        slot_dir=lt(s_dir),
        relations=[str(x) for x in rel_names],
        types=list(types) if types is not None else ["Entity"],
    )


# ---------------------------------------------------------------------------- tables
#: attribute values appended to a record's text (they disambiguate look-alike titles)
TABLE_TEXT_ATTRIBUTES = {"dblp_acm": ("year",), "itunes_amazon": ("time", "price")}


def load_table(name: str, *, train_ratio: float = 0.3, seed: int = 0, root: Path | None = None) -> KGPair:
    """A table dataset (via :mod:`kgn_align.datasets`) as two typed graphs.

    Each side: its records (Paper / Song) first, then one entity per distinct linked name
    (Author, Venue / Artist, Album, Genre), with ``record -[REL]-> linked`` triples. Record
    text = name + the attribute values in :data:`TABLE_TEXT_ATTRIBUTES`. dblp_acm: the gold is
    shuffled (seeded) and split ``train_ratio`` / rest; itunes_amazon: positives of its train
    split for training, its labelled valid/test pairs in ``labelled``.
    """
    from kgn_align.datasets import read_tables

    ds = read_tables(name, root)
    attrs = TABLE_TEXT_ATTRIBUTES.get(name, ())
    rel_index: dict[str, int] = {}
    type_names: list[str] = list(ds.labels)
    names_out, triples_out, types_out, seeds_out, key_rows = [], [], [], [], []
    for side in (0, 1):
        recs = ds.records[side]
        names = [" ".join([r.name] + [str(r.attributes[a]) for a in attrs if a in r.attributes]) for r in recs]
        types = [type_names.index(r.label) for r in recs]
        rows = {r.key: i for i, r in enumerate(recs)}
        linked: dict[tuple[str, str], int] = {}
        trip = []
        for i, r in enumerate(recs):
            for rel, label, target in r.links:
                k = (label, target.lower())
                if k not in linked:
                    linked[k] = len(names)
                    names.append(target)
                    types.append(type_names.index(label))
                trip.append((i, rel_index.setdefault(rel, len(rel_index)), linked[k]))
        names_out.append(names)
        triples_out.append(np.array(trip, dtype=np.int64).reshape(-1, 3))
        types_out.append(np.array(types))
        seeds_out.append(np.arange(len(recs)))
        key_rows.append(rows)

    def to_rows(pairs: list[tuple[str, str, int]]) -> np.ndarray:
        return np.array([[key_rows[0][a], key_rows[1][b], y] for a, b, y in pairs], dtype=np.int64).reshape(-1, 3)

    labelled = None
    if "valid" not in ds.splits:  # dblp_acm: the reader's seeded train/test cut of the gold
        if (train_ratio, seed) != (0.3, 0):
            from kgn_align.datasets import split_gold

            ds.splits.update(split_gold(ds.splits["train"] + ds.splits["test"], train_ratio, seed))
        train, test = to_rows(ds.splits["train"])[:, :2], to_rows(ds.splits["test"])[:, :2]
    else:
        labelled = {k: to_rows(v) for k, v in ds.splits.items()}
        train = labelled["train"][labelled["train"][:, 2] == 1, :2]
        test = labelled["test"][labelled["test"][:, 2] == 1, :2]
    ids = (list(range(len(names_out[0]))), list(range(len(names_out[1]))))
    return KGPair(ids, (names_out[0], names_out[1]), (triples_out[0], triples_out[1]), train, test,
                  types=(types_out[0], types_out[1]), type_names=type_names,
                  seeds=(seeds_out[0], seeds_out[1]), labelled=labelled)
