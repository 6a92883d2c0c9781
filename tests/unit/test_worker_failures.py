"""How the worker reports the jobs it marks failed in bulk (unknown kinds, no known status): the
first few by id and kind, then a count, so a flood of bad jobs cannot flood the log."""

from __future__ import annotations

import logging

from kgn_align.worker import _kind, _say_failed


def test_first_jobs_named_then_a_count(caplog) -> None:
    rows = [{"id": f"j{i}", "kind": "align"} for i in range(7)] + [{"id": None, "kind": None}]
    with caplog.at_level(logging.WARNING, logger="kgn_align.worker"):
        _say_failed(rows, lambda row: f" (kind {_kind(row)}): failed", "odd jobs", shown=5)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"job j{i} (kind 'align'): failed" for i in range(5)] + ["3 more odd jobs marked failed"]


def test_no_count_when_all_are_shown_and_missing_fields_named(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="kgn_align.worker"):
        _say_failed([{"id": None, "kind": None}], lambda row: f" (kind {_kind(row)})", "odd jobs")
    assert [r.getMessage() for r in caplog.records] == ["job (no id) (kind (none))"]
