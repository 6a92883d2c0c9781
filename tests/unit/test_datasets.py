from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import write_own_kg

from kgn_align import datasets
from kgn_align.errors import ConfigError, InputError


def make_kg(root: Path, files: dict[str, str]) -> Path:
    folder = root / "kg" / "dbp15k_fr_en"
    folder.mkdir(parents=True)
    defaults = {
        "ent_ids_1": "0\thttp://fr.dbpedia.org/resource/Saint-Joseph\n1\thttp://fr.dbpedia.org/resource/Lib%C3%A9ral\n",
        "ent_ids_2": "10\thttp://dbpedia.org/resource/Saint_Joseph\n11\thttp://dbpedia.org/resource/Liberal\n",
        "triples_1": "0\t5\t1\n",
        "triples_2": "10\t7\t11\n",
        "ref_ent_ids": "0\t10\n1\t11\n",
    }
    defaults.update(files)
    for name, text in defaults.items():
        (folder / name).write_bytes(text.encode("utf-8"))
    return root


def test_crlf_and_lf_parse_the_same(tmp_path: Path) -> None:
    lf = datasets.read_kg("dbp15k_fr_en", make_kg(tmp_path / "lf", {}))
    crlf_files = {"triples_1": "0\t5\t1\r\n", "ref_ent_ids": "0\t10\r\n1\t11\r\n",
                  "ent_ids_2": "10\thttp://dbpedia.org/resource/Saint_Joseph\r\n11\thttp://dbpedia.org/resource/Liberal\r\n"}
    crlf = datasets.read_kg("dbp15k_fr_en", make_kg(tmp_path / "crlf", crlf_files))
    assert lf.sides[1].uris == crlf.sides[1].uris
    assert lf.sides[0].triples == crlf.sides[0].triples == [(0, "R_5", 1)]
    assert lf.train_pairs + lf.test_pairs == crlf.train_pairs + crlf.test_pairs == [(0, 10), (1, 11)]
    assert datasets.local_name(lf.sides[0].uris[1]) == "Libéral"


@pytest.mark.parametrize("files,where,problem", [
    ({"triples_1": "0\t5\n"}, "triples_1:1", "expected 3"),
    ({"triples_1": "0\t5\t1\n0\tx\t1\n"}, "triples_1:2", "relation 'x' is not an integer"),
    ({"triples_2": "10\t7\t99\n"}, "triples_2:1", "unknown entity id 99"),
    ({"ref_ent_ids": "0\t10\n1\t12\n"}, "ref_ent_ids:2", "unknown side-2 entity id 12"),
    ({"ent_ids_1": "0\ta\n0\tb\n"}, "ent_ids_1:2", "appears twice"),
])
def test_malformed_lines_name_file_and_line(tmp_path: Path, files: dict[str, str], where: str, problem: str) -> None:
    with pytest.raises(InputError) as err:
        datasets.read_kg("dbp15k_fr_en", make_kg(tmp_path, files))
    assert where in str(err.value)
    assert problem in str(err.value)


def test_unknown_dataset_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset"):
        datasets.dataset_dir("imdb", tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        datasets.dataset_dir("dbp15k_fr_en", tmp_path)
    # the folders that are there are named; a table benchmark read as a KG says which loader
    (tmp_path / "kg" / "mine").mkdir(parents=True)
    (tmp_path / "kg" / "mine" / "ent_ids_1").write_text("0\ta\n")
    with pytest.raises(ConfigError, match=r"unknown dataset 'imdb': .*\(those under .*kg: mine;"):
        datasets.dataset_dir("imdb", tmp_path)
    # a misspelt name gets its near miss, KG or table benchmark
    for typo, meant in (("dbp15k_fr_n", "dbp15k_fr_en"), ("dblp-acm", "dblp_acm"), ("mines", "mine")):
        with pytest.raises(ConfigError, match=rf"unknown dataset '{typo}' \(did you mean '{meant}'\?\)"):
            datasets.dataset_dir(typo, tmp_path)
    with pytest.raises(ConfigError, match=r"unknown dataset 'itunes_amazn' \(did you mean 'itunes_amazon'\?\)"):
        datasets.read_tables("itunes_amazn", tmp_path)
    with pytest.raises(ConfigError, match="dblp_acm is a table benchmark: load it with 'kgn-align load tables dblp_acm'"):
        datasets.read_kg("dblp_acm", tmp_path)


def test_real_dbp15k_split_and_names() -> None:
    ds = datasets.read_kg("dbp15k_fr_en")
    assert [len(s.uris) for s in ds.sides] == [19661, 19993]
    assert (len(ds.train_pairs), len(ds.test_pairs)) == (4500, 10500)
    assert [len(s.triples) for s in ds.sides] == [105998, 115722]
    assert ds.sides[0].names[0] == "saint joseph de coleraine"
    piece = ds.slice(100)
    assert len(piece.train_pairs) == 30 and len(piece.test_pairs) == 70


def test_real_srprs_uses_its_own_split_and_relation_names() -> None:
    ds = datasets.read_kg("srprs_en_fr")  # CRLF files
    assert (len(ds.train_pairs), len(ds.test_pairs)) == (4500, 10500)
    types = {r for _, r, _ in ds.sides[0].triples}
    assert "partner" in types and all(t.isidentifier() for t in types)


def test_dblp_acm_quirky_rows_and_gold() -> None:
    ds = datasets.read_dblp_acm()
    assert [len(r) for r in ds.records] == [2616, 2294]
    train, test = ds.splits["train"], ds.splits["test"]
    assert (len(train), len(test)) == (667, 1557)  # 2,224 gold pairs, a seeded 30/70 cut
    assert not {p[:2] for p in train} & {p[:2] for p in test}
    assert train == datasets.read_dblp_acm().splits["train"]  # the same cut every time
    assert train != sorted(train)  # shuffled, not the file's id order
    acm = {r.key: r for r in ds.records[1]}
    assert acm["884"].attributes["year"] == 2000  # a row with a '%'-split quoted tail
    assert [link for link in acm["884"].links if link[1] == "Author"] == []
    paper = ds.records[0][1]
    assert [n for _, label, n in paper.links if label == "Author"] == ["Viswanath Poosala", "Yannis E. Ioannidis"]


def test_dblp_acm_bad_row(tmp_path: Path) -> None:
    folder = tmp_path / "tables" / "dblp_acm"
    shutil.copytree(datasets.dataset_dir("dblp_acm"), folder)
    lines = (folder / "dblp.csv").read_text().splitlines()
    lines[4] = "4%only%three"
    (folder / "dblp.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"dblp.csv:5: expected 5"):
        datasets.read_dblp_acm(tmp_path)


def test_itunes_amazon_records_and_splits() -> None:
    ds = datasets.read_itunes_amazon()
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 321, "valid": 109, "test": 109}
    keys = [{r.key for r in recs} for recs in ds.records]
    for rows in ds.splits.values():
        assert all(a in keys[0] and b in keys[1] for a, b, _ in rows)
    assert set(ds.labels) == {"Song", "Artist", "Album", "Genre"}


def test_an_itunes_record_whose_last_field_is_empty(tmp_path) -> None:
    """26 records of the data end 'COL Released VAL ' (no value): read with the field's
    name glued to the one before (time '5:36 COL Released VAL'), they never matched on time."""
    from kgn_align.datasets import _parse_itunes_record

    path = tmp_path / "test.txt"
    assert _parse_itunes_record("COL Song_Name VAL Rewind COL Time VAL 5:36 COL Released VAL ", path, 1) == {
        "Song_Name": "Rewind", "Time": "5:36", "Released": ""}
    assert _parse_itunes_record("COL Time VAL  COL Released VAL 1-Jul-14", path, 1) == {
        "Time": "", "Released": "1-Jul-14"}
    ds = datasets.read_itunes_amazon()
    assert not any(" COL " in str(v) or str(v).endswith(" VAL") for side in ds.records for r in side
                   for v in r.attributes.values())


def test_byte_order_mark_is_dropped_and_bad_utf8_names_the_line(tmp_path) -> None:
    from kgn_align.datasets import read_lines
    from kgn_align.errors import InputError

    path = tmp_path / "ent_ids_1"
    path.write_bytes("\ufeff0\thttp://a/x\n1\thttp://a/y\n".encode("utf-8"))
    assert list(read_lines(path)) == [(1, "0\thttp://a/x"), (2, "1\thttp://a/y")]
    path.write_bytes(b"0\thttp://a/x\n\n2\thttp://a/\xff\n")
    with pytest.raises(InputError) as err:
        list(read_lines(path))
    assert f"{path}:3:" in str(err.value) and "not UTF-8" in str(err.value)


def test_spaces_around_tabs_are_not_data(tmp_path) -> None:
    from kgn_align.datasets import _fields

    assert _fields("0 \t http://a/x ", 2, tmp_path / "f", 1) == ["0", "http://a/x"]


def test_a_gold_file_with_several_targets_per_source_is_reported(tmp_path) -> None:
    from kgn_align.errors import InputError
    from kgn_align.workflows import read_gold

    path = tmp_path / "gold.csv"
    path.write_text("source,target\n1,10\n2,20\n1,11\n")
    with pytest.raises(InputError, match="more than one gold target .*'1'"):
        read_gold(path)
    path.write_text("\ufeffsource,target\n1,10\n2,20\n")
    assert read_gold(path) == [("1", "10"), ("2", "20")]
    for header in ("source_key,target_key", "Source,Target", "SOURCE_KEY\tTARGET_KEY"):
        path.write_text(f"{header}\n1,10\n")
        assert read_gold(path) == [("1", "10")]
    # CSV as spreadsheets write it: quoted keys, a comma inside one (a trial's quotes stayed
    # in the keys, and no key matched)
    path.write_text('source,target\n"1","10"\n"http://x/a,b",20\n')
    assert read_gold(path) == [("1", "10"), ("http://x/a,b", "20")]
    # a malformed line is named with its text (a long one cut short)
    for bad, shown in (("3;30", "'3;30'"), ("4,40,extra", "'4,40,extra'"), ("5;" + "x" * 80, "'5;" + "x" * 55 + "...'")):
        path.write_text(f"source,target\n1,10\n{bad}\n")
        with pytest.raises(InputError) as err:
            read_gold(path)
        assert str(err.value).endswith(f"gold.csv:3: expected 'source_key,target_key', got {shown}"), err.value
    # a header alone (or nothing) is said to be no gold, not "none are entities of the sides"
    for empty in ("source,target\n", ""):
        path.write_text(empty)
        with pytest.raises(InputError, match=r"gold.csv: no gold pairs: expected a line 'source_key,target_key'"):
            read_gold(path)


def test_a_gold_file_naming_one_target_for_several_sources_is_warned_of(tmp_path, caplog) -> None:
    """Two sources on one target is read (a source graph may list an entity twice) but said:
    a trial's pasted line went without a word, while two targets for one source is refused."""
    from kgn_align.workflows import read_gold

    path = tmp_path / "gold.csv"
    path.write_text("source,target\na-20,b-20\na-21,b-20\na-22,b-22\n")
    assert read_gold(path) == [("a-20", "b-20"), ("a-21", "b-20"), ("a-22", "b-22")]
    assert "gold.csv: 1 target key(s) are the gold target of more than one source (e.g. 'b-20', of 'a-20', 'a-21')" \
        in caplog.text
    caplog.clear()
    path.write_text("source,target\na-20,b-20\na-20,b-20\na-22,b-22\n")  # a line twice: one pair
    read_gold(path)
    assert "more than one source" not in caplog.text


def test_distinct_relations_stay_distinct_types() -> None:
    from kgn_align.config import IDENTIFIER_RE
    from kgn_align.datasets import relation_type

    names = ["has-part", "has_part", "出生地", "配偶者", "part of", "part.of"]
    types = [relation_type(f"http://x/{n}") for n in names]
    assert len(set(types)) == len(names) and all(IDENTIFIER_RE.fullmatch(t) for t in types)
    assert types[1] == "has_part" and types[0].startswith("has_part_")
    assert relation_type("http://x/SAME_AS") == "R_SAME_AS"
    assert types == [relation_type(f"http://x/{n}") for n in names]  # stable


def test_any_folder_in_the_kg_format_loads_by_path(tmp_path) -> None:
    from kgn_align.datasets import is_kg, read_kg

    folder = tmp_path / "my_zh_en"
    write_own_kg(folder)
    assert is_kg(str(folder))
    ds = read_kg(str(folder))
    assert ds.name == "my_zh_en" and [s.name for s in ds.sides] == ["zh", "en"]
    types = {r for _, r, _ in ds.sides[0].triples}
    assert len(types) == 5 and "SAME_AS" not in types
    assert ds.sides[0].relations[next(t for t in types if t.startswith("has_part_"))] == "has-part"
    assert sorted(ds.sides[0].relations.values()) == sorted(["has-part", "出生地", "配偶者", "SAME_AS"])
    assert len(ds.train_pairs) + len(ds.test_pairs) == 4


def _kg_with_pairs(folder: Path, n: int) -> Path:
    """A KG folder of ``n`` aligned entity pairs (ids i and 1000 + i), in a chain each side."""
    folder.mkdir(parents=True)
    (folder / "ent_ids_1").write_text("".join(f"{i}\thttp://a/e{i}\n" for i in range(n)))
    (folder / "ent_ids_2").write_text("".join(f"{1000 + i}\thttp://b/e{i}\n" for i in range(n)))
    (folder / "triples_1").write_text("".join(f"{i}\t0\t{i + 1}\n" for i in range(n - 1)))
    (folder / "triples_2").write_text("".join(f"{1000 + i}\t0\t{1001 + i}\n" for i in range(n - 1)))
    (folder / "ref_ent_ids").write_text("".join(f"{i}\t{1000 + i}\n" for i in range(n)))
    return folder


def test_seeded_split_of_ref_ent_ids(tmp_path: Path) -> None:
    from kgn_align.datasets import KGSplit

    folder = str(_kg_with_pairs(tmp_path / "mine_a_b", 40))
    ref = [(i, 1000 + i) for i in range(40)]
    default = datasets.read_kg(folder)
    assert (default.train_pairs, default.test_pairs) == (ref[:12], ref[12:])  # as before
    assert datasets.read_kg(folder, split=KGSplit.parse("first:0.25")).train_pairs == ref[:10]
    one = datasets.read_kg(folder, split=KGSplit.parse("seeded:0.3:7"))
    again = datasets.read_kg(folder, split=KGSplit("seeded", 0.3, 7))
    other = datasets.read_kg(folder, split=KGSplit.parse("seeded:0.3:8"))
    assert (one.train_pairs, one.test_pairs) == (again.train_pairs, again.test_pairs)
    assert one.train_pairs != other.train_pairs
    for ds in (one, other):
        assert len(ds.train_pairs) == 12 and len(ds.test_pairs) == 28  # the share is kept
        assert sorted(ds.train_pairs + ds.test_pairs) == ref  # every pair once, none lost
        assert ds.train_pairs == sorted(ds.train_pairs) and ds.test_pairs == sorted(ds.test_pairs)
    assert one.train_pairs != ref[:12]  # drawn, not the file's first share
    half = datasets.read_kg(folder, split=KGSplit.parse("seeded:0.5"))  # seed 0
    assert len(half.train_pairs) == 20 and half.train_pairs == datasets.read_kg(
        folder, split=KGSplit("seeded", 0.5, 0)).train_pairs


@pytest.mark.parametrize("text,says", [
    ("seeded:1.5:3", "between 0 and 1"),
    ("first:0", "between 0 and 1"),
    ("first:nan", "between 0 and 1"),
    ("seeded:abc", "share 'abc' is not a number"),
    ("seeded:0.3:x", "seed 'x' is not an integer"),
    ("random:0.3", "is not a split"),
    ("first:0.3:7", "is not a split"),
    ("0.3", "is not a split"),
])
def test_bad_splits_are_one_line_errors(text: str, says: str) -> None:
    from kgn_align.datasets import KGSplit

    with pytest.raises(ConfigError, match=says) as err:
        KGSplit.parse(text)
    assert "\n" not in str(err.value)


def test_a_split_for_a_folder_with_its_own_training_pairs_is_refused(tmp_path: Path) -> None:
    from kgn_align.datasets import KGSplit

    folder = _kg_with_pairs(tmp_path / "srprs_a_b", 10)
    (folder / "sup_ent_ids").write_text("0\t1000\n1\t1001\n")
    assert len(datasets.read_kg(str(folder)).train_pairs) == 2
    with pytest.raises(ConfigError, match="own training pairs \\(sup_ent_ids\\)"):
        datasets.read_kg(str(folder), split=KGSplit.parse("seeded:0.3:1"))


def test_cli_split_option_refuses_bad_values_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kgn_align.cli import cli

    folder = _kg_with_pairs(tmp_path / "mine_a_b", 10)
    for args in (["load", "kg", str(folder), "--split", "seeded:2:1"],
                 ["evaluate", "--dataset", str(folder), "--split", "first:x"]):
        result = CliRunner().invoke(cli, ["--home", str(tmp_path), *args], env={"NEO4J_URI": ""})
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "'--split'" in errors[0], result.output
    gold = tmp_path / "gold.csv"
    gold.write_text("source,target\n0,1000\n")
    mixed = CliRunner().invoke(cli, ["--home", str(tmp_path), "evaluate", "--gold", str(gold),
                                     "--split", "seeded:0.3:1"], env={"NEO4J_URI": ""})
    assert mixed.exit_code == 2 and "--split goes with --dataset" in mixed.output
