"""``kgn-align explain`` takes a whole key or a unique end of one (no server here; the
integration test runs it through the CLI on both servers)."""

from __future__ import annotations

import pytest

from kgn_align.explaining import KeyNotFound, key_suffixes, pick_key

PARIS = "http://fr.dbpedia.org/resource/Paris"


def test_an_end_of_a_key_starts_after_a_separator() -> None:
    assert key_suffixes("Paris") == ["/Paris", "#Paris", ":Paris"]
    assert key_suffixes("resource/Paris") == ["/resource/Paris", "#resource/Paris", ":resource/Paris"]
    assert key_suffixes("/resource/Paris") == ["/resource/Paris"]
    assert not any("http://fr.dbpedia.org/resource/Gare_de_Paris".endswith(s) for s in key_suffixes("Paris"))
    assert any(PARIS.endswith(s) for s in key_suffixes("Paris"))


def test_the_exact_key_then_the_one_match() -> None:
    assert pick_key(PARIS, "fr", 1, [PARIS, "http://fr.dbpedia.org/resource/Lyon"]) == PARIS
    assert pick_key("resource/Paris", "fr", 1, [PARIS, "x"]) == PARIS
    # an exact key wins over keys that merely end in it
    assert pick_key("Paris", "fr", 3, ["Paris", "http://a/Paris", "http://b/Paris"]) == "Paris"


def test_several_matches_name_a_few_candidates_in_one_line() -> None:
    keys = [f"http://x{i}/Paris" for i in range(6)]
    with pytest.raises(KeyNotFound) as err:
        pick_key("Paris", "fr", 9, keys)
    message = str(err.value)
    assert message.startswith("'Paris' matches 9 'fr' keys: 'http://x0/Paris', ")
    assert "'http://x4/Paris' and 4 more; give more of the key" in message
    assert "http://x5/Paris" not in message and "\n" not in message


def test_no_match_says_so_and_shows_what_keys_look_like() -> None:
    with pytest.raises(KeyNotFound) as err:
        pick_key("Nowhere", "en", 0, ["http://dbpedia.org/resource/Alpha"])
    message = str(err.value)
    assert message == ("no 'en' entity has the key 'Nowhere', or a key ending in it after '/', "
                       "'#' or ':' (its keys look like 'http://dbpedia.org/resource/Alpha')")
    assert "seed" not in message and not message.startswith("'")  # not KeyError's repr
    with pytest.raises(KeyNotFound, match="the side has no entities"):
        pick_key("x", "en", 0, [])
