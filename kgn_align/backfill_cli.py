"""``backfill`` as a click command: mountable into the ``kgn-align`` group
(``cli.add_command(backfill_cli.backfill)``) and runnable on its own as
``python -m kgn_align.backfill_cli`` (what the kill-and-resume test runs).

Connection: ``NEO4J_URI`` / ``NEO4J_USER`` / ``NEO4J_PASSWORD`` / ``NEO4J_DATABASE``.
Exit codes: 0 done, 1 a kgn-align error (bad filter, run conflict, server), 2 bad usage.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path

import click
from pydantic import ValidationError

from kgn_align.backfill import (
    RUN_ID_MAX,
    BackfillFilter,
    BackfillOptions,
    BackfillSummary,
    Progress,
    check_resumable,
    run_backfill,
    validate_filter,
)
from kgn_align.config import CANDIDATES_PER_SOURCE, load_config
from kgn_align.errors import KgnAlignError, ServerUnavailable
from kgn_align.graph import Graph
from kgn_align.writeback import ModelStamp, Policy

log = logging.getLogger(__name__)


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time "
                                 "(e.g. 2024-05-01T00:00:00+00:00)") from None
    if when.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2024-05-01T00:00:00+00:00")
    return when


def _output_path(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    from kgn_align.cli import output_path

    return output_path(ctx, param, value)


def print_summary(summary: BackfillSummary, policy: str = "best") -> None:
    w = summary.writes
    click.echo(f"backfill {summary.run_id}: {summary.status}"
               f"{' (resumed)' if summary.resumed else ''}"
               f"{' (started over: source entities it had written changed since it stopped)' if summary.restarted else ''}"
               f" in {summary.seconds:.1f} s")
    click.echo(f"  entities: {summary.entities} selected, {summary.entities_before} done before, "
               f"{summary.entities_now} now")
    if summary.status == "already-done":  # its record, not the graph: edges may since have gone
        earlier = (f" (earlier attempts of this run wrote {summary.pairs_before}; a finished run "
                   "does nothing again: give a new --run-id to align afresh)")
    elif summary.resumed:
        earlier = (f" now, {summary.pairs_before} more by earlier attempts of this run "
                   f"({summary.pairs_before + summary.pairs_selected} in all)")
    else:
        earlier = ""
    # "scored" counts the candidate pairs the reviews leave open (the scorer's own count, e.g.
    # 'pair model: scoring 40320 candidate pairs', also has those of accepted sources)
    click.echo(f"  pairs: {summary.pairs_scored} candidate pairs open after reviews, "
               f"{summary.pairs_selected} chosen{earlier}")
    if summary.reviewed_sources:
        click.echo(f"  reviews: {summary.reviewed_sources} source(s) with an accepted SAME_AS got "
                   "no model edge; rejected pairs are never written")
    if summary.shared_targets:
        part = " in this attempt (earlier attempts' edges not counted)" if summary.resumed else ""
        click.echo(f"  shared targets: {summary.shared_targets} target(s) chosen by more than one "
                   f"source{part} (policy {policy} allows it; --policy one-to-one does not)")
    # reviewed pairs are settled before scoring (the 'reviews' line): what is left here are
    # chosen pairs a review reached during the run, and pairs whose ends were not written to
    untouched = (f", {w.reviewed} left as reviewed (r.review set on the pair: reviewed during the run, or "
                 "a review other than 'accepted' or 'rejected', which the checks name)"
                 if w.reviewed else "")
    if w.foreign:
        untouched += (f", {w.foreign} left as they are (a SAME_AS edge on the pair that kgn-align did "
                      "not write and no one reviewed, e.g. an import's own)")
    if w.skipped:
        untouched += (f", {w.skipped} skipped (an end no longer on its side, a reviewed SAME_AS edge "
                      "the other way between them, or a review made during the run that rules the "
                      "pair out)")
    if summary.csv:
        click.echo(f"  dry run, nothing written: the edges would be {w.created} created, "
                   f"{w.updated} updated, {w.unchanged} unchanged, {w.retracted} retracted "
                   f"(no longer chosen){untouched}; each in {summary.csv} (column 'change')")
    else:
        click.echo(f"  edges: {w.created} created, {w.updated} updated, {w.unchanged} unchanged, "
                   f"{w.retracted} retracted (no longer chosen){untouched}")


#: backfill's options by the field of BackfillOptions / BackfillFilter they fill
_OPTION_OF = {"run_id": "--run-id", "entity_type": "--type", "changed_property": "--changed-property",
              "keys": "--key", "batch_size": "--batch-size", "threshold": "--threshold",
              "throttle": "--throttle", "dry_run": "--dry-run", "policy": "--policy"}


def _bad_option(exc: ValidationError) -> click.BadParameter:
    """The first problem of ``exc`` as click's 'Invalid value for '--run-id': ...', in the
    option's own words rather than pydantic's."""
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else ""
    value = err.get("input")
    if field == "run_id":
        msg = f"{value!r}: use 1-{RUN_ID_MAX} of A-Z a-z 0-9 _ . : - (no spaces)"
    else:
        msg = err["msg"].removeprefix("Value error, ")
    return click.BadParameter(msg, param_hint=f"'{_OPTION_OF.get(field, field)}'")


@click.command("backfill")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True),
              envvar="KGN_ALIGN_CONFIG", help="TOML config naming the two graphs.")
@click.option("--dataset", help="Instead of --config: align a benchmark loaded by 'kgn-align load' "
              "(dblp_acm, itunes_amazon, dbp15k_fr_en, dbp15k_ja_en, srprs_en_fr, or another KG folder: "
              "its name under DATASETS/kg, or a path).")
@click.option("--datasets", "datasets_dir", type=click.Path(file_okay=False), default=None,
              help="Folder with the benchmark datasets (as the top-level --datasets).")
@click.option("--prefix", default="", help="With --dataset: the prefix it was loaded with "
              "(default none; 'make demo' loads under demo/). Not used with --config.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Checkpoint file, or a model id as 'train' prints it (or a unique start of it, 4 characters at least), for --scorer gnn. "
              "Default: the latest, KGN_ALIGN_HOME/models/latest.pt.")
@click.option("--run-id", help="Name of this run; give the same id again to resume it "
              f"(1-{RUN_ID_MAX} of A-Z a-z 0-9 _ . : -). Default: a new id (printed).")
@click.option("--scorer", type=click.Choice(["gnn", "names"]), default="gnn", show_default=True,
              help="How pairs are scored: 'gnn' = the trained pair model (see 'kgn-align train'); "
              "'names' = character n-gram name similarity, no model needed.")
@click.option("--model-version", default="names@v1", show_default=True,
              help="With --scorer names: written as the edges' 'model' property (with "
              "--scorer gnn the edges say 'kgn-align/<version>', the checkpoint's content hash).")
@click.option("-k", "--candidates", "k", type=click.IntRange(1, 1000), default=CANDIDATES_PER_SOURCE,
              show_default=True, help="Candidates scored per source entity.")
@click.option("--bootstrap/--no-bootstrap", default=True, show_default=True,
              help="With --scorer gnn: align twice, the confident mutual best pairs of the first "
              "round anchoring the second as the accepted SAME_AS do (pseudo-seeds; README, "
              "'What a backfill does').")
@click.option("--policy", type=click.Choice([p.value for p in Policy]), default="best",
              show_default=True, help="all: every pair above the threshold; best: the best per "
              "source entity; one-to-one: no entity in two edges.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Lowest score written: the scores are calibrated probabilities of a match.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Source entities per transaction (a resumed --run-id may take another).")
@click.option("--type", "entity_type", help="Only source entities with this label.")
@click.option("--key", "keys", multiple=True,
              help="Only these source keys' edges (repeatable). With --scorer gnn the whole side "
              "is still aligned first (each source competes with the others for its targets), "
              "so one key takes about as long as all.")
@click.option("--changed-since", callback=_since, help="Only entities changed at or after "
              "this ISO-8601 time (with time zone).")
@click.option("--changed-property", default="updatedAt", show_default=True,
              help="The entity property holding its change time.")
@click.option("--dry-run", type=click.Path(dir_okay=False, path_type=Path), callback=_output_path,
              help="Write no edge and no run record: the would-be edges go to this CSV file, each "
              "with what it would change (column 'change': created, updated, unchanged, reviewed, "
              "foreign for a pair whose SAME_AS edge kgn-align did not write and leaves alone, or "
              "retracted for an edge now there that the run would delete). The model's sampling "
              "still stores its hash on the side nodes (store_hash in the configuration).")
@click.option("--throttle", type=click.FloatRange(0, 60), default=0.0, show_default=True,
              help="Seconds to pause after each batch (be gentle with a busy server).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def backfill(ctx: click.Context, config_path: str | None, dataset: str | None,
             datasets_dir: str | None, prefix: str,
             model_path: Path | None, run_id: str | None, scorer: str, model_version: str, k: int,
             bootstrap: bool, policy: str, threshold: float, batch_size: int, entity_type: str | None,
             keys: tuple[str, ...], changed_since: datetime | None, changed_property: str,
             dry_run: Path | None, throttle: float, no_progress: bool) -> None:
    """Align the source entities in the graph now and write SAME_AS edges, resumably.

    Each batch of source entities is written in one transaction together with the run's
    progress (a KgnBackfillRun node): interrupted by Ctrl-C or kill -9, the same command
    with the same --run-id continues after the last finished batch (or starts over, writing
    every batch again, when source entities at or before that point were loaded or deleted
    meanwhile).
    """
    app = ctx.find_object(_app_type())
    try:
        flt = BackfillFilter(entity_type=entity_type, keys=keys or None,
                             changed_since=changed_since, changed_property=changed_property)
        options = BackfillOptions(**({"run_id": run_id} if run_id else {}),
                                  batch_size=batch_size, policy=Policy(policy),
                                  threshold=threshold, dry_run=dry_run,
                                  throttle=throttle)
    except ValidationError as exc:
        raise _bad_option(exc) from None
    if threshold >= 1.0 and dry_run is None:
        log.warning("--threshold 1: only pairs scored exactly 1 are written, and every other model "
                    "edge of the selected sources is retracted; see what it would do with --dry-run FILE")
    if app is not None:
        if datasets_dir is not None:
            app.datasets = datasets_dir
        # KGN_ALIGN_CONFIG stands back for --dataset; --config given with it does not
        given = ctx.get_parameter_source("config_path") == click.core.ParameterSource.COMMANDLINE
        config = app.align_config(dataset, prefix, config_path if given or not dataset else None)
        graph = app.graph()
        models_dir = app.models_dir
    else:
        if config_path is None:
            raise click.UsageError("give --config (or run it as 'kgn-align backfill')")
        config = load_config(config_path)
        graph = Graph(config.connection)
        ctx.call_on_close(graph.close)
        graph.verify(timeout=5)
        from kgn_align.cli import DEFAULT_HOME

        models_dir = Path(os.environ.get("KGN_ALIGN_HOME", DEFAULT_HOME)) / "models"
    from kgn_align import preflight

    if scorer == "gnn":  # the model first: it is what a backfill most often lacks
        from kgn_align.scoring import TrainedModel, checkpoint_path

        trained = TrainedModel.load(checkpoint_path(model_path, models_dir))
        # the latest model is whatever was trained last, on any graph: one of another graph
        # would rewrite every edge with scores that mean nothing here; given by name, it is the
        # user's choice (and warned about)
        trained.refuse_unfamiliar = model_path is None
    preflight.check(graph, config)  # a misspelt label or property named first, with its near miss
    if scorer == "gnn":
        trained.check_reading(config)  # the graph read as for its training, before any work
    validate_filter(graph, config, flt)  # --type / --key / --changed-since: before the sampling
    if scorer == "gnn":
        check_resumable(graph, config, flt, options, trained.stamp)  # a --run-id of other settings
    if options.dry_run is None:
        unfinished = preflight.unfinished_backfills(graph, config, options.run_id)
        if unfinished:
            log.warning("%s", unfinished)
    click.echo(f"run id: {options.run_id}", err=True)
    try:
        if scorer == "gnn":
            from kgn_align.scoring import ModelScorer
            from kgn_align.snapshot import take

            click.echo(f"model {trained.version}; sampling both sides ...", err=True)
            if app is not None:  # the scorer's stages say what they do (the standalone logs at INFO)
                from kgn_align.cli import show_progress

                show_progress("kgn_align.scoring")
            from kgn_align.writeback import labelled_pairs

            score = ModelScorer(take(graph, config, model=trained), trained, k=k,
                                labelled=labelled_pairs(graph, config), bootstrap=bootstrap)
            stamp = trained.stamp
        else:
            from kgn_align.scorers import NameSimilarityScorer

            score = NameSimilarityScorer(graph, config, k=k)
            stamp = ModelStamp(model=model_version, method=score.method)
    except KeyboardInterrupt:
        click.echo(f"\nbackfill {options.run_id} interrupted while sampling, before any edge was "
                   "written", err=True)
        raise
    bar = None
    if not no_progress and sys.stderr.isatty():  # in a log, the summary below says it all
        bar = click.progressbar(length=1, label="backfill", show_eta=True, file=sys.stderr)
        bar.__enter__()

    last: list[Progress] = []
    tenths = [0]  # in a log (no bar): one line per tenth of the sources written
    printed = [0]  # the count the last of those lines gave

    def progress(p: Progress) -> None:
        last[:] = [p]
        if bar is not None:
            bar.length = max(p.total, 1)
            bar.update(p.done - bar.pos)
        elif not no_progress and p.total and 10 * p.done // p.total > tenths[0]:
            tenths[0] = 10 * p.done // p.total
            verb = "scored (dry run)" if options.dry_run is not None else "done (scored, their edges written)"
            click.echo(f"backfill {options.run_id}: {p.done:,} of {p.total:,} source entities {verb}",
                       err=True)
            printed[0] = p.done

    try:
        summary = run_backfill(graph, config, score, stamp, options, flt, progress)
    except (KeyboardInterrupt, ServerUnavailable) as exc:
        if options.dry_run is None:  # each batch was committed with the run's progress
            away = isinstance(exc, ServerUnavailable)  # not asked again: its retries would take long
            count, done = _written_so_far(None if away else graph, options.run_id, last[0] if last else None)
            how = "stopped: the graph server is away" if away else "interrupted"
            # the lines above come once a tenth: a trial read "600 of 3,000 ... done" there and
            # "800 of 3,000 ... are written" here, and doubted the resume
            since = (f" (the last progress line said {printed[0]:,}: those come once a tenth of "
                     "the sources)") if printed[0] and count is not None and count != printed[0] else ""
            click.echo(f"\nbackfill {options.run_id} {how}: {done} written{since}; the same command "
                       f"with --run-id {options.run_id} goes on from there", err=True)
        raise
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    print_summary(summary, options.policy.value)


def _written_so_far(graph: Graph | None, run_id: str, last: Progress | None) -> tuple[int | None, str]:
    """How much of an interrupted run is written: the count of source entities (None: not
    known) and the same in words; from the run's record (each batch commits its checkpoint
    with its edges, so the record counts the batch that was in flight when the interrupt
    came, if it committed), else (or with no ``graph``) from the last progress."""
    from kgn_align.backfill import run_state

    try:
        state = run_state(graph, run_id) if graph is not None else None
    except (KgnAlignError, KeyboardInterrupt):
        state = None
    if state is not None and state.get("total") is not None:
        done = int(state["entities"] or 0)
        return done, f"{done:,} of {int(state['total']):,} source entities are"
    # the batch in flight may have committed before the interrupt reached us
    if last is None:
        return None, "nothing or one batch is"
    return last.done, f"at least {last.done:,} of {last.total:,} source entities are"


def _app_type() -> type:
    from kgn_align.cli import App

    return App


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kgn_align.interrupts import sigterm_interrupts, stopped_by

    try:
        with sigterm_interrupts():  # a kill ends it as Ctrl-C does: with the resume hint
            backfill.main(standalone_mode=False)
    except click.exceptions.Abort:  # click's form of KeyboardInterrupt here
        line, status = stopped_by()
        click.echo(line, err=True)
        sys.exit(status)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KgnAlignError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
