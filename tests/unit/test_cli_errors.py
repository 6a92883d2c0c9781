"""Errors reach users as one line that names the problem, never as a traceback, and never
with a password in them: not from a URI, not from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kgn_align.cli import cli
from kgn_align.config import connection_from_env
from kgn_align.errors import ConfigError, redact

SECRET = "s3cret-Pa55word"


def test_credentials_in_the_uri_move_out_of_it() -> None:
    conn = connection_from_env(env={"NEO4J_URI": f"bolt://bob:{SECRET}@db.example:7687"})
    assert conn.uri == "bolt://db.example:7687"
    assert conn.user == "bob" and conn.password.get_secret_value() == SECRET
    assert SECRET not in repr(conn) and SECRET not in conn.model_dump_json()


@pytest.mark.parametrize(("uri", "says"), [
    ("htp://localhost:7687", "scheme htp:// is not one the Neo4j driver speaks"),
    ("localhost:7687", "is not one the Neo4j driver speaks"),
    (f"bolt://u:{SECRET}@", "no host"),
])
def test_bad_uris_are_one_clear_error_without_the_secret(uri: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        connection_from_env(env={"NEO4J_URI": uri})
    assert says in str(err.value) and SECRET not in str(err.value)


def test_redact_hides_uri_passwords_and_given_secrets() -> None:
    text = f"failed at neo4j+s://admin:{SECRET}@host:7687/db; password was {SECRET}"
    assert redact(text, SECRET) == "failed at neo4j+s://admin:***@host:7687/db; password was ***"


def test_cli_errors_are_one_line_and_redacted(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_scheme = runner.invoke(cli, ["--home", str(tmp_path), "server", "status"],
                               env={"NEO4J_URI": f"htp://u:{SECRET}@h"})
    assert bad_scheme.exit_code == 2 and "Traceback" not in bad_scheme.output
    assert "scheme htp://" in bad_scheme.output and SECRET not in bad_scheme.output
    # an unreachable server with the password in the URI: one line, no secret
    down = runner.invoke(cli, ["--home", str(tmp_path), "load", "kg", "srprs_en_fr"],
                         env={"NEO4J_URI": f"bolt://bob:{SECRET}@127.0.0.1:9"})
    assert down.exit_code == 1 and "Traceback" not in down.output
    assert "no graph server answers" in down.output and SECRET not in down.output
    assert len([line for line in down.output.splitlines() if line.startswith("Error:")]) == 1


def test_refused_checkpoint_is_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"not a checkpoint at all")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "explain", "--dataset", "srprs_en_fr",
                                      "--model", str(bogus), "a", "b"],
                                env={"NEO4J_URI": "bolt://127.0.0.1:9", "NEO4J_PASSWORD": SECRET})
    assert result.exit_code == 1, result.output
    assert result.output.strip() == f"Error: {bogus}: not a kgn-align checkpoint (" + \
        result.output.strip().split(" (", 1)[1]
    assert "not a kgn-align checkpoint" in result.output and SECRET not in result.output
    assert len(result.output.strip().splitlines()) == 1
