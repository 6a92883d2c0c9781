"""The global stage's pure parts: Sinkhorn over sparse candidates, competition features,
dangling copies of validation lists, calibration and its error."""

from __future__ import annotations

import math

import pytest
import torch

from kgn_align.assignment import (
    MISSING_ANSWER_LOG_PROB,
    NO_RIVAL,
    SHARE_BOUNDS,
    CandidateMatrix,
    Calibrator,
    answer_log_likelihood,
    best_per_row,
    competition_features,
    counterpart_share,
    dangling_copies,
    expected_calibration_error,
    sinkhorn,
)


def _matrix() -> tuple[CandidateMatrix, torch.Tensor]:
    # sources 0 and 1 both prefer target 10; source 1 fits target 11 almost as well
    sources = torch.tensor([0, 1])
    cands = torch.tensor([[10, 12], [10, 11]])
    matrix, keep = CandidateMatrix.from_lists(sources, cands)
    scores = torch.tensor([[0.95, 0.30], [0.90, 0.88]])[keep]
    return matrix, scores


def test_sinkhorn_rows_sum_to_one_and_resolve_a_contested_target() -> None:
    matrix, scores = _matrix()
    log_p = sinkhorn(matrix, scores, temperature=0.02)
    p = log_p.exp()
    assert p[:2].sum() == pytest.approx(1.0, abs=1e-5) and p[2:].sum() == pytest.approx(1.0, abs=1e-5)
    # on its own source 1 would take target 10 (0.90 > 0.88); against source 0 it yields it
    assert int(scores[2:].argmax()) == 0
    assert int(p[2:].argmax()) == 1
    # no competition between sources: a plain softmax per row keeps each source's own order
    alone = sinkhorn(matrix, scores, temperature=0.02, iterations=0).exp()
    assert int(alone[2:].argmax()) == 0


def test_sinkhorn_keeps_the_order_of_a_source_whose_targets_are_all_taken() -> None:
    """Source 2 wants targets 10, 11 and 12, each held far more firmly by another source.
    Its probabilities are all tiny, but their order is its own scores' order: normalising
    in probabilities made them the same floor (a three-way tie at log 1/3)."""
    sources = torch.tensor([0, 1, 3, 2])
    cands = torch.tensor([[10, 13], [11, 13], [12, 13], [10, 11]])
    matrix, keep = CandidateMatrix.from_lists(sources, cands)
    scores = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.30, 0.20]])[keep]
    scores = torch.cat([scores, torch.tensor([0.25])])  # source 2's third candidate, target 12
    matrix = CandidateMatrix(torch.cat([matrix.row, torch.tensor([2])]),
                             torch.cat([matrix.col, torch.tensor([12])]))
    log_p = sinkhorn(matrix, scores, temperature=0.001)
    mine = log_p[matrix.row == 2]
    assert torch.isfinite(mine).all()
    assert mine.exp().sum() == pytest.approx(1.0, abs=1e-5)
    # entries of source 2 in matrix order: targets 10 (0.30), 11 (0.20), 12 (0.25)
    assert mine[0] > mine[2] > mine[1]


def test_sinkhorn_is_deterministic_and_checks_shapes() -> None:
    matrix, scores = _matrix()
    assert torch.equal(sinkhorn(matrix, scores), sinkhorn(matrix, scores))
    with pytest.raises(ValueError, match="shape"):
        sinkhorn(matrix, scores[:3])


def test_competition_features_margins() -> None:
    matrix, scores = _matrix()
    f = competition_features(matrix, scores, sinkhorn(matrix, scores))
    # entry order: (0,10) (0,12) (1,10) (1,11); columns: log_assignment, row, column margin
    assert f.shape == (4, 3)
    assert f[0, 1] == pytest.approx(0.95 - 0.30)  # row margin over its other target
    assert f[1, 1] == pytest.approx(0.30 - 0.95)
    assert f[0, 2] == pytest.approx(0.95 - 0.90)  # column margin over source 1's bid
    assert f[2, 2] == pytest.approx(0.90 - 0.95)
    assert f[1, 2] == pytest.approx(NO_RIVAL)  # nobody else wants target 12


def test_a_lone_poor_candidate_does_not_take_the_probability_of_an_outbid_match() -> None:
    """dbp15k_ja_en, 'santa cruz fc': its match scores 0.44, well ahead of its other
    candidates, but another source wants that target more (0.50); a candidate no other
    source wants scores 0.06. Sinkhorn moves the row's mass to the lone one; the
    calibrator fitted on ja_en's validation lists (its weights below) must not follow it
    there. With a lone candidate's margin at 1.0 (before) it gave that candidate 0.947 and
    the match 0.053; here 0.9997 and 0.0002 then, 0.34 and 0.47 now."""
    matrix, keep = CandidateMatrix.from_lists(torch.tensor([0, 1]), torch.tensor([[10, 11], [10, -1]]))
    scores = torch.tensor([[0.44, 0.06], [0.50, 0.0]])[keep]
    log_a = sinkhorn(matrix, scores)
    features = competition_features(matrix, scores, log_a)
    assert features[1, 2] == pytest.approx(NO_RIVAL)  # (0, 11): nobody else wants target 11
    assert float(log_a[1]) > float(log_a[0])  # the matching gives source 0 the lone target
    calibrator = Calibrator(torch.tensor([0.819, 8.156, 11.023]), 1.460, per_list=True)
    p = calibrator(features, matrix.row)
    assert float(p[0]) > float(p[1])  # the match ranks first (its Hits@1) ...
    assert float(p[1]) < 0.5  # ... and the lone candidate gets no edge at the default threshold


def test_dangling_copies_drop_the_answer_and_renormalise() -> None:
    matrix, scores = _matrix()
    log_a = sinkhorn(matrix, scores)
    features, labels, rows = dangling_copies(matrix, scores, log_a, torch.tensor([0]), torch.tensor([10]))
    assert labels.tolist() == [0.0]  # source 0 without target 10: only target 12 is left
    assert rows.tolist() == [0]
    assert features[0, 0] == pytest.approx(0.0, abs=1e-5)  # all the row's mass on what is left
    assert features[0, 1] == pytest.approx(NO_RIVAL)


def test_calibrator_learns_that_a_lost_column_is_no_match() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 400
    score = torch.rand(n, generator=gen) * 0.4 + 0.6  # every candidate looks alike by score
    col_margin = torch.randn(n, generator=gen) * 0.1
    labels = (col_margin > 0).float()  # ... but only those that win their column match
    features = torch.stack([torch.log(score), torch.full((n,), 0.2), col_margin], 1)
    calibrator = Calibrator.fit(features, labels)
    p = calibrator(features)
    assert float(((p > 0.5).float() == labels).float().mean()) > 0.9
    assert "column_margin" in calibrator.describe()
    with pytest.raises(ValueError, match="both"):
        Calibrator.fit(features, torch.zeros(n))


def test_expected_calibration_error() -> None:
    probs = torch.tensor([0.9] * 10 + [0.1] * 10)
    right = torch.tensor([1.0] * 9 + [0.0] + [0.0] * 9 + [1.0])
    ece, table = expected_calibration_error(probs, right)
    assert ece == pytest.approx(0.0, abs=1e-9)
    assert [b["count"] for b in table] == [10, 10]
    wrong = 1 - right
    assert expected_calibration_error(probs, wrong)[0] == pytest.approx(0.8)


def _best_scores(n: int, above: float, gen: torch.Generator) -> torch.Tensor:
    """``n`` best-candidate scores, a share ``above`` of them at or over 0.5."""
    high = torch.rand(n, generator=gen) * 0.5 + 0.5
    low = torch.rand(n, generator=gen) * 0.49
    return torch.where(torch.arange(n) < round(above * n), high, low)


def test_counterpart_share_is_read_from_the_unlabelled_lists() -> None:
    gen = torch.Generator().manual_seed(0)
    matched = _best_scores(200, 0.9, gen)  # validation sources: 9 in 10 found
    dangling = _best_scores(200, 0.1, gen)  # their copies without the answer: 1 in 10 fooled
    # 80 % with a counterpart: 0.8 * 0.9 + 0.2 * 0.1 = 0.74 of them over 0.5
    assert counterpart_share(matched, dangling, _best_scores(1000, 0.74, gen)) == pytest.approx(0.8)
    # fewer than half: the floor (validation lists are no guide to harder ones)
    assert counterpart_share(matched, dangling, _best_scores(1000, 0.2, gen)) == SHARE_BOUNDS[0]
    assert counterpart_share(matched, dangling, _best_scores(1000, 1.0, gen)) == SHARE_BOUNDS[1]
    # validation lists that look alike with and without their answer tell nothing
    assert counterpart_share(matched, _best_scores(200, 0.85, gen), _best_scores(10, 0.5, gen)) is None
    assert counterpart_share(matched, dangling, torch.empty(0)) is None


def test_best_per_row() -> None:
    assert best_per_row(torch.tensor([0.2, 0.9, 0.4, 0.1]), torch.tensor([7, 3, 7, 3])).tolist() == \
        pytest.approx([0.9, 0.4])


def test_a_larger_share_of_counterparts_raises_the_best_candidates_probability() -> None:
    """Weighting the dangling copies down (more sources with a counterpart) lifts the
    probability of a clear best candidate: what the calibration assumes matters."""
    gen = torch.Generator().manual_seed(1)
    n = 300
    margin = torch.rand(n, generator=gen)
    features = torch.stack([torch.zeros(n), margin, margin], 1)
    labels = (margin + 0.3 * torch.randn(n, generator=gen) > 0.5).float()
    probe = torch.tensor([[0.0, 0.5, 0.5]])
    even = Calibrator.fit(features, labels)(probe)
    weights = torch.where(labels > 0, torch.tensor(1.8), torch.tensor(0.2))
    assert float(Calibrator.fit(features, labels, weights)(probe)) > float(even) + 0.2


def test_answer_log_likelihood_weighs_how_sure_and_floors_missing_answers() -> None:
    matrix, scores = _matrix()  # entries (0,10) (0,12) (1,10) (1,11)
    log_a = torch.log(torch.tensor([0.9, 0.1, 0.3, 0.7]))
    answers = torch.tensor([[0, 10], [1, 11]])
    assert answer_log_likelihood(matrix, log_a, answers) == pytest.approx((math.log(0.9) + math.log(0.7)) / 2)
    # a surer assignment of the same winners scores higher: Hits@1 could not tell them apart
    surer = torch.log(torch.tensor([0.99, 0.01, 0.1, 0.9]))
    assert answer_log_likelihood(matrix, surer, answers) > answer_log_likelihood(matrix, log_a, answers)
    # an answer outside its source's candidates counts the floor
    missing = torch.tensor([[0, 10], [1, 12]])
    assert answer_log_likelihood(matrix, log_a, missing) == pytest.approx((math.log(0.9) + MISSING_ANSWER_LOG_PROB) / 2)
    assert answer_log_likelihood(matrix, log_a, torch.empty(0, 2, dtype=torch.long)) == 0.0


def test_a_calibration_is_written_with_each_sign_once() -> None:
    """'p = sigmoid(0.995 * logit + -8.824)' read badly in a trial's log."""
    from kgn_align.assignment import Calibrator, linear_text

    assert linear_text([0.995], ["logit"], -8.824) == "0.995 * logit - 8.824"
    assert linear_text([-1.0, 2.5], ["a", "b"], 0.25) == "-1.000 * a + 2.500 * b + 0.250"
    described = Calibrator(torch.tensor([1.106, -0.989, 3.897]), -0.602).describe()
    assert described.startswith("p = sigmoid(1.106 * log_assignment - 0.989 * row_margin "
                                "+ 3.897 * column_margin - 0.602), counterpart share"), described


def _lists(seed: int = 0, n: int = 300) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synthetic calibration lists of 5 candidates: the features say how far each pair
    leads; half the lists hold their answer (the leader), half are dangling copies."""
    g = torch.Generator().manual_seed(seed)
    features, labels, lists = [], [], []
    for i in range(n):
        has_answer = i % 2 == 0
        f = torch.randn(5, 3, generator=g) * 0.3
        if has_answer:
            f[0] += torch.tensor([0.0, 1.5, 1.0])
        features.append(f)
        labels.append(torch.tensor([1.0 if has_answer else 0.0, 0, 0, 0, 0]))
        lists.append(torch.full((5,), i))
    return torch.cat(features), torch.cat(labels), torch.cat(lists)


def test_per_list_calibration_never_gives_a_source_more_than_one_match() -> None:
    features, labels, lists = _lists()
    calibrator = Calibrator.fit(features, labels, lists=lists)
    assert calibrator.per_list and "over the source's candidates" in calibrator.describe()
    p = calibrator(features, lists)
    per_list = torch.zeros(int(lists.max()) + 1).index_add_(0, lists, p.double().float())
    assert float(per_list.max()) <= 1.0 + 1e-5
    # the leaders of lists with their answer are found, the dangling copies' leaders are not sure
    leaders = p.view(-1, 5)[:, 0]
    assert float(leaders[0::2].mean()) > 0.7 and float(leaders[1::2].mean()) < 0.3
    # five candidates it cannot tell apart, each a sure match on its own features, share
    # one chance (a per-pair logistic fit gives each nearly 1)
    sure = torch.tensor([[0.0, 1.5, 1.0]]).repeat(5, 1)
    one = torch.zeros(5, dtype=torch.long)
    shared = calibrator(torch.cat([sure, sure[:1]]), torch.cat([one, torch.ones(1, dtype=torch.long)]))
    assert float(shared[:5].sum()) < 1.0 and float(shared[5]) > 2 * float(shared[0])
    assert float(Calibrator.fit(features, labels)(sure)[0]) > 0.9
    # the same fit from the same lists: no randomness; and under a caller's inference mode
    again = Calibrator.fit(features, labels, lists=lists)
    assert torch.equal(again.weights, calibrator.weights) and again.bias == calibrator.bias
    with torch.inference_mode():
        inside = Calibrator.fit(features.clone(), labels.clone(), lists=lists.clone())
    assert torch.equal(inside.weights, calibrator.weights)


def test_per_list_calibration_checks_its_lists() -> None:
    features, labels, lists = _lists(n=10)
    with pytest.raises(ValueError, match="lists with their answer and lists without one"):
        Calibrator.fit(features[0::2 * 5], labels[0::2 * 5], lists=lists[0::2 * 5])
    two = labels.clone()
    two[1] = 1.0
    with pytest.raises(ValueError, match="more than one answer"):
        Calibrator.fit(features, two, lists=lists)
    with pytest.raises(ValueError, match="needs each pair's list"):
        Calibrator.fit(features, labels, lists=lists)(features)
