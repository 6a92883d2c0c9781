"""Parsers for the public benchmark files in ``../shared/datasets`` (read-only).

Pure functions: files in, records out, no graph access. Everything is validated before a
single row is written anywhere, so a malformed file stops a load with file and line and
leaves the graph untouched. CRLF line endings are accepted everywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import numpy as np

from kgn_align.config import IDENTIFIER_RE
from kgn_align.errors import ConfigError, InputError, did_you_mean

DATASETS_ENV = "KGN_ALIGN_DATASETS"
KG_DATASETS = ("dbp15k_fr_en", "dbp15k_ja_en", "srprs_en_fr")
TABLE_DATASETS = ("dblp_acm", "itunes_amazon")
_REL_SAFE = re.compile(r"[^A-Za-z0-9_]+")


def default_root() -> Path:
    """``$KGN_ALIGN_DATASETS``, else ``../shared/datasets`` from the working directory or
    from the checkout this package lives in."""
    env = os.environ.get(DATASETS_ENV)
    if env:
        return Path(env)
    candidates = [Path.cwd() / ".." / "shared" / "datasets",
                  Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return candidates[0]


KG_MARKER = "ent_ids_1"  #: a folder holding this file is in the KG benchmark format


def is_kg(name: str, root: str | os.PathLike[str] | None = None) -> bool:
    """True for a KG-format folder: a path to one, or any folder name under ``<root>/kg``."""
    if name in TABLE_DATASETS:
        return False
    if (Path(name) / KG_MARKER).is_file():
        return True
    root_path = Path(root) if root is not None else default_root()
    return name in KG_DATASETS or (root_path / "kg" / name / KG_MARKER).is_file()


def dataset_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of dataset ``name``: a table benchmark by name, or any folder in the KG
    format (DBP15K/SRPRS files: ``ent_ids_1``, ``triples_1``, ``ref_ent_ids``, ...) given
    by path or by its name under ``<root>/kg``."""
    root_path = Path(root) if root is not None else default_root()
    if name in TABLE_DATASETS:
        path = root_path / "tables" / name
    elif (Path(name) / KG_MARKER).is_file():
        return Path(name)
    else:
        path = root_path / "kg" / name
        if path.is_dir() and not (path / KG_MARKER).is_file():
            raise ConfigError(f"{path} is not in the KG benchmark format (no {KG_MARKER} file)")
        if not path.is_dir() and "/" in name:
            raise ConfigError(f"no KG benchmark folder at {name} (it needs a {KG_MARKER} file)")
        if not path.is_dir() and name not in KG_DATASETS:
            raise ConfigError(f"unknown dataset {name!r}{_near_miss(name, root_path)}: no KG-format "
                              f"folder {path} (those under "
                              f"{root_path / 'kg'}: {', '.join(kg_names(root_path)) or 'none'}; "
                              f"table benchmarks: {', '.join(TABLE_DATASETS)}; or give a folder's "
                              f"path, --datasets PATH or {DATASETS_ENV})")
    if not path.is_dir():
        raise ConfigError(f"dataset {name!r} not found at {path} "
                          f"(give --datasets PATH or set {DATASETS_ENV})")
    return path


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without line ending); blank lines skipped. A UTF-8 byte-order
    mark (files saved on Windows) is dropped; invalid UTF-8 is an error naming the line."""
    try:
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(f"not UTF-8 text at byte {exc.start + 1} of the line "
                                     f"({exc.reason})", path=str(path), line=number) from None
                if number == 1:
                    text = text.removeprefix("\ufeff")
                line = text.rstrip("\r\n")
                if line.strip():
                    yield number, line
    except FileNotFoundError:
        raise InputError("file not found", path=str(path)) from None


def _int(text: str, what: str, path: Path, line: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{what} {text!r} is not an integer", path=str(path), line=line) from None


def _fields(line: str, n: int, path: Path, number: int, sep: str = "\t") -> list[str]:
    parts = [p.strip() for p in line.split(sep)]  # spaces around separators are not data
    if len(parts) != n:
        raise InputError(f"expected {n} {sep!r}-separated fields, found {len(parts)}",
                         path=str(path), line=number)
    return parts


def local_name(uri: str) -> str:
    """``http://fr.dbpedia.org/resource/Saint_Joseph`` -> ``Saint Joseph``."""
    tail = uri.rstrip("/").rsplit("/", 1)[-1]
    return unquote(tail).replace("_", " ")


def relation_name(uri_or_id: str) -> str:
    """A relation's own name: its URI's local name, percent-decoded (``出生地``, ``has-part``)."""
    return unquote(uri_or_id.rstrip("/").rsplit("/", 1)[-1])


def relation_type(uri_or_id: str, reserved: tuple[str, ...] = ("SAME_AS",)) -> str:
    """A relationship type for a relation, readable and one-to-one with its name.

    A name that is already a safe identifier (letters, digits, ``_``) is the type as it is;
    any other name keeps its safe characters and gets ``_`` plus 6 hex digits of its SHA-1,
    so that distinct names never share a type (``has-part`` -> ``has_part_3c1a9e``, never
    ``has_part``; ``出生地`` -> ``R_9b2f41``). Names in ``reserved`` (the alignment type)
    become ``R_<name>``: a data relation is never written as an alignment edge. Numeric ids
    (sets without relation names) are ``R_<id>``. The loaders keep the original name on
    each relationship whose type differs from it (``r.relation``).
    """
    if uri_or_id.isdigit():
        return f"R_{uri_or_id}"
    name = relation_name(uri_or_id)
    if IDENTIFIER_RE.fullmatch(name):
        return f"R_{name}"[:128] if name in reserved else name
    safe = _REL_SAFE.sub("_", name).strip("_")
    if not safe or not safe[0].isalpha():
        safe = f"R_{safe}".rstrip("_")
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:6]
    return f"{safe[:120]}_{digest}"


# ---------------------------------------------------------------------------- KG format
@dataclass
class KGSide:
    name: str  #: e.g. "fr"
    uris: dict[int, str]  #: entity id -> URI
    triples: list[tuple[int, str, int]]  #: (head id, relationship type, tail id)
    names: dict[int, str] = field(default_factory=dict)  #: translated (English) names
    #: relationship type -> the relation's own name, where the two differ
    relations: dict[str, str] = field(default_factory=dict)


@dataclass
class KGDataset:
    """Two knowledge graphs and their alignment. Test pairs never go into the graph."""

    name: str
    sides: tuple[KGSide, KGSide]
    train_pairs: list[tuple[int, int]]
    test_pairs: list[tuple[int, int]]

    def graph_name(self, side: int) -> str:
        return f"{self.name}/{self.sides[side].name}"

    def slice(self, n_pairs: int) -> KGDataset:
        """About ``n_pairs`` gold pairs (train and test in the dataset's proportion), their
        entities, and the triples among them: a small, consistent piece for tests."""
        total = len(self.train_pairs) + len(self.test_pairs)
        n_train = min(len(self.train_pairs), round(n_pairs * len(self.train_pairs) / max(total, 1)))
        train = self.train_pairs[:n_train]
        test = self.test_pairs[:n_pairs - n_train]
        pairs = train + test
        keep = [{a for a, _ in pairs}, {b for _, b in pairs}]
        sides = tuple(
            KGSide(s.name, {i: u for i, u in s.uris.items() if i in keep[k]},
                   [t for t in s.triples if t[0] in keep[k] and t[2] in keep[k]],
                   {i: n for i, n in s.names.items() if i in keep[k]}, s.relations)
            for k, s in enumerate(self.sides))
        return KGDataset(self.name, (sides[0], sides[1]), train, test)


def _read_ids(path: Path) -> dict[int, str]:
    out: dict[int, str] = {}
    for number, line in read_lines(path):
        ident, uri = _fields(line, 2, path, number)
        key = _int(ident, "id", path, number)
        if key in out:
            raise InputError(f"id {key} appears twice", path=str(path), line=number)
        out[key] = uri
    return out


def _read_pairs(path: Path, left: dict[int, str], right: dict[int, str]) -> list[tuple[int, int]]:
    pairs = []
    for number, line in read_lines(path):
        a_text, b_text = _fields(line, 2, path, number)
        a, b = _int(a_text, "id", path, number), _int(b_text, "id", path, number)
        if a not in left:
            raise InputError(f"unknown side-1 entity id {a}", path=str(path), line=number)
        if b not in right:
            raise InputError(f"unknown side-2 entity id {b}", path=str(path), line=number)
        pairs.append((a, b))
    return pairs


def _read_triples(path: Path, ids: dict[int, str], rel_names: dict[int, str] | None) -> list[tuple[int, str, int]]:
    triples = []
    for number, line in read_lines(path):
        h, r, t = (_int(x, what, path, number)
                   for x, what in zip(_fields(line, 3, path, number), ("head", "relation", "tail")))
        for node in (h, t):
            if node not in ids:
                raise InputError(f"unknown entity id {node}", path=str(path), line=number)
        if rel_names is not None:
            if r not in rel_names:
                raise InputError(f"unknown relation id {r}", path=str(path), line=number)
            rel = rel_names[r]
        else:
            rel = relation_type(str(r))
        triples.append((h, rel, t))
    return triples


@dataclass(frozen=True)
class KGSplit:
    """How ``ref_ent_ids`` is cut into training pairs (loaded as accepted SAME_AS) and
    held-out pairs, for a KG folder without its own ``sup_ent_ids``.

    ``first``: the first ``share`` of the file, in file order (the published DBP15K
    protocol, and the default). ``seeded``: a random ``share`` drawn with ``seed``
    (the same seed gives the same pairs); both parts keep the file's order.
    """

    method: str = "first"
    share: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("first", "seeded"):
            raise ConfigError(f"split: unknown method {self.method!r} (use 'first' or 'seeded')")
        if not 0.0 < self.share < 1.0:
            raise ConfigError(f"split: the training share must be between 0 and 1 (exclusive), "
                              f"got {self.share}")

    @classmethod
    def parse(cls, text: str) -> KGSplit:
        """``first:SHARE`` or ``seeded:SHARE[:SEED]`` (seed 0 when left out)."""
        parts = text.strip().split(":")
        usage = "use first:SHARE or seeded:SHARE[:SEED], e.g. first:0.3 or seeded:0.3:7"
        if parts[0] not in ("first", "seeded") or len(parts) < 2 \
                or len(parts) > (3 if parts[0] == "seeded" else 2):
            raise ConfigError(f"split: {text!r} is not a split ({usage})")
        try:
            share = float(parts[1])
        except ValueError:
            raise ConfigError(f"split: share {parts[1]!r} is not a number ({usage})") from None
        try:
            seed = int(parts[2]) if len(parts) == 3 else 0
        except ValueError:
            raise ConfigError(f"split: seed {parts[2]!r} is not an integer ({usage})") from None
        return cls(parts[0], share, seed)

    def cut(self, pairs: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(training pairs, held-out pairs)."""
        n_train = int(round(len(pairs) * self.share))
        if self.method == "first":
            return pairs[:n_train], pairs[n_train:]
        chosen = np.zeros(len(pairs), dtype=bool)
        chosen[np.random.default_rng(self.seed).permutation(len(pairs))[:n_train]] = True
        return ([p for p, c in zip(pairs, chosen) if c], [p for p, c in zip(pairs, chosen) if not c])

    def __str__(self) -> str:
        return f"{self.method}:{self.share:g}" + (f":{self.seed}" if self.method == "seeded" else "")


def read_kg(name: str, root: str | os.PathLike[str] | None = None, *,
            split: KGSplit | None = None) -> KGDataset:
    """Parse one KG benchmark. Training pairs: ``sup_ent_ids`` when the folder has it (SRPRS;
    ``ref_ent_ids`` is then the held-out set), else ``split`` of ``ref_ent_ids`` (default:
    the first 30%, as DBP15K is published). A ``split`` for a folder with ``sup_ent_ids`` is
    an error: it would do nothing."""
    if name in TABLE_DATASETS:
        raise ConfigError(f"{name} is a table benchmark: load it with 'kgn-align load tables {name}'")
    path = dataset_dir(name, root)
    folder = path.name
    parts = folder.split("_")
    side_names = parts[-2:] if len(parts) >= 3 and parts[-1] != parts[-2] else ["1", "2"]
    name = folder
    ids = [_read_ids(path / "ent_ids_1"), _read_ids(path / "ent_ids_2")]
    overlap = ids[0].keys() & ids[1].keys()
    if overlap:
        raise InputError(f"entity id {min(overlap)} is on both sides", path=str(path / "ent_ids_2"))
    rel_names: list[dict[int, str] | None] = [None, None]
    originals: list[dict[str, str]] = [{}, {}]
    for k in (0, 1):
        rel_file = path / f"rel_ids_{k + 1}"
        if rel_file.exists():
            uris = _read_ids(rel_file)
            rel_names[k] = {i: relation_type(u) for i, u in uris.items()}
            originals[k] = {relation_type(u): relation_name(u) for u in uris.values()
                            if relation_type(u) != relation_name(u)}
    triples = [_read_triples(path / f"triples_{k + 1}", ids[k], rel_names[k]) for k in (0, 1)]
    names = _read_translated(path / "translated_names.json", ids)
    ref = _read_pairs(path / "ref_ent_ids", ids[0], ids[1])
    if (path / "sup_ent_ids").exists():
        if split is not None:
            raise ConfigError(f"split: {folder} has its own training pairs (sup_ent_ids); a split "
                              "applies only to folders without one")
        train, test = _read_pairs(path / "sup_ent_ids", ids[0], ids[1]), ref
    else:
        train, test = (split or KGSplit()).cut(ref)
    sides = tuple(KGSide(side_names[k], ids[k], triples[k], names[k], originals[k]) for k in (0, 1))
    return KGDataset(name, (sides[0], sides[1]), train, test)


def _read_translated(path: Path, ids: list[dict[int, str]]) -> list[dict[int, str]]:
    out: list[dict[int, str]] = [{}, {}]
    if not path.exists():
        return out
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
    if not isinstance(data, list):
        raise InputError("expected a list of [id, [token, ...]]", path=str(path))
    for position, item in enumerate(data):
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], int)
                or not isinstance(item[1], list)):
            raise InputError(f"entry {position} is not [id, [token, ...]]", path=str(path))
        ident, tokens = item
        side = 0 if ident in ids[0] else 1 if ident in ids[1] else None
        if side is None:
            raise InputError(f"entry {position}: unknown entity id {ident}", path=str(path))
        out[side][ident] = " ".join(str(t) for t in tokens)
    return out


# ------------------------------------------------------------------------------ tables
@dataclass
class Record:
    """One row of a table dataset, with the linked entities it names."""

    key: str
    label: str  #: "Paper" or "Song"
    name: str
    attributes: dict[str, str | int]
    links: list[tuple[str, str, str]]  #: (relationship type, target label, target name)


@dataclass
class TableDataset:
    name: str
    side_names: tuple[str, str]
    records: tuple[list[Record], list[Record]]
    #: labelled pairs (key on side 1, key on side 2, label 1/0) per split
    splits: dict[str, list[tuple[str, str, int]]]
    #: the records' properties that hold typed values (numbers, durations, dates): the preset
    #: config compares them (``attribute_properties``)
    typed_attributes: tuple[str, ...] = ()

    def graph_name(self, side: int) -> str:
        return f"{self.name}/{self.side_names[side]}"

    def held_out_matches(self, train_splits: tuple[str, ...] = ("train",)) -> list[tuple[str, str]]:
        """The matching pairs ``(side-1 key, side-2 key)`` of the splits other than
        ``train_splits``, in file order, each pair once: the gold ``evaluate`` judges against
        (a key may be in several pairs: iTunes-Amazon holds two Amazon records of one song)."""
        return list(dict.fromkeys((a, b) for split, rows in self.splits.items()
                                  if split not in train_splits for a, b, y in rows if y))

    @property
    def labels(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for recs in self.records:
            for r in recs:
                seen[r.label] = None
                for _, label, _ in r.links:
                    seen[label] = None
        return tuple(seen)


def normalise_name(text: str) -> str:
    return " ".join(text.split())


def _dblp_acm_row(parts: list[str], path: Path, number: int) -> tuple[str, str, str, str, str]:
    if len(parts) == 5:
        return parts[0], parts[1], parts[2], parts[3], parts[4]
    # A handful of ACM rows have no authors and a quoted, '%'-split tail:
    # id%title%"venue%year%%<title venue year>"%%
    if len(parts) == 8 and parts[2].startswith('"') and parts[3].isdigit():
        return parts[0], parts[1], "", parts[2].lstrip('"'), parts[3]
    raise InputError(f"expected 5 '%'-separated fields (id%title%authors%venue%year), "
                     f"found {len(parts)}", path=str(path), line=number)


def read_dblp_acm(root: str | os.PathLike[str] | None = None) -> TableDataset:
    """DBLP-ACM: Paper rows linking Author (split from the list) and Venue entities."""
    path = dataset_dir("dblp_acm", root)
    records: list[list[Record]] = []
    for side in ("dblp", "acm"):
        file = path / f"{side}.csv"
        rows: list[Record] = []
        seen: set[str] = set()
        for number, line in read_lines(file):
            parts = line.split("%")
            if number == 1:
                if parts[:5] != ["id", "title", "authors", "venue", "year"]:
                    raise InputError("header must be id%title%authors%venue%year",
                                     path=str(file), line=1)
                continue
            ident, title, authors, venue, year = _dblp_acm_row(parts, file, number)
            if ident in seen:
                raise InputError(f"id {ident} appears twice", path=str(file), line=number)
            seen.add(ident)
            attributes: dict[str, str | int] = {"title": title}
            if year.strip():
                attributes["year"] = _int(year.strip(), "year", file, number)
            links = [("AUTHORED_BY", "Author", normalise_name(a))
                     for a in authors.split(",") if a.strip()]
            if venue.strip():
                links.append(("PUBLISHED_IN", "Venue", normalise_name(venue)))
            rows.append(Record(ident, "Paper", normalise_name(title), attributes, links))
        records.append(rows)
    keys = [{r.key for r in records[0]}, {r.key for r in records[1]}]
    gold: list[tuple[str, str, int]] = []
    gt = path / "gt.csv"
    for number, line in read_lines(gt):
        if number == 1:
            continue
        a, b = _fields(line, 2, gt, number, sep="%")
        if a not in keys[0]:
            raise InputError(f"unknown DBLP id {a}", path=str(gt), line=number)
        if b not in keys[1]:
            raise InputError(f"unknown ACM id {b}", path=str(gt), line=number)
        gold.append((a, b, 1))
    return TableDataset("dblp_acm", ("dblp", "acm"), (records[0], records[1]), split_gold(gold), ("year",))


def split_gold(gold: list[tuple[str, str, int]], train_fraction: float = 0.3,
               seed: int = 0) -> dict[str, list[tuple[str, str, int]]]:
    """A seeded shuffle of ``gold`` cut into ``train`` (the seed pairs a loader writes as
    accepted SAME_AS) and ``test`` (held out). The file lists pairs in id order, so an
    unshuffled cut would train and test on different parts of the data."""
    order = np.random.default_rng(seed).permutation(len(gold))
    cut = int(round(train_fraction * len(gold)))
    return {"train": [gold[i] for i in order[:cut]], "test": [gold[i] for i in order[cut:]]}


#: a field's start; a record's last field may be empty, and the record is stripped: 'VAL' at its end
_COL_RE = re.compile(r"COL (\S+) VAL(?: |$)")
_ITUNES_LINKS = (("Artist_Name", "BY_ARTIST", "Artist"), ("Album_Name", "ON_ALBUM", "Album"))


def _parse_itunes_record(text: str, path: Path, number: int) -> dict[str, str]:
    text = text.strip()
    if not text.startswith("COL "):
        raise InputError("record must start with 'COL <attr> VAL <value>'", path=str(path), line=number)
    pieces = _COL_RE.split(text)[1:]
    return {pieces[i]: pieces[i + 1].strip() for i in range(0, len(pieces) - 1, 2)}


def _itunes_record(values: dict[str, str]) -> Record:
    canonical = json.dumps(values, sort_keys=True, ensure_ascii=False)
    key = hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:16]
    links = [(rel, label, normalise_name(values[col]))
             for col, rel, label in _ITUNES_LINKS if values.get(col, "").strip()]
    links += [("HAS_GENRE", "Genre", normalise_name(g))
              for g in re.split(r"\s*[,&]\s*", values.get("Genre", "")) if g.strip()]
    attributes: dict[str, str | int] = {k.lower(): v for k, v in values.items()
                                        if k not in ("Song_Name", "Artist_Name", "Album_Name")}
    return Record(key, "Song", normalise_name(values.get("Song_Name", "")), attributes, links)


def read_itunes_amazon(root: str | os.PathLike[str] | None = None) -> TableDataset:
    """iTunes-Amazon labelled pairs: Song records (deduplicated by content) linking Artist,
    Album and Genre entities; the train/valid/test labels are kept per split."""
    path = dataset_dir("itunes_amazon", root)
    sides: list[dict[str, Record]] = [{}, {}]
    splits: dict[str, list[tuple[str, str, int]]] = {}
    for split in ("train", "valid", "test"):
        file = path / f"{split}.txt"
        rows = []
        for number, line in read_lines(file):
            left, right, label = _fields(line, 3, file, number)
            if label.strip() not in ("0", "1"):
                raise InputError(f"label must be 0 or 1, found {label.strip()!r}",
                                 path=str(file), line=number)
            recs = [_itunes_record(_parse_itunes_record(t, file, number)) for t in (left, right)]
            for side, rec in zip(sides, recs):
                side.setdefault(rec.key, rec)
            rows.append((recs[0].key, recs[1].key, int(label)))
        splits[split] = rows
    return TableDataset("itunes_amazon", ("itunes", "amazon"),
                        (list(sides[0].values()), list(sides[1].values())), splits,
                        ("price", "time", "released"))


def _near_miss(name: str, root: Path) -> str:
    """:func:`did_you_mean` among every known dataset name (difflib ratio at least 0.8)."""
    return did_you_mean(name, set(KG_DATASETS) | set(TABLE_DATASETS) | set(kg_names(root)), cutoff=0.8)


def read_tables(name: str, root: str | os.PathLike[str] | None = None) -> TableDataset:
    if name == "dblp_acm":
        return read_dblp_acm(root)
    if name == "itunes_amazon":
        return read_itunes_amazon(root)
    root_path = Path(root) if root is not None else default_root()
    raise ConfigError(f"unknown dataset {name!r}{_near_miss(name, root_path)}: not a table benchmark "
                      f"({', '.join(TABLE_DATASETS)}) "
                      f"nor a KG folder (a path to one, or a name under {root_path / 'kg'}: "
                      f"{', '.join(kg_names(root_path)) or 'none there'})")


def kg_names(root: str | os.PathLike[str] | None = None) -> list[str]:
    """The KG-format folders under ``<root>/kg``, by name (sorted)."""
    folder = (Path(root) if root is not None else default_root()) / "kg"
    if not folder.is_dir():
        return []
    return sorted(d.name for d in folder.iterdir() if (d / KG_MARKER).is_file())


__all__ = ["KGDataset", "KGSide", "KGSplit", "Record", "TableDataset", "read_kg", "read_tables",
           "read_dblp_acm", "read_itunes_amazon", "dataset_dir", "default_root"]
