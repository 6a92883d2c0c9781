"""Graph servers that kgn-align starts by itself, on loopback, in child processes.

- :mod:`kgn_align.servers.neo4j`: Neo4j 5.26 LTS Community from its published jars (Maven
  Central, fetched by ``mvn``), with APOC Core and kgn-align's own plugin: what production
  runs, and the primary server of the tests, the demo and the benchmarks.
- :mod:`kgn_align.servers.arcadedb`: the embedded ArcadeDB Bolt server from the
  ``arcadedb-embedded`` wheel: zero setup on a machine that has Python only.

Both are :class:`ManagedServer`: one data directory each, a generated password kept there
(mode 0600), a state file (``server.json``, 0600, without the password) that other
``kgn-align`` commands read to find the server, ready only once Bolt answers a query,
stopped by PID (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import string
import subprocess
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from kgn_align.config import ConnectionConfig
from kgn_align.errors import LocalServerError

log = logging.getLogger(__name__)

Kind = Literal["neo4j", "arcadedb"]
KINDS: tuple[Kind, ...] = ("neo4j", "arcadedb")
STATE_FILE = "server.json"
PASSWORD_FILE = "server.password"
PORTS_FILE = "ports.json"


class ServerState(BaseModel):
    """What a running server's state file holds."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    pid: int
    host: str
    bolt_port: int
    http_port: int
    user: str
    password: SecretStr
    database: str = "neo4j"
    data_dir: str
    version: str = ""
    #: Bolt over TLS with a certificate made for this server (self-signed: its own CA file)
    tls_certificate: str | None = None
    #: written so at launch, before Bolt answers: the process is named (and found, and
    #: stopped by ``server stop``) even if the command starting it is killed while it waits
    starting: bool = False

    @property
    def uri(self) -> str:
        # bolt+ssc: encrypted, the self-signed certificate accepted without a CA check; give
        # the certificate as NEO4J_CA_FILE with bolt:// to have it checked as a CA instead
        scheme = "bolt+ssc" if self.tls_certificate else "bolt"
        return f"{scheme}://{self.host}:{self.bolt_port}"

    @property
    def password_file(self) -> Path:
        """Where the password is kept (0600): what users are told, never the password."""
        return Path(self.data_dir) / PASSWORD_FILE

    @property
    def browser_url(self) -> str | None:
        """Neo4j Browser, served by Neo4j's HTTP connector (ArcadeDB has none)."""
        return f"http://{self.host}:{self.http_port}/browser/" if self.kind == "neo4j" else None

    def connection(self) -> ConnectionConfig:
        return ConnectionConfig(uri=self.uri, user=self.user, password=self.password,
                                database=self.database)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_if_free(host: str, port: int | None) -> int | None:
    """``port`` when nothing listens on it now, else None."""
    if not port:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            sock.bind((host, port))
        except OSError:
            return None
    return port


def pid_alive(pid: int) -> bool:
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


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def bolt_answers(state: ServerState) -> bool:
    """True once the server's database answers a query over Bolt; False while it starts.

    Raises :class:`LocalServerError` when the server refuses the password kept for it.
    """
    import neo4j

    try:
        with neo4j.GraphDatabase.driver(state.uri, auth=(state.user, state.password.get_secret_value()),
                                        connection_timeout=2.0) as driver:
            # Bolt can answer before the database is open: ask the database itself.
            # One plain auto-commit query: no driver-side retries, so each probe is quick.
            with driver.session(database=state.database) as session:
                session.run("RETURN 1 AS ready").consume()
            return True
    except neo4j.exceptions.AuthError:
        raise LocalServerError(
            f"the {state.kind} server in {state.data_dir} refused kgn-align's password "
            f"(was {PASSWORD_FILE} removed or changed?)") from None
    except Exception:  # not up yet: any connection error means "try again"
        return False


class ManagedServer(ABC):
    """Start, find and stop one server of one data directory (a child process by PID)."""

    kind: Kind
    user: str

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

    @property
    def console_path(self) -> Path:
        """Where the server process's standard output and error go."""
        return self.data_dir / "server.log"

    @property
    def log_path(self) -> Path:
        """The log to read when the server misbehaves."""
        return self.console_path

    def state(self) -> ServerState | None:
        """The running server's state, or ``None`` (stale state files are removed)."""
        try:
            payload = json.loads(self.state_path.read_text())
            # a stale file (its server gone) is removed before its password is looked for
            if isinstance(payload, dict) and isinstance(payload.get("pid"), int) \
                    and not pid_alive(payload["pid"]):
                self.state_path.unlink(missing_ok=True)
                return None
            if isinstance(payload, dict) and "password" not in payload:  # kept in one place
                payload["password"] = (self.data_dir / PASSWORD_FILE).read_text().strip()
            return ServerState.model_validate(payload)
        except FileNotFoundError as exc:
            if exc.filename == str(self.state_path):
                return None
            raise LocalServerError(f"{exc.filename}: missing (the password of the server that "
                                   f"{self.state_path} describes)") from None
        except ValueError as exc:
            raise LocalServerError(f"{self.state_path}: unreadable state file ({exc})") from None

    def check_requirements(self) -> None:
        """Raise :class:`LocalServerError` naming what is missing to start this server."""

    def prepare(self, password: SecretStr, bolt_port: int, http_port: int) -> None:
        """Write configuration before the first launch (may fetch and build)."""

    @abstractmethod
    def launch(self, password: SecretStr, bolt_port: int, http_port: int) -> subprocess.Popen[bytes]:
        """Start the server process (its own session) and return it; don't wait."""

    def version(self) -> str:
        return ""

    def tls_certificate(self) -> str | None:
        """The certificate Bolt presents, when the server speaks TLS."""
        return None

    def start(self, timeout: float = 180.0) -> ServerState:
        """Start the server and return once Bolt answers. Reuses one already running.

        Raises :class:`LocalServerError` (with the log file to read) when it cannot start.
        """
        running = self.state()
        if running is not None:
            if running.starting:  # another start waits for it, or was killed while it waited
                log.info("the %s server (pid %d) is starting: waiting for it", running.kind, running.pid)
                self._await_bolt(running, timeout)
                running = running.model_copy(update={"starting": False})
                self._write_state(running)
                return running
            if bolt_answers(running):
                return running
            raise LocalServerError(f"the {running.kind} server (pid {running.pid}) owns "
                                   f"{self.data_dir} but does not answer; stop it first")
        self.check_requirements()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        password = self.password()
        # A restart keeps its ports when they are still free, so clients (a worker, a Browser
        # tab) find the server where it was; kgn-align commands read them from the state file.
        previous = self._previous_ports()
        if self.bolt_port and not _port_if_free(self.host, self.bolt_port):
            # said now: the server would fail on it (its log says why), or a client's first
            # query would reach whatever listens there (another server, refusing our password)
            raise LocalServerError(f"port {self.bolt_port} on {self.host} is already in use by another "
                                   "process: give another --port, or none for a free one")
        bolt_port = self.bolt_port or _port_if_free(self.host, previous.get("bolt")) or free_port(self.host)
        http_port = _port_if_free(self.host, previous.get("http")) or free_port(self.host)
        if http_port == bolt_port:
            http_port = free_port(self.host)
        self.prepare(password, bolt_port, http_port)
        self._process = self.launch(password, bolt_port, http_port)
        state = ServerState(kind=self.kind, pid=self._process.pid, host=self.host,
                            bolt_port=bolt_port, http_port=http_port, user=self.user,
                            password=password, data_dir=str(self.data_dir),
                            version=self.version(), tls_certificate=self.tls_certificate(),
                            starting=True)
        # named at once: a start killed while it waits (kill -9, a closed container) leaves a
        # server that 'server status' shows and 'server stop' stops by its PID
        self._write_state(state)
        try:
            self._await_bolt(state, timeout)
        except BaseException:
            # a server that did not finish starting keeps the data directory locked: stopped
            # by its PID, whatever ended the wait (Ctrl-C too), and its state file removed
            try:
                if self._process.poll() is None:
                    log.warning("stopping the %s server that did not finish starting (pid %d)",
                                self.kind, self._process.pid)
                    try:
                        self._terminate(self._process.pid, timeout=30.0)
                    except KeyboardInterrupt:  # asked again: at once
                        self._process.kill()
                        raise
            finally:
                self.state_path.unlink(missing_ok=True)
            raise
        state = state.model_copy(update={"starting": False})
        self._write_state(state)
        write_private(self.data_dir / PORTS_FILE, json.dumps({"bolt": bolt_port, "http": http_port}))
        log.info("%s server up on %s (pid %d)", self.kind, state.uri, state.pid)
        return state

    def _write_state(self, state: ServerState) -> None:
        # the password stays in PASSWORD_FILE alone: state() reads it from there
        write_private(self.state_path, json.dumps(state.model_dump(mode="json", exclude={"password"})))

    def _await_bolt(self, state: ServerState, timeout: float) -> None:
        """Return once Bolt answers ``state``'s query; LocalServerError when the process
        exits first or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        # this process's child, or a server another start launched (that command since killed)
        child = self._process if self._process is not None and self._process.pid == state.pid else None
        while not bolt_answers(state):
            if child is not None and child.poll() is not None:
                raise LocalServerError(f"{self.kind} server exited with code {child.returncode} during "
                                       f"start; see {self.log_path}")
            if child is None and not pid_alive(state.pid):  # its stale state file: state() removes it
                raise LocalServerError(f"{self.kind} server (pid {state.pid}) exited during its start; "
                                       f"see {self.log_path}")
            if time.monotonic() > deadline:
                raise LocalServerError(f"{self.kind} server did not answer on {state.uri} within "
                                       f"{timeout:.0f}s; see {self.log_path}")
            time.sleep(0.25)

    def _previous_ports(self) -> dict[str, int]:
        try:
            return {k: int(v) for k, v in json.loads((self.data_dir / PORTS_FILE).read_text()).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def password(self) -> SecretStr:
        """The data directory's password, generated on first start (24 letters and digits,
        kept 0600). A ``SecretStr``, so that no repr, log or traceback shows it."""
        path = self.data_dir / PASSWORD_FILE
        if path.exists():
            return SecretStr(path.read_text().strip())
        alphabet = string.ascii_letters + string.digits  # nothing a command line could misread
        password = "".join(secrets.choice(alphabet) for _ in range(24))
        write_private(path, password)
        return SecretStr(password)

    def spawn(self, cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        """Run ``cmd`` in its own session, output appended to :attr:`console_path`."""
        with open(self.console_path, "ab") as log_file:
            return subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log_file, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the server by PID (SIGTERM, then SIGKILL). False if none was running."""
        state = self.state()
        pid = state.pid if state is not None else (self._process.pid if self._process else None)
        if pid is None:
            return False
        self._terminate(pid, timeout)
        self.state_path.unlink(missing_ok=True)
        return True

    def _terminate(self, pid: int, timeout: float = 60.0) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                if self._process.poll() is not None:
                    return
            elif not pid_alive(pid):
                return
            time.sleep(0.1)
        log.warning("%s server pid %d ignored SIGTERM; killing it", self.kind, pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if self._process is not None and self._process.pid == pid:
            self._process.wait(timeout=10)


def server_for(kind: Kind, home: Path, **options: object) -> ManagedServer:
    """The managed server of ``kind`` whose data lives under ``home/servers/<kind>``."""
    if kind == "neo4j":
        from kgn_align.servers.neo4j import Neo4jServer

        return Neo4jServer(home / "servers" / kind, **options)  # type: ignore[arg-type]
    if kind == "arcadedb":
        from kgn_align.servers.arcadedb import ArcadeDBServer

        return ArcadeDBServer(home / "servers" / kind, **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown server kind {kind!r} (known: {', '.join(KINDS)})")


def running(home: Path) -> ServerState | None:
    """The server kgn-align started under ``home`` that runs now (Neo4j first), or None."""
    for kind in KINDS:
        state = server_for(kind, home).state()
        if state is not None:
            return state
    return None


def default_kind() -> Kind:
    """Neo4j where Java 17+ and Maven are at hand (or Neo4j is already fetched), else the
    embedded ArcadeDB server, which needs nothing beyond the Python package."""
    from kgn_align.servers.neo4j import missing_requirements

    return "arcadedb" if missing_requirements() else "neo4j"
