"""The state file a started server leaves for the other commands: where it listens, and
its password read from the one file that keeps it (no server started here: the state is
written as ``start`` writes it, for this process's own pid, so that it counts as running)."""

import json
import os
from pathlib import Path

import pytest

from kgn_align.servers import PASSWORD_FILE, STATE_FILE, LocalServerError, server_for

STATE = {"kind": "neo4j", "host": "127.0.0.1", "bolt_port": 7687, "http_port": 7474,
         "user": "neo4j", "database": "neo4j", "version": "5.26.19"}


def _server(tmp_path: Path, with_password_in_state: bool):
    server = server_for("neo4j", tmp_path)
    server.data_dir.mkdir(parents=True)
    (server.data_dir / PASSWORD_FILE).write_text("Secret123secret456\n")
    state = {**STATE, "pid": os.getpid(), "data_dir": str(server.data_dir)}
    if with_password_in_state:  # what kgn-align wrote before the password moved out
        state["password"] = "Secret123secret456"
    (server.data_dir / STATE_FILE).write_text(json.dumps(state))
    return server


@pytest.mark.parametrize("with_password_in_state", [False, True])
def test_the_state_reads_the_password_from_its_own_file(tmp_path, with_password_in_state):
    state = _server(tmp_path, with_password_in_state).state()
    assert state is not None and state.uri == "bolt://127.0.0.1:7687"
    assert state.connection().password.get_secret_value() == "Secret123secret456"
    assert "Secret123" not in repr(state)


def test_a_missing_password_file_is_named(tmp_path):
    server = _server(tmp_path, with_password_in_state=False)
    (server.data_dir / PASSWORD_FILE).unlink()
    with pytest.raises(LocalServerError, match=PASSWORD_FILE):
        server.state()


@pytest.mark.parametrize("with_password_in_state", [False, True])
def test_a_stale_state_file_is_removed_without_reading_the_password(tmp_path, with_password_in_state):
    server = _server(tmp_path, with_password_in_state)
    state = json.loads(server.state_path.read_text())
    state["pid"] = 2**22 + 12345  # above the kernel's pid_max: never a running process
    server.state_path.write_text(json.dumps(state))
    (server.data_dir / PASSWORD_FILE).unlink()
    assert server.state() is None and not server.state_path.exists()
