"""Judging edges against held-out gold: complete gold (every other source is unmatched)
versus partial gold (edges elsewhere are counted, not judged); ranks in sparse lists."""

from __future__ import annotations

import math

import pytest
import torch

from kgn_align.evaluation import Gold, judge_edges, list_ranks

EDGES = [("a", "x", 0.9), ("b", "y", 0.8), ("c", "q", 0.7), ("d", "z", 0.6)]
PAIRS = {"a": "x", "b": "w", "e": "v"}  # b's edge is wrong; e has no edge; c, d not in gold


def test_partial_gold_judges_gold_sources_and_describes_the_rest() -> None:
    m = judge_edges(EDGES, Gold(PAIRS))
    assert (m["correct"], m["edges_on_gold_sources"], m["edges_on_other_sources"]) == (1, 2, 2)
    assert m["precision"] == 0.5 and m["recall"] == round(1 / 3, 4)
    assert m["other_sources_score_quartiles"] == [0.625, 0.65, 0.675]
    assert m["other_sources_judged_wrong"] is False


def test_complete_gold_counts_every_edge_elsewhere_as_wrong() -> None:
    m = judge_edges(EDGES, Gold(PAIRS, complete=True))
    assert m["precision"] == 0.25  # 1 right of 4 written
    assert m["precision_on_gold_sources"] == 0.5
    assert m["other_sources_judged_wrong"] is True


def test_list_ranks_are_pessimistic_on_ties_and_inf_when_missed() -> None:
    rows = torch.tensor([0, 0, 0, 1, 1])
    cols = torch.tensor([5, 6, 7, 5, 6])
    scores = torch.tensor([0.9, 0.9, 0.1, 0.2, 0.8])
    ranks = list_ranks(rows, cols, scores, [0, 0, 1, 1, 2], [5, 7, 5, 9, 5])
    assert ranks.tolist()[:3] == [2.0, 3.0, 2.0]
    assert math.isinf(ranks[3]) and math.isinf(ranks[4])


def test_pairs_settled_by_review_are_not_held_out() -> None:
    """A gold pair whose source is already reviewed, or whose target is accepted for another
    source, is no test of the aligner (reviews rule): it is counted apart, not judged."""
    from kgn_align.evaluation import settle

    gold = Gold({"a": "x", "b": "y", "c": "z", "d": "w"}, complete=True)
    kept, counts = settle(gold, [("a", "x"), ("b", "q"), ("e", "z")])
    assert kept == Gold({"d": "w"}, complete=True)
    assert counts == {"settled": 3, "settled_agreeing": 1}


def test_gold_rows_a_review_contradicts_are_named() -> None:
    """A gold row whose source is accepted with another target, or whose target is accepted
    for another source (a trial's swapped row: dropped with no word), is said in words; a
    gold row the review agrees with is not."""
    from kgn_align.evaluation import contradicted

    gold = Gold({"a": "x", "b": "y", "c": "z", "d": "w"}, complete=True)
    assert contradicted(gold, [("a", "x"), ("b", "q"), ("e", "z")]) == [
        "gold b -> y, but b -> q is accepted", "gold c -> z, but e -> z is accepted"]
    assert contradicted(gold, []) == []


def test_labelled_pairs_judged_as_pair_classification() -> None:
    """iTunes-Amazon's protocol: each labelled pair is predicted a match when the graph
    would hold SAME_AS between the two (a model edge or an accepted review)."""
    from kgn_align.evaluation import judge_labelled

    labelled = [("a", "x", 1), ("b", "y", 1), ("c", "z", 1), ("a", "w", 0), ("d", "v", 0)]
    edges = [("a", "x", 0.9), ("d", "v", 0.7), ("e", "u", 0.8)]  # e-u is not labelled: ignored
    m = judge_labelled(edges, [("b", "y")], labelled)
    assert (m["pairs"], m["matches"]) == (5, 3)
    assert m["precision"] == round(2 / 3, 4) and m["recall"] == round(2 / 3, 4)
    assert m["f1"] == round(2 / 3, 4)


def test_gold_rows_naming_the_target_first_are_said_to_be_swapped(caplog) -> None:
    """A gold row with its keys the wrong way round is named as such (not as a key missing
    from the source side), and the count of such rows is given."""
    import logging

    from kgn_align.config import AlignConfig, GraphSide
    from kgn_align.workflows import _gold_in_graph

    config = AlignConfig(source=GraphSide(name="storeA", label="Movie"),
                         target=GraphSide(name="storeB", label="Film"))
    sources, targets = {"A-1", "A-2", "A-3"}, {"B-1", "B-2", "B-3"}
    sources |= {"A-4", "A-5", "A-6", "A-7"}
    targets |= {"B-4", "B-5", "B-6", "B-7"}
    gold = {"A-1": "B-1", "B-2": "A-2", "B-3": "A-3", "A-9": "B-9", "A-4": "B-4", "A-5": "B-5",
            "A-6": "B-6", "A-7": "B-7"}
    with caplog.at_level(logging.WARNING, logger="kgn_align.workflows"):
        known = _gold_in_graph(gold, sources, targets, config)
    assert set(known) == {"A-1", "A-4", "A-5", "A-6", "A-7"}
    assert ("3 of 8 gold pairs are left out: their keys are not entities of the sides (e.g. "
            "'B-2' is a key of 'storeB' and 'A-2' one of 'storeA': give the source key first; "
            "'B-3' is a key of 'storeB' and 'A-3' one of 'storeA': give the source key first; "
            "'A-9' is not on the side 'storeA'") in caplog.text
    assert caplog.text.rstrip().endswith("; 2 of them name the target first")


def test_gold_with_no_pair_in_the_graph_names_some_and_why() -> None:
    """A gold none of whose pairs are entities of the sides said only so: a few are named,
    with a near miss or the sides the wrong way round."""
    from kgn_align.config import AlignConfig, GraphSide
    from kgn_align.errors import KgnAlignError
    from kgn_align.workflows import _gold_in_graph

    config = AlignConfig(source=GraphSide(name="dblp", label="P"), target=GraphSide(name="acm", label="A"))
    with pytest.raises(KgnAlignError) as err:
        _gold_in_graph({"'254'": "ACM-529"}, {"254"}, {"ACM-529"}, config)
    assert str(err.value) == ("none of the 1 gold pairs are entities of the two sides (e.g. \"'254'\" is not "
                              "on the side 'dblp' (did you mean '254'?))")
    with pytest.raises(KgnAlignError) as err:
        _gold_in_graph({"ACM-529": "254"}, {"254"}, {"ACM-529"}, config)
    assert str(err.value).endswith("(e.g. 'ACM-529' is a key of 'acm' and '254' one of 'dblp': give the source "
                                   "key first); 1 of them name the target first")


def test_gold_mostly_outside_the_graph_is_said_to_be_a_part_of_the_data(caplog) -> None:
    """Most of the gold missing (a slice loaded with --pairs) is said as such, without the
    'did you mean' hints that read as typos in the user's keys."""
    import logging

    from kgn_align.config import AlignConfig, GraphSide
    from kgn_align.workflows import _gold_in_graph

    config = AlignConfig(source=GraphSide(name="en", label="En"), target=GraphSide(name="fr", label="Fr"))
    gold = {str(i): str(1000 + i) for i in range(10)}
    with caplog.at_level(logging.WARNING, logger="kgn_align.workflows"):
        known = _gold_in_graph(gold, {"0", "1", "2"}, {"1000", "1001", "1002"}, config)
    assert len(known) == 3
    assert "7 of 10 gold pairs are left out" in caplog.text and "did you mean" not in caplog.text
    # said for a user's own graphs first (a trial's --config gold got the benchmark's hint)
    assert caplog.text.rstrip().endswith("most of the gold is not in the graph: is it the gold of other "
                                         "graphs (or, for a benchmark, was a part of it loaded, with "
                                         "load --pairs)?")


def test_calibration_of_the_written_band_is_reported_apart() -> None:
    """Many sure non-matches near 0 dilute the ECE of all pairs; the pairs at or above the
    threshold (what a backfill writes) get an ECE of their own."""
    from kgn_align.evaluation import reliability

    probs = torch.tensor([0.01] * 990 + [0.95] * 10)
    labels = torch.tensor([0.0] * 990 + [1.0] * 5 + [0.0] * 5)
    out = reliability(probs, labels, threshold=0.5)
    assert out["ece"] == pytest.approx(0.0144, abs=1e-4) and out["pairs_at_threshold"] == 10
    assert out["ece_at_threshold"] == pytest.approx(0.45, abs=1e-4)
    assert "ece_at_threshold" not in reliability(probs, labels)
