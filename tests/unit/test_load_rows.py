"""How the loader orders and deduplicates its rows before writing them, and counts what it
holds out."""

from __future__ import annotations

import pytest

from kgn_align.loaders import _edge_rows, _in_key_order


def test_edge_rows_keep_the_first_of_each_relationship_sorted_by_head() -> None:
    rows = [{"head": "2", "tail": "1", "type": "B", "relation": "b"},
            {"head": "1", "tail": "3", "type": "A", "relation": "first"},
            {"head": "1", "tail": "3", "type": "A", "relation": "second"},
            {"head": "1", "tail": "3", "type": "C", "relation": None}]
    assert _edge_rows(rows) == [rows[1], rows[3], rows[0]]


def test_edge_rows_of_one_type_need_no_type() -> None:
    rows = [{"head": "b", "tail": "a", "relation": None}, {"head": "a", "tail": "b", "relation": None},
            {"head": "b", "tail": "a", "relation": None}]
    assert _edge_rows(rows) == [rows[1], rows[0]]


def test_node_rows_sorted_by_key_keep_the_order_of_repeats() -> None:
    rows = [{"key": "b", "props": {"name": "x"}}, {"key": "a", "props": {}},
            {"key": "b", "props": {"name": "y"}}]
    assert _in_key_order(rows) == [rows[1], rows[0], rows[2]]


def test_a_prefix_is_a_folder_of_graph_names_with_or_without_its_slash() -> None:
    from kgn_align.datasets import KGDataset, KGSide
    from kgn_align.loaders import graph_names, preset_config

    ds = KGDataset("movies", (KGSide("imdb", {}, []), KGSide("fb", {}, [])), [], [])
    assert graph_names(ds, "demo") == graph_names(ds, "demo/") == ("demo/movies/imdb", "demo/movies/fb")
    assert graph_names(ds) == ("movies/imdb", "movies/fb")
    # what 'load' writes is what the other commands' --prefix selects
    config = preset_config(ds, prefix="demo")
    assert (config.source.value, config.target.value) == graph_names(ds, "demo/")


def test_table_reviews_count_held_out_matches_only() -> None:
    """iTunes-Amazon labels non-matches in its held-out splits too: the load reported 218
    held-out pairs where evaluate judges 53 matching ones (its gold)."""
    from kgn_align.datasets import TableDataset
    from kgn_align.errors import InputError
    from kgn_align.loaders import table_reviews

    splits = {"train": [("a1", "b1", 1), ("a2", "b9", 0), ("a1", "b1", 1)],
              "valid": [("a3", "b3", 1), ("a3", "b4", 0)],
              "test": [("a4", "b4", 1), ("a5", "b1", 0), ("a4", "b4", 1)]}
    ds = TableDataset("t", ("left", "right"), ([], []), splits)
    reviews, held_out = table_reviews(ds)
    assert reviews == {("a1", "b1"): "accepted", ("a2", "b9"): "rejected"}
    assert held_out == 2  # a3-b3 and a4-b4, the repeated row once; no non-match
    assert ds.held_out_matches() == [("a3", "b3"), ("a4", "b4")]  # evaluate's gold: the same pairs
    assert table_reviews(ds, ("train", "valid")) == (
        {("a1", "b1"): "accepted", ("a2", "b9"): "rejected", ("a3", "b3"): "accepted",
         ("a3", "b4"): "rejected"}, 1)
    clash = TableDataset("t", ("left", "right"), ([], []), {"train": [("a1", "b1", 1), ("a1", "b1", 0)]})
    with pytest.raises(InputError, match="pair a1 / b1 is labelled both match and non-match"):
        table_reviews(clash)
