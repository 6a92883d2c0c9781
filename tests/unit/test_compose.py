"""docker-compose.yml: Neo4j 5 with APOC plus the worker, and no secret in the file.

The structural checks parse the YAML with PyYAML and skip when it is not installed (it is
not a dependency); the text checks run everywhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
WORKER = "kgn-align-worker"


@pytest.fixture(scope="module")
def text() -> str:
    return COMPOSE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def services(text: str) -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    data = yaml.safe_load(text)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    result: dict[str, Any] = data["services"]
    return result


def env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {str(k): str(v) for k, v in raw.items()}


def test_no_hard_coded_password(text: str) -> None:
    # Every NEO4J_AUTH / NEO4J_PASSWORD value must come from ${NEO4J_PASSWORD:?...}.
    for m in re.finditer(r"^\s*-?\s*(NEO4J_AUTH|NEO4J_PASSWORD)\s*[:=]\s*(.*)$", text, re.M):
        assert "${NEO4J_PASSWORD:?" in m.group(2), f"hard-coded secret? {m.group(0).strip()}"
    assert "NEO4J_AUTH" in text and "${NEO4J_PASSWORD:?" in text
    assert not re.search(r"NEO4J_AUTH\s*[:=]\s*['\"]?none", text, re.I), "auth disabled"


def test_services(services: dict[str, Any]) -> None:
    assert {"neo4j", WORKER} <= set(services)
    neo4j = services["neo4j"]
    assert re.fullmatch(r"neo4j:5[.\d]*(-community|-enterprise)?", neo4j["image"])
    assert "apoc" in env(neo4j)["NEO4J_PLUGINS"]


def test_neo4j_bolt_and_health(services: dict[str, Any]) -> None:
    neo4j = services["neo4j"]
    assert any(str(p).endswith(":7687") for p in neo4j.get("ports", []))
    check = neo4j["healthcheck"]["test"]
    assert "cypher-shell" in (check if isinstance(check, str) else " ".join(check))
    assert any(str(v).endswith(":/data") for v in neo4j.get("volumes", []))
    assert any("./plugin:" in str(v) for v in neo4j.get("volumes", []))


def test_worker(services: dict[str, Any]) -> None:
    worker = services[WORKER]
    assert worker.get("build")
    assert env(worker)["NEO4J_URI"] == "bolt://neo4j:7687"
    assert worker["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert worker.get("command") in (None, ["worker"], "worker")


def test_own_plugin_is_built_and_mounted(services: dict[str, Any]) -> None:
    build = services["plugin-build"]
    assert "mvn" in " ".join(build["command"]) and any("./plugin:" in str(v) for v in build["volumes"])
    shared = {str(v).split(":")[0] for v in build["volumes"]} & {
        str(v).split(":")[0] for v in services["neo4j"]["volumes"]}
    assert shared, "the plugin jar must reach the neo4j service's plugins folder"
    assert any(str(v).endswith(":/plugins") for v in services["neo4j"]["volumes"])
    assert services["neo4j"]["depends_on"]["plugin-build"]["condition"] == "service_completed_successfully"
    assert "kgn.*" in env(services["neo4j"])["NEO4J_dbms_security_procedures_unrestricted"]


def test_worker_has_a_config_to_start_from_and_keeps_its_models(services: dict[str, Any]) -> None:
    """The worker's config path is mounted from a folder whose committed example is a valid
    configuration, and its home (models, run state) is a volume at the image user's home."""
    from kgn_align.config import load_config

    worker = services[WORKER]
    config_path = env(worker)["KGN_ALIGN_CONFIG"]
    mounts = [str(v).split(":") for v in worker["volumes"]]
    host = next(h for h, inside, *_ in mounts if config_path.startswith(inside.rstrip("/") + "/"))
    example = ROOT / host / "kgn-align.example.toml"
    assert example.is_file(), f"{example} is what the compose file tells users to copy"
    config = load_config(example, env={})
    assert config.source.label and config.target.label
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    user = re.search(r"^USER (\w+)", dockerfile, re.M).group(1)  # type: ignore[union-attr]
    home = f"/home/{user}/.kgn-align"
    assert any(inside == home for _, inside, *_ in mounts), "models would be lost with the container"
    assert f"mkdir -p {home}" in dockerfile  # a new named volume takes the folder's owner


#: dependencies PyPI publishes as source only (no Linux wheel): pip compiles them
SOURCE_ONLY = ("hnswlib",)


def test_the_image_can_compile_the_source_only_dependencies() -> None:
    """python:3.11-slim has no C++ compiler, and hnswlib has no wheel on PyPI: the
    ``pip install .`` of the image must run with one (it did not: a new user's reading of
    the Dockerfile, no Docker engine here to build it), and drop it in the same layer."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    needed = [d for d in deps if re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() in SOURCE_ONLY]
    assert needed, "no source-only dependency left: this test can go"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    runs = [" ".join(r.split()) for r in re.findall(r"^RUN ((?:.*\\\n)*.*)$", dockerfile, re.M)]
    install = next((r for r in runs if re.search(r"pip install \.(\s|$)", r)), None)
    assert install is not None, "the image does not install the project"
    assert "build-essential" in install.split("pip install .")[0], install
    assert "purge" in install.split("pip install .")[1], "the compiler stays in the image"


def test_a_new_plugin_build_replaces_the_old_jar(services: dict[str, Any]) -> None:
    """The plugins volume outlives builds: a jar of an earlier version left beside the new
    one registers every kgn.* procedure twice, and Neo4j refuses to start (a new user's
    reading of the compose file)."""
    command = " ".join(services["plugin-build"]["command"])
    remove = re.search(r"rm -f /plugins/kgn-align-plugin-\*\.jar", command)
    copy = re.search(r"cp \S+kgn-align-plugin-\*\.jar /plugins/", command)
    assert remove and copy and remove.start() < copy.start(), command


def test_apoc_triggers_are_off_unless_asked(services: dict[str, Any]) -> None:
    """Change capture is the plugin's, on by default; APOC's trigger next to it would queue
    every change twice, so the compose file enables APOC triggers only when the user does."""
    value = env(services["neo4j"]).get("APOC_TRIGGER_ENABLED", "false")
    assert value in ("false", "${APOC_TRIGGER_ENABLED:-false}"), value


def test_no_password_on_a_command_line(text: str) -> None:
    """cypher-shell reads NEO4J_PASSWORD from its environment; a `-p PASSWORD` argument is
    visible to every user of the container in `ps` (healthcheck and the documented schema
    command alike)."""
    assert not re.search(r"cypher-shell[^\n]*\s(-p|--password)\s", text), "password given as an argument"
    assert re.search(r'NEO4J_PASSWORD=\\?"\$\$\{NEO4J_AUTH#neo4j/\}\\?" cypher-shell', text)
