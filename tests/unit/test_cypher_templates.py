from __future__ import annotations

import pytest

from kgn_align import cypher


def test_fill_quotes_identifiers_and_lists() -> None:
    text = "MATCH (n:{{label}})-[r:{{types}}]->() RETURN n.{{prop}}"
    out = cypher.fill(text, {"label": "Movie", "types": ["ACTED_IN", "DIRECTED"], "prop": "name"})
    assert out == "MATCH (n:`Movie`)-[r:`ACTED_IN`|`DIRECTED`]->() RETURN n.`name`"


@pytest.mark.parametrize("bad", ["Movie`) DETACH DELETE n //", "a b", "", "1abc", "x-y", "`x`"])
def test_hostile_identifiers_never_reach_query_text(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid identifier"):
        cypher.fill("MATCH (n:{{label}}) RETURN n", {"label": bad})
    with pytest.raises(ValueError):
        cypher.fill("MATCH ()-[r:{{types}}]->() RETURN r", {"types": ["OK", bad]})


def test_missing_and_unused_slots_fail_loudly() -> None:
    with pytest.raises(ValueError, match="needs identifiers"):
        cypher.fill("MATCH (n:{{label}}) RETURN n", {})
    with pytest.raises(ValueError, match="no slots"):
        cypher.fill("MATCH (n) RETURN n", {"label": "A"})


def test_every_query_loads_by_name_and_has_only_known_slots() -> None:
    names = cypher.available()
    assert "load_nodes" in names and "server_components" in names
    for name in names:
        text = cypher.load_text(name)
        assert text.strip(), name
        for slot in cypher.placeholders(text):
            assert slot.isidentifier()


def test_unknown_query_name() -> None:
    with pytest.raises(KeyError, match="no query named"):
        cypher.load_text("does_not_exist")
    with pytest.raises(ValueError):
        cypher.load_text("../etc/passwd")
