"""The pipeline benchmark runs end to end (``--quick``: a 200-pair slice, on ArcadeDB).

No timing is asserted: the figures depend on the machine; only their presence and shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import pipeline

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_quick_run_reports_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.json"
    assert pipeline.main(["--quick", "--kinds", "arcadedb", "--scales", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    (run,) = report["runs"]
    assert run["server"] == "arcadedb" and run["entities"] > 0
    assert set(run["stages"]) == set(pipeline.STAGES)
    for stage, unit in pipeline.HEADLINE.items():
        figures = run["stages"][stage]
        assert figures["wall_s"] >= 0 and figures["load_average_1m"] >= 0
        assert figures[unit] is not None, (stage, unit)
    assert run["stages"]["writeback"]["edges"] > 0
    assert run["stages"]["writeback_rerun"]["created"] == 0  # idempotent
    assert run["memory"]["level0_vectors"]["bytes_per_entity"] > 0
    assert set(report["side_by_side"]["load"]) == {"arcadedb"}
    assert report["scaling"]["arcadedb"]["entities"] == [run["entities"]]
