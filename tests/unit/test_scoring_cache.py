"""What the worker's :class:`~kgn_align.scoring.ScoringCache` drops when seed anchors move."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from kgn_align.scoring import ScoringCache


def _scorer(anchor_a: torch.Tensor, anchor_b: torch.Tensor) -> SimpleNamespace:
    table = lambda keys: SimpleNamespace(table=SimpleNamespace(keys=keys))  # noqa: E731
    return SimpleNamespace(anchor_a=anchor_a, anchor_b=anchor_b,
                           anchored=(SimpleNamespace(vectors=anchor_a), SimpleNamespace(vectors=anchor_b)),
                           snapshot=SimpleNamespace(source=table(["s0", "s1", "s2"]), target=table(["t0", "t1"])))


def _filled() -> ScoringCache:
    cache = ScoringCache()
    cache.candidates.lists = {"s0": [("t0", 0.9)], "s1": [("t1", 0.8)], "s2": [("t0", 0.5), ("t1", 0.4)]}
    cache.betas = {"cg-mualign": 0.1}
    return cache


def test_lists_of_entities_whose_anchors_moved_are_dropped_and_only_those() -> None:
    a, b = torch.eye(3, 4), torch.eye(2, 4)
    cache = _filled()
    cache.moved_anchors(_scorer(a, b))  # the first scorer: nothing to compare with
    assert len(cache.candidates.lists) == 3 and cache.betas
    cache.moved_anchors(_scorer(a.clone(), b.clone()))  # nothing moved
    assert len(cache.candidates.lists) == 3 and cache.betas
    moved_a, moved_b = a.clone(), b.clone()
    moved_a[1, 3] = 0.5  # source s1's aligned neighbourhood changed
    moved_b[0, 2] = 0.5  # and target t0's: every list holding it goes
    cache.moved_anchors(_scorer(moved_a, moved_b))
    assert cache.candidates.lists == {}
    # the logit weights are a setting for the whole graph: kept until a whole-side backfill
    assert cache.betas == {"cg-mualign": 0.1}
    assert torch.equal(cache.anchored[0].vectors, moved_a)


def test_a_source_whose_anchors_moved_loses_its_list_alone() -> None:
    a, b = torch.eye(3, 4), torch.eye(2, 4)
    cache = _filled()
    cache.moved_anchors(_scorer(a, b))
    moved_a = a.clone()
    moved_a[2, 0] = 1.0
    cache.moved_anchors(_scorer(moved_a, b.clone()))
    assert set(cache.candidates.lists) == {"s0", "s1"}


def test_another_entity_table_drops_every_list() -> None:
    cache = _filled()
    cache.moved_anchors(_scorer(torch.eye(3, 4), torch.eye(2, 4)))
    cache.moved_anchors(_scorer(torch.eye(4, 4), torch.eye(2, 4)))
    assert cache.candidates.lists == {}


def test_logit_weights_pseudo_seeds_and_hubness_are_chosen_again_only_when_asked_or_cleared() -> None:
    cache = _filled()
    cache.pseudo_seeds["cg-mualign"] = frozenset({("s1", "t1")})
    cache.hubness["cg-mualign"] = {"t1": 0.3}
    cache.forget_nameless()
    assert cache.betas == {"cg-mualign": 0.1} and cache.pseudo_seeds and cache.hubness
    cache.choose_again()
    assert cache.betas == {} and cache.pseudo_seeds == {} and cache.hubness == {}
    cache.betas["cg-mualign"] = 0.2
    cache.pseudo_seeds["cg-mualign"] = frozenset({("s1", "t1")})
    cache.hubness["cg-mualign"] = {"t1": 0.3}
    cache.clear()
    assert cache.betas == {} and cache.pseudo_seeds == {} and cache.hubness == {}
    assert cache.candidates.lists == {}


def test_no_validation_pairs_is_said_once_per_process(caplog, monkeypatch) -> None:
    """evaluate fits a calibrator per method and per bootstrapping round: a model without
    validation pairs in this graph is a fact about the graph, warned about once."""
    import kgn_align.scoring as scoring

    monkeypatch.setattr(scoring, "_said", set())
    unvalidated = SimpleNamespace(validation=torch.empty(0, 2, dtype=torch.long))
    with caplog.at_level("WARNING", logger="kgn_align.scoring"):
        for _ in range(3):
            assert scoring.ModelScorer._fit_calibrator(unvalidated, None, None, None, None) is None
    said = [r for r in caplog.records if "no validation pairs" in r.getMessage()]
    assert len(said) == 1
