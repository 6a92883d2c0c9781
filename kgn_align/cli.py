"""The ``kgn-align`` command line: one click group, one context object built once.

Output meant for people goes to stdout via click; diagnostics go through logging (stderr).
Exit codes: 0 success, 1 a kgn-align error (message printed, no traceback), 2 bad usage.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from kgn_align import __version__
from kgn_align.config import ConnectionConfig, connection_from_env
from kgn_align.errors import KgnAlignError

log = logging.getLogger("kgn_align")

DEFAULT_HOME = ".kgn-align"


@dataclass
class App:
    """Built once per invocation and handed to every command (one driver per process)."""

    config_path: str | None
    home: Path
    connection: ConnectionConfig
    datasets: str | None
    _graph: Any = field(default=None, repr=False)

    @property
    def server_dir(self) -> Path:
        return self.home / "server"

    def graph(self) -> Any:
        """The process's one :class:`~kgn_align.graph.Graph` (embedded server if no URI)."""
        if self._graph is None:
            from kgn_align.graph import Graph

            self._graph = Graph(self.resolved_connection())
            self._graph.verify(timeout=5)
        return self._graph

    def resolved_connection(self) -> ConnectionConfig:
        if self.connection.uri is not None:
            return self.connection
        from kgn_align.embedded import EmbeddedServer

        state = EmbeddedServer(self.server_dir).state()
        if state is None:
            raise KgnAlignError(
                "no graph server: set NEO4J_URI (and NEO4J_USER/NEO4J_PASSWORD), or start the "
                f"embedded one with 'kgn-align server start' (looked in {self.server_dir})")
        return state.connection()

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()


class KgnGroup(click.Group):
    """Turns kgn-align errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KgnAlignError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)


def stage_progress(label_prefix: str = "") -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """A progress callback drawing one bar per stage, and a function closing the last one."""
    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            for bar in bars.values():
                bar.render_finish()
            bars.clear()
            bars[stage] = click.progressbar(length=total, label=f"{label_prefix}{stage:<14}",
                                            show_eta=True, show_percent=True, file=sys.stderr)
            bars[stage].__enter__()
        bars[stage].update(done)

    def finish() -> None:
        for bar in bars.values():
            bar.__exit__(None, None, None)
        bars.clear()

    return update, finish


@click.group(cls=KgnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kgn-align")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="KGN_ALIGN_CONFIG",
              help="TOML file describing the two graphs to align (see README). [env: KGN_ALIGN_CONFIG]")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="KGN_ALIGN_HOME",
              default=DEFAULT_HOME, show_default=True,
              help="Where kgn-align keeps its embedded server, models and run state. [env: KGN_ALIGN_HOME]")
@click.option("--uri", envvar="NEO4J_URI", help="Bolt URI of the graph server. [env: NEO4J_URI] "
              "Without it, the embedded server started by 'kgn-align server start' is used.")
@click.option("--user", envvar="NEO4J_USER", help="[env: NEO4J_USER]")
@click.option("--password", envvar="NEO4J_PASSWORD", help="Prefer the environment variable. [env: NEO4J_PASSWORD]")
@click.option("--database", envvar="NEO4J_DATABASE", help="Database name. [env: NEO4J_DATABASE]")
@click.option("--datasets", type=click.Path(file_okay=False), envvar="KGN_ALIGN_DATASETS",
              help="Folder with the benchmark datasets (default ../shared/datasets). [env: KGN_ALIGN_DATASETS]")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, home: Path, uri: str | None, user: str | None,
        password: str | None, database: str | None, datasets: str | None, verbose: int) -> None:
    """Find the nodes that are the same entity across knowledge graphs in Neo4j.

    \b
    Typical session:
      kgn-align server start              # or point NEO4J_URI at your Neo4j 5
      kgn-align load kg dbp15k_fr_en      # a benchmark, or your own graphs
      kgn-align demo                      # all of it, end to end, on real data
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    env = {k: v for k, v in {"NEO4J_URI": uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
                               "NEO4J_DATABASE": database}.items() if v}
    try:
        connection = connection_from_env(env=env)
    except KgnAlignError as exc:
        raise click.BadParameter(str(exc)) from None
    app = App(config_path=config_path, home=home, connection=connection, datasets=datasets)
    ctx.obj = app
    ctx.call_on_close(app.close)


# ----------------------------------------------------------------------------- server
@cli.group()
def server() -> None:
    """Run the embedded graph server (ArcadeDB with its Neo4j Bolt plugin).

    For machines without Neo4j: it listens on loopback only, with a generated password
    kept (mode 0600) in KGN_ALIGN_HOME/server. Other kgn-align commands find it there.
    """


@server.command("start")
@click.option("--port", type=int, default=None, help="Bolt port (default: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on. Anything but loopback exposes your data.")
@click.option("--heap", default="1g", show_default=True, help="JVM heap size.")
@click.pass_obj
def server_start(app: App, port: int | None, host: str, heap: str) -> None:
    """Start the embedded server in the background and wait until Bolt answers."""
    from kgn_align.embedded import EmbeddedServer

    state = EmbeddedServer(app.server_dir, host=host, bolt_port=port, heap=heap).start()
    click.echo(f"embedded server running: {state.uri} (pid {state.pid}, data in {state.data_dir})")


@server.command("stop")
@click.pass_obj
def server_stop(app: App) -> None:
    """Stop the embedded server (SIGTERM, then SIGKILL after 30 s)."""
    from kgn_align.embedded import EmbeddedServer

    stopped = EmbeddedServer(app.server_dir).stop()
    click.echo("embedded server stopped" if stopped else "no embedded server was running")


@server.command("status")
@click.pass_obj
def server_status(app: App) -> None:
    """Say whether the embedded server runs, and where. Exit code 3 if it does not."""
    from kgn_align.embedded import EmbeddedServer

    state = EmbeddedServer(app.server_dir).state()
    if state is None:
        click.echo("no embedded server running")
        sys.exit(3)
    click.echo(json.dumps({"uri": state.uri, "pid": state.pid, "user": state.user,
                           "database": state.database, "data_dir": state.data_dir}))


# ------------------------------------------------------------------------------- load
@cli.group()
def load() -> None:
    """Load a public benchmark from the datasets folder into the graph.

    Loads are idempotent (a second run adds nothing); bad input stops the load with the
    file and line at fault before anything is written.
    """


@load.command("kg")
@click.argument("name", type=click.Choice(["dbp15k_fr_en", "dbp15k_ja_en", "srprs_en_fr"]))
@click.option("--prefix", default="", help="Prefix for the graph names (graph property).")
@click.option("--pairs", type=click.IntRange(min=1), default=None,
              help="Load only a slice: about this many gold pairs and their entities.")
@click.option("--batch-size", type=click.IntRange(min=1), default=5000, show_default=True)
@click.pass_obj
def load_kg_cmd(app: App, name: str, prefix: str, pairs: int | None, batch_size: int) -> None:
    """Load a knowledge-graph benchmark (entities, relations, training SAME_AS pairs)."""
    from kgn_align import datasets, loaders

    ds = datasets.read_kg(name, app.datasets)
    if pairs is not None:
        ds = ds.slice(pairs)
    update, finish = stage_progress()
    try:
        report = loaders.load_kg(app.graph(), ds, prefix=prefix, batch_size=batch_size, progress=update)
    finally:
        finish()
    click.echo(report.model_dump_json(indent=2))


@load.command("tables")
@click.argument("name", type=click.Choice(["dblp_acm", "itunes_amazon"]))
@click.option("--prefix", default="", help="Prefix for the graph names (graph property).")
@click.option("--batch-size", type=click.IntRange(min=1), default=5000, show_default=True)
@click.pass_obj
def load_tables_cmd(app: App, name: str, prefix: str, batch_size: int) -> None:
    """Load a table benchmark as a multi-type graph (papers/authors/venues, songs/...)."""
    from kgn_align import datasets, loaders

    ds = datasets.read_tables(name, app.datasets)
    update, finish = stage_progress()
    try:
        report = loaders.load_tables(app.graph(), ds, prefix=prefix, batch_size=batch_size,
                                     progress=update)
    finally:
        finish()
    click.echo(report.model_dump_json(indent=2))


# ------------------------------------------------------------------------------- demo
@cli.command()
@click.option("--dataset", default="dbp15k_fr_en", show_default=True,
              type=click.Choice(["dbp15k_fr_en", "dbp15k_ja_en", "srprs_en_fr"]))
@click.option("--pairs", type=click.IntRange(min=1), default=None,
              help="Use only a slice of about this many gold pairs (faster).")
@click.option("--keep-server", is_flag=True, help="Leave the embedded server running afterwards.")
@click.pass_obj
def demo(app: App, dataset: str, pairs: int | None, keep_server: bool) -> None:
    """Real data end to end on the embedded server: start it, load a benchmark, report.

    Uses NEO4J_URI instead when it is set.
    """
    from kgn_align import datasets, loaders
    from kgn_align.embedded import EmbeddedServer

    started = None
    if app.connection.uri is None:
        click.echo(f"starting the embedded graph server in {app.server_dir} ...")
        server_ = EmbeddedServer(app.server_dir)
        already = server_.state() is not None
        state = server_.start()
        started = None if already else server_
        click.echo(f"  {state.uri} (pid {state.pid})")
    try:
        click.echo(f"reading {dataset} from {datasets.dataset_dir(dataset, app.datasets)} ...")
        ds = datasets.read_kg(dataset, app.datasets)
        if pairs is not None:
            ds = ds.slice(pairs)
        update, finish = stage_progress("  ")
        try:
            report = loaders.load_kg(app.graph(), ds, progress=update)
        finally:
            finish()
        click.echo(f"loaded {report.nodes} entities and {report.relationships} relationships "
                   f"in {report.seconds:.1f} s; {report.seed_pairs} training pairs as reviewed "
                   f"SAME_AS, {report.held_out_pairs} pairs held out for evaluation")
        click.echo("\nLook at it in Neo4j Browser (or cypher-shell):\n"
                   "  MATCH (a:Entity)-[r:SAME_AS]->(b:Entity) RETURN a, r, b LIMIT 25")
    finally:
        if started is not None and not keep_server:
            app.close()
            app._graph = None
            started.stop()
            click.echo("embedded server stopped")


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="kgn-align")


if __name__ == "__main__":
    main()
