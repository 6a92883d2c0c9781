"""The backfill command's usage errors (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kgn_align.backfill import BackfillFilter, BackfillOptions, batches_of
from kgn_align.backfill_cli import backfill


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "align.toml"
    path.write_text('[source]\nname = "a"\nlabel = "A"\n\n[target]\nname = "b"\nlabel = "B"\n')
    return path


def test_help_explains_resuming() -> None:
    result = CliRunner().invoke(backfill, ["--help"])
    assert result.exit_code == 0
    assert "--run-id" in result.output and "resume" in result.output
    assert "--dry-run" in result.output and "--changed-since" in result.output


@pytest.mark.parametrize("args, message", [
    (["--changed-since", "yesterday"], "not an ISO-8601 time"),
    (["--changed-since", "2024-05-01T00:00:00"], "time zone"),
    (["--threshold", "1.5"], "threshold"),
    (["--policy", "nearest"], "policy"),
    (["--run-id", "bad id!"], "Invalid value for '--run-id': 'bad id!': use 1-128 of A-Z a-z 0-9 _ . : -"),
    (["--run-id", "x" * 129], "Invalid value for '--run-id'"),
    (["--type", "Bad Label"], "Invalid value for '--type': 'Bad Label' is not a valid identifier"),
    (["--changed-property", "up dated"], "Invalid value for '--changed-property': 'up dated' is not"),
])
def test_bad_options_exit_2(config_file: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(backfill, ["--config", str(config_file), "--scorer", "names", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "pydantic" not in result.output and "BackfillOptions" not in result.output


def test_filter_and_option_models() -> None:
    assert BackfillFilter(keys=("b", "a", "b")).keys == ("a", "b")
    with pytest.raises(ValueError, match="empty key list"):
        BackfillFilter(keys=())
    assert len(BackfillOptions().run_id) == 12
    assert list(batches_of(["a", "b", "c"], 2)) == [["a", "b"], ["c"]]


def test_a_refused_resume_names_each_setting_that_differs() -> None:
    from kgn_align.backfill import settings_changed

    before = {"batch_size": 500, "threshold": 0.5, "scorer": {"k": 20, "backend": "faiss"},
              "filter": {"keys": [f"key-{i}" for i in range(100)]}, "model": "kgn-align/aaa"}
    now = {**before, "batch_size": 1000, "scorer": {"k": 20, "backend": "exact"},
           "filter": {"keys": None}, "model": "kgn-align/bbb"}
    assert settings_changed(before, now) == [
        "batch_size: was 500, now 1000",
        'filter.keys: was ["key-0", "key-1", "key-2", "key-3", ..., now null',
        'model: was "kgn-align/aaa", now "kgn-align/bbb"',
        'scorer.backend: was "faiss", now "exact"',
    ]
    assert settings_changed(now, now) == []
    from kgn_align.backfill import conflict_text

    assert conflict_text("r1", ['threshold: was 0.5, now 0.9']).endswith(
        "(threshold: was 0.5, now 0.9): give those again to resume it, or use a new run id")
    assert conflict_text("r1", ['threshold: was 0.5, now 0.9'], finished=True).endswith(
        "(threshold: was 0.5, now 0.9): that run is complete (with those it would do nothing): "
        "use a new run id to run with these")
    assert conflict_text("r1", ['source.label: was "Paper", now "Song"']).endswith(
        "a run of other graphs (another configuration's): run it with that configuration, or use a new run id")
    assert settings_changed({"a": 1}, {"a": 1, "b": 2}) == ["b: was null, now 2"]


def test_threshold_one_warns_that_it_retracts(config_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """--threshold 1 keeps only pairs scored exactly 1 and retracts the rest: said before
    any work (the command then stops here: no server answers)."""
    import logging

    with caplog.at_level(logging.WARNING, logger="kgn_align.backfill_cli"):
        CliRunner().invoke(backfill, ["--config", str(config_file), "--scorer", "names", "--threshold", "1"],
                           env={"NEO4J_URI": "bolt://127.0.0.1:1"})
    assert "every other model edge of the selected sources is retracted" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kgn_align.backfill_cli"):
        CliRunner().invoke(backfill, ["--config", str(config_file), "--scorer", "names", "--threshold", "0.9"],
                           env={"NEO4J_URI": "bolt://127.0.0.1:1"})
    assert "retracted" not in caplog.text


def test_summary_names_the_policy_that_shared_targets(capsys: pytest.CaptureFixture[str]) -> None:
    from kgn_align.backfill import BackfillSummary
    from kgn_align.backfill_cli import print_summary
    from kgn_align.writeback import WriteReport

    summary = BackfillSummary(run_id="r", status="done", resumed=False, entities=3, entities_before=0,
                              entities_now=3, batches_now=1, pairs_scored=9, pairs_selected=3,
                              shared_targets=1, writes=WriteReport(pairs=3, created=3), seconds=0.1)
    for policy in ("best", "all"):
        print_summary(summary, policy)
        assert (f"shared targets: 1 target(s) chosen by more than one source (policy {policy} allows it; "
                "--policy one-to-one does not)") in capsys.readouterr().out
    # a resumed run counts its own attempt's edges only, and says so
    print_summary(summary.model_copy(update={"resumed": True, "entities_before": 1, "pairs_before": 2}))
    out = capsys.readouterr().out
    assert ("shared targets: 1 target(s) chosen by more than one source in this attempt (earlier "
            "attempts' edges not counted)") in out
    # the earlier attempts' pairs are not among this one's (a trial read '1254 chosen (306
    # written by earlier attempts)' as 306 of the 1254): both, and the run's total
    assert "3 chosen now, 2 more by earlier attempts of this run (5 in all)" in out


def test_a_finished_run_says_it_does_nothing_again(capsys: pytest.CaptureFixture[str]) -> None:
    """Its record says what it wrote once; the graph may have lost those edges since (clean)."""
    from kgn_align.backfill import BackfillSummary
    from kgn_align.backfill_cli import print_summary
    from kgn_align.writeback import WriteReport

    summary = BackfillSummary(run_id="r", status="already-done", resumed=True, entities=3,
                              entities_before=3, entities_now=0, batches_now=0, pairs_scored=0,
                              pairs_selected=0, pairs_before=1537, writes=WriteReport(), seconds=0.1)
    print_summary(summary)
    assert ("pairs: 0 candidate pairs open after reviews, 0 chosen (earlier attempts of this run wrote 1537; a finished run does "
            "nothing again: give a new --run-id to align afresh)") in capsys.readouterr().out


def test_edges_line_names_only_the_counters_that_happened_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    """Reviewed pairs are settled before scoring: 'kept (reviewed by a person)' was 0 after a
    trial reviewed two edges, and '1 skipped' went unexplained. The counters that are 0
    stay out; those that are not say what they count."""
    from kgn_align.backfill import BackfillSummary
    from kgn_align.backfill_cli import print_summary
    from kgn_align.writeback import WriteReport

    def line(writes: WriteReport) -> str:
        print_summary(BackfillSummary(run_id="r", status="done", resumed=False, entities=3, entities_before=0,
                                      entities_now=3, batches_now=1, pairs_scored=9, pairs_selected=3,
                                      writes=writes, seconds=0.1))
        return next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  edges:"))

    assert line(WriteReport(pairs=3, created=3)) == \
        "  edges: 3 created, 0 updated, 0 unchanged, 0 retracted (no longer chosen)"
    assert line(WriteReport(pairs=3, created=1, reviewed=1, skipped=1)).endswith(
        "(no longer chosen), 1 left as reviewed (r.review set on the pair: reviewed during the run, or a review other "
        "than 'accepted' or 'rejected', which the checks name), 1 skipped "
        "(an end no longer on its side, a reviewed SAME_AS edge the other way between them, or a review "
        "made during the run that rules the pair out)")
    assert line(WriteReport(pairs=2, created=1, foreign=1)).endswith(
        "(no longer chosen), 1 left as they are (a SAME_AS edge on the pair that kgn-align did not write and "
        "no one reviewed, e.g. an import's own)")


def test_the_keys_digest_is_free_of_order_and_batches_and_sees_one_key_more() -> None:
    """A resume compares the keys at or before its cursor with the batches' running digest,
    whatever batch size either attempt took."""
    from kgn_align.backfill import keys_digest

    keys = [f"k{i:03d}" for i in range(50)]
    chained = 0
    for batch in batches_of(keys, 7):
        chained = keys_digest(batch, chained)
    assert chained == keys_digest(keys) == keys_digest(reversed(keys))
    assert keys_digest(keys + ["k000 (copy)"]) != chained
    assert keys_digest(keys[1:]) != chained and 0 <= chained < 2 ** 62


def test_a_run_that_started_over_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    from kgn_align.backfill import BackfillSummary
    from kgn_align.backfill_cli import print_summary
    from kgn_align.writeback import WriteReport

    print_summary(BackfillSummary(run_id="r", status="done", resumed=False, restarted=True, entities=3,
                                  entities_before=0, entities_now=3, batches_now=1, pairs_scored=3,
                                  pairs_selected=3, writes=WriteReport(pairs=3, unchanged=3), seconds=0.1))
    assert ("backfill r: done (started over: source entities it had written changed since it stopped)"
            in capsys.readouterr().out)
