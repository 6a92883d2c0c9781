"""The candidates benchmark runs on a small real slice (no server), so that it cannot rot
unseen again: a renamed or re-shaped product function breaks this test, not the next
person's benchmark run. No figure is asserted beyond what must hold on any data."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import candidates_bench


def test_smoke_run_reports_recall_of_every_variant_and_the_cold_start(tmp_path: Path) -> None:
    out = tmp_path / "candidates.json"
    assert candidates_bench.main(["--datasets", "dbp15k_fr_en", "--pairs", "300", "--out", str(out)]) == 0
    report = json.loads(out.read_text())["datasets"]["dbp15k_fr_en"]
    assert 0 < report["test_pairs"] < 300 and report["target_entities"] >= report["test_pairs"]
    cold = report["cold_start (sampled)"]
    rows = [report[v] for v in ("names", "names+neighbours (all)", "names+neighbours (sampled)")]
    rows += [cold["linked"]] + [cold[w][v] for w in ("targets", "sources", "both")
                                for v in ("zero", "student", "student_on_targets_only")]
    for r in rows:  # recall@k never falls as k grows
        assert 0.0 <= r["recall@1"] <= r["recall@10"] <= r["recall@50"] <= 1.0, r
    assert cold["pairs"] == report["test_pairs"]  # fewer test pairs than COLD_PAIRS: all of them
    assert report["names"]["recall@50"] > 0.5  # real names on a real slice find their gold
