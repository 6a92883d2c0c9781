"""The sampling benchmark runs end to end on a slice (``--pairs``), on a fresh embedded
ArcadeDB server of its own, and its ``--check`` holds: the trees sampled through Cypher
equal the in-memory reference sampler's. No timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import sample_bench

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_smoke_run_samples_both_sides_as_the_reference_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        monkeypatch.delenv(name, raising=False)  # its own server, never the developer's
    out = tmp_path / "sample.json"
    assert sample_bench.main(["--pairs", "200", "--seeds-slice", "50", "--check", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["server"]["product"] == "arcadedb" and report["pairs"] == 200
    assert report["load"]["relationships"] > 0  # the slice was loaded into the fresh server
    for side in ("source", "target"):
        entry = report["sides"][side]
        assert entry["seeds"] > 0 and entry["slots"] >= entry["seeds"]
        assert entry["equals_in_memory_reference"] is True, side
        assert entry["per_seed_path"]["seeds"] == 50
    assert report["total"]["seeds"] == report["sides"]["source"]["seeds"] + report["sides"]["target"]["seeds"]
