"""What the CLI prints when read in a log or a pipe, and options where users put them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kgn_align.cli import cli, stage_progress


def test_progress_in_a_log_is_one_line_per_stage(capsys) -> None:
    update, finish = stage_progress("  ")
    update("sample source", 3, 10)
    update("sample source", 7, 10)
    update("sample target", 5, 5)
    finish()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" in ")[0] for line in lines] == ["  sample source: 10 of 10",
                                                        "  sample target: 5 of 5"]


def test_a_stage_is_reported_when_it_finishes_not_when_the_command_ends(capsys) -> None:
    update, finish = stage_progress()
    update("sample target", 4, 5)
    assert capsys.readouterr().err == ""
    update("sample target", 1, 5)
    assert capsys.readouterr().err.startswith("sample target: 5 of 5 in ")
    finish()  # nothing left to say
    assert capsys.readouterr().err == ""


def test_the_drivers_retry_notes_wait_for_v_and_its_informational_notes_for_vv(tmp_path: Path) -> None:
    import logging

    neo4j_log = logging.getLogger("neo4j")
    before = neo4j_log.level
    try:
        # without -v not even its ERROR lines: a server killed mid-query printed the driver's
        # "Failed to read from defunct connection" above kgn-align's own one-line error
        for flags, level in (([], logging.CRITICAL), (["-v"], logging.WARNING), (["-vv"], logging.NOTSET)):
            neo4j_log.setLevel(logging.NOTSET)
            CliRunner().invoke(cli, ["--home", str(tmp_path), *flags, "server", "status"])
            assert neo4j_log.level == level, flags  # -vv: the driver's notes as the root logs
    finally:
        neo4j_log.setLevel(before)


def test_datasets_option_after_the_sub_command(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    for args in (["load", "kg", "srprs_en_fr", "--datasets", str(missing)],
                 ["train", "--dataset", "srprs_en_fr", "--datasets", str(missing)],
                 ["backfill", "--dataset", "srprs_en_fr", "--datasets", str(missing)]):
        result = CliRunner().invoke(cli, ["--home", str(tmp_path), *args], env={"NEO4J_URI": ""})
        assert result.exit_code == 1, (args, result.output)
        assert f"not found at {missing}" in result.output, (args, result.output)


def test_server_stop_and_status_when_nothing_runs(tmp_path: Path) -> None:
    """'server stop' says that nothing ran (it printed nothing); 'server status' keeps stdout
    for its JSON and says 'none' on stderr, exit 3."""
    stop = CliRunner().invoke(cli, ["--home", str(tmp_path), "server", "stop"])
    assert stop.exit_code == 0
    assert stop.stdout.strip() == f"no kgn-align server was running (looked in {tmp_path / 'servers'})"
    status = CliRunner().invoke(cli, ["--home", str(tmp_path), "server", "status"])
    assert status.exit_code == 3 and status.stdout == ""
    assert "no kgn-align server running" in status.stderr


def test_the_typical_session_in_help_names_real_commands_and_options() -> None:
    """Every line of ``kgn-align --help``'s typical session is a command that exists, with
    options that command takes (a renamed option would otherwise teach users an error)."""
    import click

    help_text = CliRunner().invoke(cli, ["--help"]).output
    session = help_text.split("Typical session")[1].split("Options:")[0]
    lines = [line.split("#")[0].split() for line in session.splitlines()[1:] if line.strip()]
    assert len(lines) >= 8 and all(words[0] == "kgn-align" for words in lines)
    for words in lines:
        command: click.Command = cli
        rest = words[1:]
        while isinstance(command, click.Group) and rest and rest[0] in command.commands:
            command, rest = command.commands[rest[0]], rest[1:]
        assert command is not cli, f"no such command: {' '.join(words)}"
        known = {name for p in command.params for name in getattr(p, "opts", [])}
        unknown = [w for w in rest if w.startswith("--") and w not in known]
        assert not unknown, f"{' '.join(words)}: {unknown} are not options of it"


def test_the_drivers_retries_are_one_line_in_our_words(caplog) -> None:
    """A transaction against a server that does not answer: the driver's own retry warnings
    (one per try, with its raw delay) become one line naming the cause and how long the
    driver goes on, the password redacted; -v leaves the driver's lines as they are. A real
    driver, a closed port: no server is faked."""
    import logging
    import socket

    import neo4j
    import pytest

    from kgn_align.cli import note_driver_retries

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def fail_to_read() -> None:
        with neo4j.GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("neo4j", "s3cret-pw"),
                                        max_transaction_retry_time=1.5) as driver:
            with driver.session() as session, pytest.raises(neo4j.exceptions.ServiceUnavailable):
                session.execute_read(lambda tx: tx.run("RETURN 1").consume())

    logging.getLogger("neo4j").setLevel(logging.CRITICAL)  # as the CLI sets it without -v
    try:
        note_driver_retries(1.5, "s3cret-pw")
        with caplog.at_level(logging.WARNING):
            fail_to_read()
        retries = [r.getMessage() for r in caplog.records if r.name == "neo4j.session"]
        assert len(retries) == 1, retries
        assert retries[0].startswith("the graph server did not answer (")
        assert retries[0].endswith("): trying again for up to 1.5 s")
        assert f"127.0.0.1:{port}" in retries[0] and "s3cret-pw" not in retries[0]
        caplog.clear()
        note_driver_retries(None)  # -v: the driver's own lines, one per try
        logging.getLogger("neo4j").setLevel(logging.WARNING)
        with caplog.at_level(logging.WARNING):
            fail_to_read()
        raw = [r.getMessage() for r in caplog.records if r.name == "neo4j.session"]
        assert len(raw) >= 2 and all(m.startswith("Transaction failed and will be retried") for m in raw), raw
    finally:
        note_driver_retries(None)
        logging.getLogger("neo4j").setLevel(logging.NOTSET)
