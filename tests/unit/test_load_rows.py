"""How the loader orders and deduplicates its rows before writing them."""

from __future__ import annotations

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
