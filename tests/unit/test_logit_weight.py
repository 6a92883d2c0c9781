"""The choice of the GNN's logit weight in the global assignment (kgn_align.scoring):
the best measure wins, ties go to the smaller weight, and the log shows differences
however small they are."""

from __future__ import annotations

import logging

from kgn_align.scoring import LOGIT_WEIGHTS, _best_weight


def test_the_best_weight_wins_and_ties_go_to_the_smaller() -> None:
    assert _best_weight(lambda b: -abs(b - 0.05), "", "m") == 0.05
    assert _best_weight(lambda b: 0.0, "", "m") == 0.0
    assert _best_weight(lambda b: 1.0 if b >= 0.02 else 0.5, "", "m") == 0.02


def test_tiny_differences_are_shown_not_rounded_away(caplog) -> None:
    """A small, easy graph: every weight within 1e-4 of a perfect log-likelihood; the
    line showed '-0.0000' for all and the choice looked arbitrary."""
    measures = {b: -1e-6 * (i + 1) for i, b in enumerate(LOGIT_WEIGHTS)}
    measures[0.2] = -5e-7
    with caplog.at_level(logging.DEBUG, logger="kgn_align.scoring"):
        assert _best_weight(measures.__getitem__, "", "validation log-likelihood") == 0.2
    said, line = [r.getMessage() for r in caplog.records]
    # at INFO (what a command shows) the choice in words; every weight's measure at DEBUG (-vv)
    assert said.startswith("the GNN's logit weight in the matching: 0.2, where the validation "
                           "log-likelihood is highest (-5e-07;")
    assert line.startswith("logit weight 0.2: validation log-likelihood -5e-07 (0: -1e-06, 0.005: -2e-06")
    assert "0000" not in line
