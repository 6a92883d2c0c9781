"""Neo4j Browser, looked at for real: headless Chromium logs in, applies ``same_as.grass``,
runs a documented ``cypher/browser_*.cypher`` query and saves a screenshot.

The Neo4j the tests start themselves (``kgn_align.servers.neo4j``) serves Neo4j Browser
over HTTP; ``tests/browser/screenshot.mjs`` drives Debian's ``chromium`` with npm
``playwright-core`` (pinned in ``tests/browser/package.json``, installed into
``tests/browser/node_modules`` on first use; Playwright's own browser downloads are never
used). Without chromium, node or npm the test skips and says why; in CI (``CI=true``) that
is a failure. With ``NEO4J_URI`` set there is no Browser the tests started: skipped.

``KGN_ALIGN_UPDATE_SCREENSHOT=1`` copies the picture to ``docs/browser_same_as.png``, the
one the README shows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kgn_align import datasets, loaders
from kgn_align.cypher import resource_dir
from kgn_align.graph import Graph
from kgn_align.scorers import METHOD, NameSimilarityScorer
from kgn_align.writeback import ModelStamp, ScoredPair, select, write_pairs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO / "tests" / "browser"
PACKAGE = "playwright-core"
README_PICTURE = REPO / "docs" / "browser_same_as.png"
#: The documented query the picture shows, and its parameters (``:param name => value``).
QUERY = "browser_same_as_by_model"
LIMIT = 12
WIDTH, HEIGHT = 1280, 800


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " (in CI this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def _tools() -> tuple[str, str]:
    """chromium and node, or skip (fail in CI) saying what is missing."""
    chromium = shutil.which("chromium")
    node, npm = shutil.which("node"), shutil.which("npm")
    missing = [what for what, found in (("chromium (apt: chromium)", chromium),
                                        ("node (apt: nodejs)", node),
                                        ("npm (apt: npm)", npm)) if found is None]
    if missing:
        _unavailable("cannot drive Neo4j Browser: missing " + ", ".join(missing))
    assert chromium is not None and node is not None
    return chromium, node


def ensure_playwright() -> None:
    """Install the pinned playwright-core into tests/browser/node_modules unless it is there."""
    pinned = json.loads((BROWSER_DIR / "package.json").read_text())["dependencies"][PACKAGE]
    installed = BROWSER_DIR / "node_modules" / PACKAGE / "package.json"
    if installed.is_file() and json.loads(installed.read_text()).get("version") == pinned:
        return
    npm = shutil.which("npm")
    assert npm is not None
    verb = "ci" if (BROWSER_DIR / "package-lock.json").is_file() else "install"
    cmd = [npm, verb, "--no-audit", "--no-fund", "--engine-strict=false", "--loglevel=error"]
    # Playwright's install script would fetch browsers: never here, chromium is Debian's.
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    done = subprocess.run(cmd, cwd=BROWSER_DIR, capture_output=True, text=True, timeout=600,
                          env=env)
    if done.returncode != 0:
        pytest.fail(f"`npm {verb}` in {BROWSER_DIR} failed:\n{done.stderr[-3000:]}")


@pytest.fixture
def tools() -> tuple[str, str]:
    """chromium and node, with playwright-core installed: checked before Neo4j starts."""
    found = _tools()
    ensure_playwright()
    return found


@pytest.fixture
def browser_server(tools: tuple[str, str], servers: Any) -> Any:
    """The test session's own Neo4j (its Browser URL and password), started if need be."""
    if os.environ.get("NEO4J_URI"):
        pytest.skip("NEO4J_URI is set: Neo4j Browser is only driven on the Neo4j the tests "
                    "start themselves")
    servers.graph("neo4j")
    state = servers.states.get("neo4j")
    if state is None or not state.browser_url:
        pytest.skip("the test Neo4j serves no Neo4j Browser")
    return state


@pytest.fixture
def scored_edges(servers: Any, browser_server: Any,
                 one_torch_thread: None) -> Iterator[tuple[str, list[ScoredPair], set[str]]]:
    """A real slice with SAME_AS edges scored by the name-similarity scorer, under a model
    name of its own: (model, written pairs, entity names). Deleted after."""
    graph: Graph = servers.graph("neo4j")
    prefix = f"test-{uuid.uuid4().hex[:10]}/"
    try:
        ds = datasets.read_kg("srprs_en_fr").slice(30)
        loaders.load_kg(graph, ds, prefix=prefix)
        config = loaders.preset_config(ds, prefix=prefix)
        scorer = NameSimilarityScorer(graph, config, k=3)
        pairs = select(scorer([str(a) for a, _ in ds.test_pairs]), "one-to-one", 0.2)
        model = f"name-similarity@{prefix.rstrip('/')}"
        report = write_pairs(graph, config, pairs, ModelStamp(model=model, method=METHOD))
        assert report.created == len(pairs) >= LIMIT
        names = {datasets.local_name(uri) for side in ds.sides for uri in side.uris.values()}
        yield model, pairs, names
    finally:
        loaders.delete_graphs(graph, prefix)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _drawn_from(caption: str, name: str) -> bool:
    """Whether Browser could have drawn ``caption`` for ``name``: it wraps a name into the
    circle word by word, skips words that do not fit and cuts the last one short ("…"), so
    each caption word starts a word of the name, in order."""
    words = name.split()
    i = 0
    for token in caption.replace("…", " ").split():
        while i < len(words) and not words[i].startswith(token):
            i += 1
        if i == len(words):
            return False
        i += 1
    return True


def test_browser_shows_scored_same_as_edges(tools: tuple[str, str], browser_server: Any,
                                             scored_edges: Any, tmp_path: Path) -> None:
    chromium, node = tools
    model, pairs, names = scored_edges
    password = browser_server.password.get_secret_value()
    out = tmp_path / "browser_same_as.png"
    cmd = [node, str(BROWSER_DIR / "screenshot.mjs"),
           "--browser-url", browser_server.browser_url, "--bolt-uri", browser_server.uri,
           "--user", browser_server.user, "--chromium", chromium,
           "--grass", str(resource_dir("plugin") / "same_as.grass"),
           "--query", str(resource_dir("cypher") / f"{QUERY}.cypher"),
           "--param", f"model => '{model}'", "--param", f"limit => {LIMIT}",
           "--width", str(WIDTH), "--height", str(HEIGHT), "--out", str(out)]
    assert password not in " ".join(cmd)
    done = subprocess.run(cmd, cwd=BROWSER_DIR, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "NEO4J_PASSWORD": password})
    output = done.stdout + done.stderr
    assert password not in output, "screenshot.mjs printed the password"
    assert done.returncode == 0, f"screenshot.mjs failed:\n{output[-3000:]}"

    drawn = json.loads(done.stdout.strip().splitlines()[-1])
    assert drawn["nodes"] > 0 and drawn["relationships"] > 0, drawn
    # same_as.grass is in use: SAME_AS edges are captioned with their score, not their type,
    # and every score drawn is one the model wrote (the LIMIT weakest of them).
    scores = sorted(p.score for p in pairs)
    drawn_scores = sorted(float(c) for c in drawn["relationshipCaptions"]
                          if re.fullmatch(r"\d(\.\d+)?", c))
    assert drawn_scores == scores[:LIMIT], drawn["relationshipCaptions"]
    # Entities are captioned with their names (wrapped and shortened by Browser).
    captions = drawn["nodeCaptions"]
    assert len(captions) == drawn["nodes"]
    assert all(any(_drawn_from(c, n) for n in names) for c in captions), captions

    data = out.read_bytes()
    assert _png_size(data) == (WIDTH, HEIGHT)
    assert len(data) > 20_000, f"{len(data)} bytes: hardly a graph"
    if os.environ.get("KGN_ALIGN_UPDATE_SCREENSHOT") == "1":
        README_PICTURE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, README_PICTURE)
