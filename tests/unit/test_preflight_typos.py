"""Which configured relationship types are typos of a type the graph has (refused by
``check`` and every command) and which may be meant as they are (warned). The integration
test runs the checks on both servers."""

from __future__ import annotations

import pytest

from kgn_align.preflight import typo_of


@pytest.mark.parametrize(("word", "choices", "meant"), [
    ("BYY", ["BY", "PERFORMED_BY"], "BY"),  # a trial's: one letter too many in a short name
    ("DIRECTD", ["DIRECTED"], "DIRECTED"),  # one letter left out
    ("DIRECTEB", ["DIRECTED"], "DIRECTED"),  # one letter replaced
    ("directed", ["DIRECTED"], "DIRECTED"),  # another case
    ("BY", ["BYX"], "BYX"),
])
def test_one_letter_or_a_case_off_is_a_typo(word: str, choices: list[str], meant: str) -> None:
    assert typo_of(word, choices) == f" (did you mean {meant!r}?)"


@pytest.mark.parametrize(("word", "choices"), [
    ("DIRECTED_BY", ["DIRECTED"]),  # three letters more: a type the graph may get later
    ("ACTED_IN", ["DIRECTED"]),
    ("IN", ["ON"]),  # two-letter names one letter apart are different words
    ("AB", ["BA"]),
    ("BY", ["BY"]),  # a type the graph has is no typo of itself
])
def test_further_off_is_no_typo(word: str, choices: list[str]) -> None:
    assert typo_of(word, choices) == ""
