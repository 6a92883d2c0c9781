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


def test_quick_end_to_end_runs_the_products_commands_and_writes_edges(tmp_path: Path) -> None:
    out = tmp_path / "end_to_end.json"
    assert pipeline.main(["--quick", "--end-to-end", "--kinds", "arcadedb", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert "runs" not in report
    (run,) = report["end_to_end"]
    assert run["server"] == "arcadedb" and run["entities"] > 0
    assert [m["command"].split()[1] for m in run["commands"].values()] == ["train", "backfill"]
    for figures in run["commands"].values():
        # the commands' own CPU and peak RSS, not this process's (torch alone is ~600 MB)
        assert figures["client_cpu_s"] > 0 and figures["client_peak_rss_mb"] > 300
    created = next(line for line in run["backfill_summary"] if line.startswith("edges:"))
    assert int(created.split()[1]) > 0, created
    total = run["total"]
    assert total["wall_s"] == round(sum(m["wall_s"] for m in run["commands"].values()), 1)
    assert total["met"] == (total["wall_s"] <= 180 and total["client_peak_rss_mb"] <= 1536)
