"""The embedded graph server: ArcadeDB with its Neo4j Bolt plugin, in a child process.

Used by the tests and the zero-setup demo where no Neo4j is at hand. The JVM runs in a
child process (never in the caller's), listens on loopback only unless asked, gets a
generated password, and counts as ready only once Bolt answers. Its state file
(``<data_dir>/server.json``, mode 0600) lets ``kgn-align`` commands find it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

from kgn_align.config import ConnectionConfig
from kgn_align.errors import EmbeddedServerError

log = logging.getLogger(__name__)

STATE_FILE = "server.json"
PASSWORD_FILE = "root.password"  # ArcadeDB keeps the first root password: reuse it
PASSWORD_ENV = "KGN_ALIGN_SERVER_PASSWORD"
USER = "root"
DATABASE = "neo4j"


class ServerState(BaseModel):
    """What a running embedded server's state file holds."""

    model_config = ConfigDict(frozen=True)

    pid: int
    host: str
    bolt_port: int
    http_port: int
    user: str = USER
    password: SecretStr
    database: str = DATABASE
    data_dir: str

    @property
    def uri(self) -> str:
        return f"bolt://{self.host}:{self.bolt_port}"

    def connection(self) -> ConnectionConfig:
        return ConnectionConfig(uri=self.uri, user=self.user, password=self.password,
                                database=self.database)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie awaiting its parent's wait() counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _bolt_answers(state: ServerState) -> bool:
    import neo4j

    try:
        with neo4j.GraphDatabase.driver(state.uri, auth=(state.user, state.password.get_secret_value()),
                                        connection_timeout=2.0) as driver:
            # Bolt can answer before the database is open: ask the database itself.
            # One plain auto-commit query: no driver-side retries, so each probe is quick.
            with driver.session(database=DATABASE) as session:
                session.run("RETURN 1 AS ready").consume()
            return True
    except neo4j.exceptions.AuthError:
        raise EmbeddedServerError(
            f"the embedded server in {state.data_dir} refused kgn-align's password "
            f"(was {PASSWORD_FILE} removed or changed?)") from None
    except Exception:  # not up yet: any connection error means "try again"
        return False


class EmbeddedServer:
    """Start, find and stop the embedded ArcadeDB Bolt server of one data directory."""

    def __init__(self, data_dir: str | os.PathLike[str], *, host: str = "127.0.0.1",
                 bolt_port: int | None = None, heap: str = "1g") -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.bolt_port = bolt_port
        self.heap = heap
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def state(self) -> ServerState | None:
        """The running server's state, or ``None`` (stale state files are removed)."""
        try:
            state = ServerState.model_validate_json(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise EmbeddedServerError(f"{self.state_path}: unreadable state file ({exc})") from None
        if not _pid_alive(state.pid):
            self.state_path.unlink(missing_ok=True)
            return None
        return state

    def start(self, timeout: float = 120.0) -> ServerState:
        """Start the server and return once Bolt answers. Reuses one already running."""
        running = self.state()
        if running is not None:
            if _bolt_answers(running):
                return running
            raise EmbeddedServerError(f"a server (pid {running.pid}) owns {self.data_dir} "
                                      "but does not answer; stop it first")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        password = self._password()
        bolt_port = self.bolt_port or free_port(self.host)
        http_port = free_port(self.host)
        log_path = self.data_dir / "server.log"
        # The child imports this package from wherever it was imported here (checkout or wheel).
        package_root = str(Path(__file__).resolve().parent.parent)
        pythonpath = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, PASSWORD_ENV: password, "PYTHONPATH": pythonpath}
        cmd = [sys.executable, "-m", "kgn_align.embedded", "--data-dir", str(self.data_dir),
               "--host", self.host, "--bolt-port", str(bolt_port), "--http-port", str(http_port),
               "--heap", self.heap]
        with open(log_path, "ab") as log_file:
            self._process = subprocess.Popen(
                cmd, cwd=self.data_dir, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, start_new_session=True)
        state = ServerState(pid=self._process.pid, host=self.host, bolt_port=bolt_port,
                            http_port=http_port, password=SecretStr(password),
                            data_dir=str(self.data_dir))
        deadline = time.monotonic() + timeout
        while True:
            try:
                if _bolt_answers(state):
                    break
            except EmbeddedServerError:
                self._terminate(self._process.pid)
                raise
            if self._process.poll() is not None:
                raise EmbeddedServerError(
                    f"embedded server exited with code {self._process.returncode} during start; "
                    f"see {log_path}")
            if time.monotonic() > deadline:
                self._terminate(self._process.pid)
                raise EmbeddedServerError(f"embedded server did not answer on {state.uri} within "
                                          f"{timeout:.0f}s; see {log_path}")
            time.sleep(0.25)
        self._write_state(state)
        log.info("embedded server up on %s (pid %d)", state.uri, state.pid)
        return state

    def _password(self) -> str:
        """The data directory's root password, generated on first start."""
        path = self.data_dir / PASSWORD_FILE
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(18)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password)
        return password

    def _write_state(self, state: ServerState) -> None:
        payload = state.model_dump(mode="json")
        payload["password"] = state.password.get_secret_value()
        tmp = self.state_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh)
        os.replace(tmp, self.state_path)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the server by PID (SIGTERM, then SIGKILL). False if none was running."""
        state = self.state()
        pid = state.pid if state is not None else (self._process.pid if self._process else None)
        if pid is None:
            return False
        self._terminate(pid, timeout)
        self.state_path.unlink(missing_ok=True)
        return True

    def _terminate(self, pid: int, timeout: float = 30.0) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                if self._process.poll() is not None:
                    return
            elif not _pid_alive(pid):
                return
            time.sleep(0.1)
        log.warning("embedded server pid %d ignored SIGTERM; killing it", pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if self._process is not None and self._process.pid == pid:
            self._process.wait(timeout=10)


def _serve(argv: list[str] | None = None) -> int:
    """Child process body: run ArcadeDB until SIGTERM/SIGINT."""
    import argparse
    import threading

    parser = argparse.ArgumentParser(prog="kgn_align.embedded")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--bolt-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--heap", default="1g")
    args = parser.parse_args(argv)
    password = os.environ.pop(PASSWORD_ENV, "")
    if len(password) < 8:
        print(f"{PASSWORD_ENV} must hold a password of 8 or more characters", file=sys.stderr)
        return 2

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    from arcadedb_embedded.server import ArcadeDBServer

    os.chdir(args.data_dir)  # ArcadeDB writes ./log into its working directory
    server = ArcadeDBServer(
        root_path=str(Path(args.data_dir) / "databases"),
        root_password=password,
        config={
            "host": args.host,
            "http_port": args.http_port,
            "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "bolt_port": args.bolt_port,
            "server_defaultDatabases": f"{DATABASE}[{USER}]",
        },
        jvm_kwargs={"heap_size": args.heap},
    )
    server.start()
    print(f"kgn-align embedded server listening on bolt://{args.host}:{args.bolt_port}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        print("kgn-align embedded server stopped", flush=True)
        # The databases are closed; JVM threads left behind by the Bolt plugin would keep
        # the process alive, so leave now rather than wait for them.
        os._exit(0)


if __name__ == "__main__":
    sys.exit(_serve())
