"""Neo4j 5.26 LTS Community, started from its published jars: no Docker, no tarball.

``mvn`` fetches the server (``org.neo4j.app:neo4j-server``, ``org.neo4j:neo4j``), Neo4j
Browser and APOC Core from Maven Central as ``plugin/server/pom.xml`` pins them, into a
cache outside the work tree (``~/.m2`` and :func:`cache_root`); kgn-align's own plugin
(``plugin/pom.xml``) is built once per source hash into the same cache. Each data directory
gets its own ``conf/neo4j.conf`` and ``conf/apoc.conf``, ``plugins/`` (APOC + kgn-align),
``data/``, ``logs/`` and a generated password, and the server runs as the tarball's
launcher runs it: ``org.neo4j.server.CommunityEntryPoint --home-dir --config-dir`` with
classpath ``plugins/*:conf/*:lib/*`` and the launcher's JVM flags.

Layout of a data directory::

    conf/neo4j.conf, conf/apoc.conf   written at every start (ports may change)
    plugins/                          APOC Core + kgn-align-plugin, copied at every start
    data/ logs/ run/                  the server's own
    server.password (0600)            the neo4j user's password, set before the first start
    server.json (0600)                state read by other kgn-align commands
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import time
from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr

from kgn_align.cypher import resource_dir
from kgn_align.errors import LocalServerError
from kgn_align.servers import ManagedServer

log = logging.getLogger(__name__)

USER = "neo4j"
MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
ADMIN_CLASS = "org.neo4j.cli.AdminTool"
PLUGIN_ARTIFACT = "kgn-align-plugin"
#: The JVM flags of Neo4j's own launcher (``server.jvm.additional`` in the tarball's
#: neo4j.conf), less ``-XX:+AlwaysPreTouch``, which would touch the whole heap at start.
JVM_FLAGS = (
    "-XX:+UseG1GC", "-XX:-OmitStackTraceInFastThrow", "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields", "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024", "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048", "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-XX:FlightRecorderOptions=stackdepth=256", "-XX:+UnlockDiagnosticVMOptions",
    "-XX:+DebugNonSafepoints", "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED", "-Dlog4j2.disable.jmx=true", "-Dfile.encoding=UTF-8",
)


def cache_root() -> Path:
    """``$KGN_ALIGN_CACHE``, else ``$XDG_CACHE_HOME/kgn-align``, else ``~/.cache/kgn-align``."""
    if os.environ.get("KGN_ALIGN_CACHE"):
        return Path(os.environ["KGN_ALIGN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kgn-align"


def distribution_pom() -> Path:
    return resource_dir("plugin") / "server" / "pom.xml"


@lru_cache(maxsize=None)
def neo4j_version() -> str:
    """The pinned Neo4j version (``<neo4j.version>`` in ``plugin/server/pom.xml``)."""
    match = re.search(r"<neo4j\.version>([^<]+)</neo4j\.version>", distribution_pom().read_text())
    if match is None:
        raise LocalServerError(f"{distribution_pom()}: no <neo4j.version> property")
    return match.group(1).strip()


def distribution_dir() -> Path:
    return cache_root() / f"neo4j-{neo4j_version()}"


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    return int(match.group(1)) if match else None


def java_command() -> str | None:
    """``$JAVA_HOME/bin/java`` when set, else ``java`` on the PATH."""
    if os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        if candidate.exists():
            return str(candidate)
    return shutil.which("java")


def missing_requirements() -> list[str]:
    """What this machine lacks to run Neo4j here, one phrase each; empty when nothing."""
    missing = []
    java = java_command()
    if java is None:
        missing.append("Java 17 (no 'java' on the PATH and no JAVA_HOME)")
    else:
        major = _java_major(java)
        if major is None or major < 17:
            missing.append(f"Java 17 or newer ({java} reports {major or 'no version'})")
    fetched = (distribution_dir() / ".complete").exists() and _cached_plugin().exists()
    if not fetched and shutil.which("mvn") is None:
        missing.append("Maven ('mvn' on the PATH) to fetch Neo4j from Maven Central")
    return missing


def _run_maven(args: list[str], what: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalServerError(f"cannot {what}: Maven ('mvn') is not on the PATH")
    cmd = [mvn, "-q", "-B", *args]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        raise LocalServerError(f"cannot {what}: mvn exited with {done.returncode}: {tail}")
    log.info("%s in %.1f s", what, time.perf_counter() - started)


def fetch_distribution() -> Path:
    """The Neo4j home (``lib/``, ``plugins/``) in the cache, fetched by ``mvn`` if absent."""
    home = distribution_dir()
    if (home / ".complete").exists():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = home.with_name(f"{home.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    log.info("fetching Neo4j %s, Neo4j Browser and APOC Core with mvn into %s ...",
             neo4j_version(), home)
    _run_maven(["-f", str(distribution_pom()), "dependency:copy-dependencies@lib",
                "dependency:copy-dependencies@plugins", f"-Dkgn.home={staging}"],
               f"fetch Neo4j {neo4j_version()}")
    (staging / ".complete").write_text(neo4j_version())
    shutil.rmtree(home, ignore_errors=True)
    os.replace(staging, home)
    return home


def _plugin_sources() -> list[Path]:
    root = resource_dir("plugin")
    files = [root / "pom.xml"] if (root / "pom.xml").exists() else []
    if (root / "src" / "main").is_dir():
        files += sorted(p for p in (root / "src" / "main").rglob("*") if p.is_file())
    return files


def _cached_plugin() -> Path:
    """Where the plugin jar built from the current sources is kept (hash of pom + src/main)."""
    digest = hashlib.sha256()
    root = resource_dir("plugin")
    for path in _plugin_sources():
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return cache_root() / "plugin" / f"{PLUGIN_ARTIFACT}-{digest.hexdigest()[:16]}.jar"


def build_plugin() -> Path | None:
    """kgn-align's Neo4j plugin jar, built by ``mvn package`` once per source version.

    Built in a copy under the cache, so a read-only install and the checkout stay clean.
    ``None`` when the sources are not there (a wheel built without them).
    """
    if not _plugin_sources():
        log.warning("no plugin sources in %s: Neo4j starts without kgn-align's procedures",
                    resource_dir("plugin"))
        return None
    jar = _cached_plugin()
    if jar.exists():
        return jar
    build = jar.with_suffix(f".build-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    root = resource_dir("plugin")
    build.mkdir(parents=True)
    shutil.copy2(root / "pom.xml", build / "pom.xml")
    shutil.copytree(root / "src" / "main", build / "src" / "main")
    try:
        _run_maven(["-f", str(build / "pom.xml"), "package", "-DskipTests"],
                   "build the kgn-align Neo4j plugin")
        built = sorted((build / "target").glob(f"{PLUGIN_ARTIFACT}-*.jar"))
        if not built:
            raise LocalServerError(f"mvn package left no {PLUGIN_ARTIFACT} jar in {build / 'target'}")
        os.replace(built[0], jar)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return jar


class Neo4jServer(ManagedServer):
    """Neo4j 5.26 Community with APOC Core and kgn-align's plugin, for one data directory.

    ``tls=True``: Bolt only over TLS, with a self-signed certificate (RSA 2048, 30 days,
    for the loopback address) made by ``openssl`` in ``certificates/bolt/``; clients
    connect with ``bolt+ssc://``, or with ``bolt://`` and the certificate as CA file.
    """

    kind = "neo4j"
    user = USER
    #: Page cache: the default would take half the machine's memory.
    page_cache = "512m"

    def __init__(self, data_dir: str | os.PathLike[str], *, tls: bool = False, **options: object) -> None:
        super().__init__(data_dir, **options)  # type: ignore[arg-type]
        self.tls = tls

    @property
    def certificate_dir(self) -> Path:
        return self.data_dir / "certificates" / "bolt"

    def tls_certificate(self) -> str | None:
        return str(self.certificate_dir / "public.crt") if self.tls else None

    def _make_certificate(self) -> None:
        """A self-signed certificate for ``self.host``, unless one is there already."""
        cert_dir = self.certificate_dir
        if (cert_dir / "public.crt").exists() and (cert_dir / "private.key").exists():
            return
        openssl = shutil.which("openssl")
        if openssl is None:
            raise LocalServerError("cannot make a TLS certificate: 'openssl' is not on the PATH")
        cert_dir.mkdir(parents=True, exist_ok=True)
        san = f"IP:{self.host}" if re.fullmatch(r"[\d.]+", self.host) else f"DNS:{self.host}"
        done = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
             "-keyout", str(cert_dir / "private.key"), "-out", str(cert_dir / "public.crt"),
             "-subj", f"/CN={self.host}", "-addext", f"subjectAltName={san}"],
            capture_output=True, text=True)
        if done.returncode != 0:
            raise LocalServerError(f"openssl could not make a certificate: {done.stderr.strip()[-300:]}")
        os.chmod(cert_dir / "private.key", 0o600)

    @property
    def conf_dir(self) -> Path:
        return self.data_dir / "conf"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "neo4j.log"

    def version(self) -> str:
        return neo4j_version()

    def check_requirements(self) -> None:
        missing = missing_requirements()
        if missing:
            raise LocalServerError(
                "cannot start Neo4j here: missing " + "; ".join(missing)
                + ". Install them, point NEO4J_URI at a running Neo4j 5, or use the embedded "
                "server ('kgn-align server start arcadedb')")

    def prepare(self, password: SecretStr, bolt_port: int, http_port: int) -> None:
        home = fetch_distribution()
        plugin = build_plugin()
        for sub in ("conf", "data", "logs", "run"):
            (self.data_dir / sub).mkdir(exist_ok=True)
        plugins = self.data_dir / "plugins"
        shutil.rmtree(plugins, ignore_errors=True)
        plugins.mkdir()
        for jar in [*sorted((home / "plugins").glob("*.jar")), *([plugin] if plugin else [])]:
            shutil.copy2(jar, plugins / jar.name)
        if self.tls:
            self._make_certificate()
        self._write_conf(home, bolt_port, http_port)
        if not (self.data_dir / "data" / "dbms" / "auth.ini").exists():
            self._set_initial_password(home, password)

    def _write_conf(self, home: Path, bolt_port: int, http_port: int) -> None:
        d = self.data_dir
        settings = {
            "server.directories.data": d / "data",
            "server.directories.logs": d / "logs",
            "server.directories.run": d / "run",
            "server.directories.plugins": d / "plugins",
            "server.directories.lib": home / "lib",
            "server.default_listen_address": self.host,
            "server.default_advertised_address": self.host,
            "server.bolt.enabled": "true",
            "server.bolt.listen_address": f"{self.host}:{bolt_port}",
            "server.bolt.advertised_address": f"{self.host}:{bolt_port}",
            "server.bolt.tls_level": "REQUIRED" if self.tls else "DISABLED",
            # HTTP serves Neo4j Browser, on loopback like Bolt; HTTPS is off.
            "server.http.enabled": "true",
            "server.http.listen_address": f"{self.host}:{http_port}",
            "server.http.advertised_address": f"{self.host}:{http_port}",
            "server.https.enabled": "false",
            "dbms.security.auth_enabled": "true",
            "server.memory.pagecache.size": self.page_cache,
            "dbms.usage_report.enabled": "false",
            "dbms.security.procedures.unrestricted": "apoc.*,kgn.*",
            "db.tx_log.rotation.retention_policy": "2 files",
        }
        if self.tls:
            settings.update({
                "dbms.ssl.policy.bolt.enabled": "true",
                "dbms.ssl.policy.bolt.base_directory": self.certificate_dir,
                "dbms.ssl.policy.bolt.private_key": "private.key",
                "dbms.ssl.policy.bolt.public_certificate": "public.crt",
                "dbms.ssl.policy.bolt.client_auth": "NONE",
            })
        text = "# Written by kgn-align at every start; edits are lost.\n" + "".join(
            f"{key}={value}\n" for key, value in settings.items())
        (self.conf_dir / "neo4j.conf").write_text(text)
        # APOC 5 reads apoc.conf, not neo4j.conf. Triggers refresh every second, so one
        # installed by a test or by plugin/apoc_triggers.cypher is live almost at once.
        (self.conf_dir / "apoc.conf").write_text(
            "apoc.trigger.enabled=true\napoc.trigger.refresh=1000\n")

    def _env(self, home: Path) -> dict[str, str]:
        return {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(self.conf_dir)}

    def _classpath(self, home: Path) -> str:
        return os.pathsep.join([str(self.data_dir / "plugins" / "*"), str(self.conf_dir / "*"),
                                str(home / "lib" / "*")])

    def _set_initial_password(self, home: Path, password: SecretStr) -> None:
        """``neo4j-admin dbms set-initial-password``, before the first start (so the server
        never listens with the default password)."""
        cmd = [str(java_command()), "-cp", self._classpath(home), ADMIN_CLASS,
               "dbms", "set-initial-password", "--", password.get_secret_value()]
        done = subprocess.run(cmd, env=self._env(home), capture_output=True, text=True,
                              cwd=self.data_dir)
        if done.returncode != 0:
            said = (done.stdout + done.stderr).replace(password.get_secret_value(), "***")
            tail = " | ".join(said.strip().splitlines()[-2:])
            raise LocalServerError(f"neo4j-admin could not set the initial password "
                                   f"(exit {done.returncode}): {tail}")

    def launch(self, password: SecretStr, bolt_port: int, http_port: int) -> subprocess.Popen[bytes]:
        home = distribution_dir()
        cmd = [str(java_command()), "-Xms256m", f"-Xmx{self.heap}", *JVM_FLAGS,
               "-cp", self._classpath(home), MAIN_CLASS,
               f"--home-dir={home}", f"--config-dir={self.conf_dir}"]
        return self.spawn(cmd, self._env(home), self.data_dir)
