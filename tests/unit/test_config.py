from __future__ import annotations

from pathlib import Path

import pytest

from kgn_align.config import AlignConfig, connection_from_env, load_config
from kgn_align.errors import ConfigError

HOSTILE = "Movie`) DETACH DELETE n //"

BASE = """
[source]
name = "imdb"
label = "Movie"
property = "graph"
value = "imdb"

[target]
name = "freebase"
label = "Film"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "align.toml"
    path.write_text(text)
    return path


def test_reads_file_and_environment(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE), env={"NEO4J_URI": "bolt://db:7687", "NEO4J_PASSWORD": "s3cret-pw"})
    assert cfg.source.label == "Movie" and cfg.source.value == "imdb"
    assert cfg.target.property is None
    assert cfg.connection.uri == "bolt://db:7687"
    assert cfg.connection.password.get_secret_value() == "s3cret-pw"
    assert cfg.sampling.k1 == 10 and cfg.sampling.k2 == 10


def test_hostile_label_is_refused_naming_the_field(tmp_path: Path) -> None:
    text = BASE.replace('label = "Film"', f'label = "{HOSTILE.replace("`", "`")}"')
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert "target.label" in str(err.value)
    assert "not a valid identifier" in str(err.value)


@pytest.mark.parametrize("field,value", [
    ("key_property", "key}) DETACH DELETE n //"),
    ("name_properties", ["name", "x` OR 1=1"]),
    ("relationship_types", ["ACTED_IN", "A|B"]),
    ("same_as_type", "SAME AS"),
])
def test_every_identifier_field_is_validated(field: str, value: object) -> None:
    data = {"source": {"name": "a", "label": "A"}, "target": {"name": "b", "label": "B"}, field: value}
    with pytest.raises(Exception) as err:
        AlignConfig.model_validate(data)
    assert field in str(err.value)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = BASE.replace('label = "Movie"', 'label = "1bad"').replace('label = "Film"', 'label = ""')
    text += "\n[sampling]\nk1 = 0\n"
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    message = str(err.value)
    assert "source.label" in message and "target.label" in message and "sampling.k1" in message


def test_same_nodes_on_both_sides_rejected() -> None:
    with pytest.raises(Exception, match="same nodes"):
        AlignConfig.model_validate({"source": {"name": "a", "label": "A"}, "target": {"name": "b", "label": "A"}})


def test_two_sides_with_one_name_are_refused(tmp_path: Path) -> None:
    """Messages, edges and jobs name a side by its name: two sides named alike passed
    'check' silently (a new-user trial), and every message about them was ambiguous."""
    text = BASE.replace('name = "imdb"', 'name = "cellar"').replace('name = "freebase"', 'name = "cellar"')
    assert text.count('name = "cellar"') == 2
    with pytest.raises(ConfigError, match="source and target are both named 'cellar'"):
        load_config(write(tmp_path, text), env={})


def test_following_same_as_is_refused() -> None:
    with pytest.raises(Exception, match="leak"):
        AlignConfig.model_validate({"source": {"name": "a", "label": "A"}, "target": {"name": "b", "label": "B"},
                                    "relationship_types": ["SAME_AS"]})


def test_password_never_in_errors_or_repr(tmp_path: Path) -> None:
    conn = connection_from_env(env={"NEO4J_URI": "bolt://x:1", "NEO4J_PASSWORD": "hunter2-secret"})
    assert "hunter2-secret" not in repr(conn) and "hunter2-secret" not in str(conn.model_dump())
    with pytest.raises(ConfigError) as err:
        connection_from_env(env={"NEO4J_DATABASE": "bad name!", "NEO4J_PASSWORD": "hunter2-secret"})
    assert "hunter2-secret" not in str(err.value)
    assert "database" in str(err.value)


def test_a_password_of_the_wrong_type_is_said_without_its_value(tmp_path: Path) -> None:
    """A number or a list as [connection] password: the error says a string is expected
    (a trial got "invalid value") and never shows what was written."""
    for written in ("98765432123", '["s3cret-in-a-list"]'):
        with pytest.raises(ConfigError) as err:
            load_config(write(tmp_path, BASE + f"[connection]\npassword = {written}\n"), env={})
        said = str(err.value)
        assert "connection.password (line " in said and "expected a string: the password in quotes" in said, said
        assert "98765432123" not in said and "s3cret-in-a-list" not in said


def test_a_missing_key_is_named_with_the_line_of_its_table(tmp_path: Path) -> None:
    """A [source] without its label said "source.label: Field required" with no line."""
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, BASE.replace('label = "Movie"\n', "")), env={})
    assert "source.label (in [source], line 2): Field required" in str(err.value), err.value


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[source\n"), env={})
    latin = tmp_path / "latin.toml"
    latin.write_bytes('key_property = "cl\u00e9"\n'.encode("latin-1") + BASE.encode())
    with pytest.raises(ConfigError, match=r"latin.toml: not UTF-8 text \(byte 0xe9 at position 18\)"):
        load_config(latin, env={})
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path, env={})
    with pytest.raises(ConfigError, match="KGN_ALIGN_CONFIG is empty"):
        load_config("", env={})


def test_usual_toml_mistakes_are_named_with_their_line_and_fix(tmp_path: Path) -> None:
    """A misspelt key with its near miss, a top-level key written below [target] (TOML puts
    it in that table), a string where a list belongs; each with its line in the file."""
    text = 'key_propety = "key"\nname_properties = "title"\n' + BASE + 'relationship_types = ["X"]\n'
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    said = str(err.value)
    assert "key_propety (line 1): unknown key 'key_propety' (did you mean 'key_property'?)" in said
    assert 'name_properties (line 2): expected a list, e.g. name_properties = ["title"]' in said
    assert ("target.relationship_types (line 13): 'relationship_types' is a top-level key: "
            "TOML reads a key below [target] as part of that table") in said
    with pytest.raises(ConfigError, match=r"sampling.seeed \(line \d+\): unknown key 'seeed' "
                                          r"\(did you mean 'seed'\?\)"):
        load_config(write(tmp_path, BASE + "[sampling]\nseeed = 1\n"), env={})


def test_attribute_properties_are_checked_against_the_names() -> None:
    import pytest as _pytest

    from kgn_align.config import AlignConfig, GraphSide

    sides = {"source": GraphSide(name="a", label="A"), "target": GraphSide(name="b", label="B")}
    assert AlignConfig(**sides, attribute_properties=("year", "venue")).attribute_properties == ("year", "venue")
    with _pytest.raises(ValueError, match="already in name_properties"):
        AlignConfig(**sides, attribute_properties=("name",))
    with _pytest.raises(ValueError, match="listed twice"):
        AlignConfig(**sides, attribute_properties=("year", "year"))
    with _pytest.raises(ValueError, match="attribute_properties"):
        AlignConfig(**sides, attribute_properties=("year`) DETACH DELETE n //",))


def test_sampling_hash_is_stored_unless_the_config_says_not() -> None:
    assert load_config(None, env={}, overrides={"source": {"name": "a", "label": "A"},
                                                "target": {"name": "b", "label": "B"}}).sampling.store_hash


def test_store_hash_off_from_toml(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE + "\n[sampling]\nstore_hash = false\n"), env={})
    assert config.sampling.store_hash is False
    with pytest.raises(ConfigError, match="sampling.store_hash"):
        load_config(write(tmp_path, BASE + "\n[sampling]\nstore_hash = \"nope\"\n"), env={})
