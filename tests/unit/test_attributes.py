"""Attribute comparison: typed reading of property values, pair features, and the pair
model's use of them (:mod:`kgn_align.attributes`)."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import torch

from kgn_align.attributes import (
    DIFFERENT,
    EQUAL,
    MISSING,
    NEAR,
    AttributeTable,
    MatchWeights,
    levels,
    never_agreeing,
    pair_features,
    read_value,
)
from kgn_align.model.pair_model import ModelConfig, PairModel

from tests.unit.model.test_pair_model import sides


@pytest.mark.parametrize("a, b", [
    ("17-Mar-08", "March 17 , 2008"),  # iTunes and Amazon spell the same release date
    ("2008-03-17", dt.date(2008, 3, 17)),
    ("3:55", 235),
    ("$ 1.29", "1.29"),
    ("2001", 2001),
    ("SIGMOD  Conference", "sigmod conference"),
])
def test_one_value_in_two_spellings_reads_alike(a: object, b: object) -> None:
    assert read_value(a) == read_value(b)


def test_kinds_and_missing_values() -> None:
    number, code = read_value("1:02:03")
    assert (number, code) == (3723.0, 0)
    number, code = read_value("( C ) 2015 Interscope Records")
    assert math.isnan(number) and code != 0
    for missing in (None, "", "   ", float("nan")):
        number, code = read_value(missing)
        assert math.isnan(number) and code == 0
    assert read_value("VLDB") != read_value("VLDB Journal")


def test_pair_features_present_equal_near() -> None:
    a = AttributeTable.read([[2001, "VLDB"], [2001, None], [None, "x"]], 2)
    b = AttributeTable.read([[2001, "vldb"], [2002, "VLDB"], [1990, 7]], 2)
    f = pair_features(a, b, torch.tensor([0, 1, 2, 0]), torch.tensor([0, 1, 2, 2]))
    assert f.shape == (4, 6)
    # columns: year present/equal/near, venue present/equal/near
    assert f[0].tolist() == [1, 1, 1, 1, 1, 0]  # same year, same venue text
    assert f[1].tolist() == [1, 0, 1, 0, 0, 0]  # a year apart; one venue missing: no evidence
    assert f[2].tolist() == [0, 0, 0, 1, 0, 0]  # text against a number: present, never equal
    assert f[3].tolist() == [1, 0, 0, 1, 0, 0]  # 11 years apart; "VLDB" vs 7


def test_comparison_levels() -> None:
    a = AttributeTable.read([[2001, "VLDB"], [2001, None], [None, "x"]], 2)
    b = AttributeTable.read([[2001, "vldb"], [2002, "VLDB"], [1990, 7]], 2)
    level = levels(a, b, torch.tensor([0, 1, 2, 0]), torch.tensor([0, 1, 2, 2]))
    assert level.tolist() == [[EQUAL, EQUAL], [NEAR, MISSING], [MISSING, DIFFERENT], [DIFFERENT, DIFFERENT]]


def test_match_weights_are_log_likelihood_ratios_of_the_levels() -> None:
    """Fellegi–Sunter: a level common among matches and rare among candidates weighs for a
    match, the reverse against; a missing value weighs nothing; a level never seen among
    matches (DBLP-ACM: no gold pair a year apart) is strongly against, yet finite."""
    matched = torch.tensor([[EQUAL]] * 98 + [[MISSING]] * 2)
    unmatched = torch.tensor([[EQUAL]] * 10 + [[NEAR]] * 30 + [[DIFFERENT]] * 60 + [[MISSING]] * 5)
    weights = MatchWeights.fit(matched, unmatched)
    m = torch.tensor([99, 1, 1]) / 101.0  # the levels' shares among matches, one added to each count
    u = torch.tensor([11, 31, 61]) / 103.0
    assert torch.allclose(weights.table[0], torch.cat([torch.zeros(1), (m / u).log()]).float())
    evidence = weights(torch.tensor([[EQUAL], [NEAR], [DIFFERENT], [MISSING]]))
    assert evidence[0] > 2 and evidence[2] < evidence[1] < -3 and evidence[3] == 0
    assert bool(torch.isfinite(evidence).all())
    # two properties: the evidence adds up (naive Bayes)
    two = MatchWeights.fit(torch.cat([matched, matched], 1), torch.cat([unmatched, unmatched], 1))
    assert torch.allclose(two(torch.tensor([[EQUAL, DIFFERENT]])), evidence[0] + evidence[2])
    assert weights.describe(["year"]) == "year: equal +2.22, near -3.41, different -4.09"
    with pytest.raises(ValueError, match="shapes"):
        MatchWeights.fit(matched, torch.cat([unmatched, unmatched], 1))


def test_a_property_stored_as_different_kinds_on_the_two_sides_is_named() -> None:
    """An integer year on one side against a date on the other never agrees (1999 against
    ~10,700 days since 1970): training says so, with how each side was read; a property that
    agrees, or that too few pairs both have, is not named."""
    years = list(range(1990, 2010))
    a = AttributeTable.read([[y, y, f"v{y}"] for y in years], 3)
    b = AttributeTable.read([[f"{y}-05-01", y + (i % 2), f"V{y}" if i else None] for i, y in enumerate(years)], 3)
    rows = torch.arange(len(years))
    warned = never_agreeing(a, b, rows, rows, ["year", "year_ok", "venue"])
    assert len(warned) == 1 and warned[0].startswith(
        "attribute property 'year' agrees (equal, or within one unit) on 0 of the 20 matched pairs that both "
        "have it: the source side's values read as numbers around 1,999, the target side's as numbers around 10,")
    assert "leave 'year' out of attribute_properties" in warned[0]
    # the same mismatch on fewer pairs than min_pairs is not judged
    assert never_agreeing(a, b, rows[:9], rows[:9], ["year", "year_ok", "venue"]) == []
    # text against numbers is named as such
    c = AttributeTable.read([[f"{y} AD", y, f"v{y}"] for y in years], 3)
    text_side = AttributeTable.read([[f"year {y} of the calendar", y, f"v{y}"] for y in years], 3)
    assert "the target side's as text" in never_agreeing(c, text_side, rows, rows, ["year", "y", "v"])[0]


def test_the_model_needs_the_features_it_was_built_for() -> None:
    a, b, n_rel = sides()
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8, num_attributes=1))
    ea, eb = torch.tensor([0, 4]), torch.tensor([0, 4])
    with pytest.raises(ValueError, match="attribute"):
        model(a.batch(ea), b.batch(eb), a.features, b.features)
    with pytest.raises(ValueError, match="attribute"):
        model(a.batch(ea), b.batch(eb), a.features, b.features, attributes=torch.zeros(2, 6))


def test_the_model_learns_to_rank_by_an_attribute() -> None:
    """Names and trees fixed, only the attribute differs between two candidates of one
    source: a few steps on matches that agree on it teach the model to prefer agreement."""
    a, b, n_rel = sides()
    torch.manual_seed(0)
    model = PairModel(ModelConfig(feature_dim=16, num_relations=n_rel, hidden=8, num_attributes=1,
                                  dropout=0.0))
    ea, eb = torch.tensor([0, 0, 4, 4]), torch.tensor([0, 0, 4, 4])
    agree = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0])

    def logits() -> torch.Tensor:
        return model(a.batch(ea), b.batch(eb), a.features, b.features, attributes=agree).logit

    before = logits().detach()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(logits(), labels).backward()
        opt.step()
    out = logits().detach()
    assert out[0] > out[1] + 1.0 and out[2] > out[3] + 1.0
    assert (out[0] - out[1]) > (before[0] - before[1]) + 1.0
