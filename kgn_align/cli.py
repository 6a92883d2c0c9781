"""The ``kgn-align`` command line: one click group, one context object built once.

Output meant for people goes to stdout via click; diagnostics go through logging (stderr).
Exit codes: 0 success, 1 a kgn-align error (message printed, no traceback), 2 bad usage.
"""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import json
import logging
import os
import re
import shlex
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from kgn_align import __version__
from kgn_align.config import CANDIDATES_PER_SOURCE, ConnectionConfig, connection_from_env, connection_from_file
from kgn_align.errors import ConfigError, KgnAlignError
from kgn_align.worker import STATUSES as JOB_STATUSES
from kgn_align.writeback import Policy

#: kgn_align.scoring.VARIANTS' names, here so that --help needs no torch import
VARIANT_NAMES = ("cg-mualign", "propagation-sinkhorn", "neighbourhood-cosine")

log = logging.getLogger("kgn_align")
#: A 'changed' job's result lists at most this many of the source keys it re-aligned.
CHANGED_KEYS_SHOWN = 100

#: Not relative to the current directory: every command finds the same servers and models
#: wherever it runs.
DEFAULT_HOME = str(Path("~/.kgn-align").expanduser())


@dataclass
class App:
    """Built once per invocation and handed to every command (one driver per process)."""

    config_path: str | None
    home: Path
    connection: ConnectionConfig
    datasets: str | None
    #: --config was given on the command line (not only through KGN_ALIGN_CONFIG): it
    #: then conflicts with --dataset instead of standing back for it
    config_given: bool = False
    #: the connection settings given as options or NEO4J_* variables (over the config
    #: file's [connection] table, as in load_config)
    connection_env: dict[str, str] = field(default_factory=dict, repr=False)
    #: with --dataset: the command that loads that benchmark under that prefix (named when
    #: the sides have no entities: not loaded yet, or removed)
    load_command: str | None = None
    _graph: Any = field(default=None, repr=False)
    #: where :meth:`resolved_connection`'s user and password came from, in words (named when
    #: the server refuses them: a trial's password in the config file was sent to check its
    #: environment variables)
    credentials_from: str | None = None
    #: :meth:`resolved_connection` chose the server 'kgn-align server start' started in --home
    local_server: bool = False

    def graph(self) -> Any:
        """The process's one :class:`~kgn_align.graph.Graph` (embedded server if no URI)."""
        if self._graph is None:
            from kgn_align.graph import Graph

            self._graph = Graph(self.resolved_connection(), credentials_from=self.credentials_from)
            self._graph.verify(timeout=5)
        return self._graph

    def resolved_connection(self) -> ConnectionConfig:
        """Where the graph is: options and NEO4J_* variables over the config file's
        ``[connection]`` table (--config / KGN_ALIGN_CONFIG); without a URI, the server
        'kgn-align server start' runs in --home."""
        connection = self.connection
        in_file = connection_from_file(self.config_path)
        env = self.connection_env
        if "@" in env.get("NEO4J_URI", ""):  # credentials written into the URI win
            self.credentials_from = "the user:password written into NEO4J_URI (--uri)"
        elif env.get("NEO4J_PASSWORD"):
            self.credentials_from = "NEO4J_PASSWORD (--password)"
        elif in_file is not None and in_file.password is not None:
            self.credentials_from = f"the [connection] table of {self.config_path}"
        else:
            self.credentials_from = None
        if in_file is not None:
            try:
                connection = connection_from_env(in_file, env=self.connection_env)
            except KgnAlignError as exc:
                from kgn_align.errors import redact

                raise ConfigError(redact(str(exc), self.connection_env.get("NEO4J_PASSWORD"))) from None
        if connection.uri is not None:
            return connection
        from kgn_align.servers import running

        default = ConnectionConfig()

        def given(where: ConnectionConfig | None, key: str) -> bool:
            return where is not None and getattr(where, key) != getattr(default, key)

        # named where each came from: an option or variable, else the file's table
        ignored = [f"NEO4J_{key.upper()}/--{key.replace('_', '-')}" if given(self.connection, key)
                   else f"{key} in the [connection] table"
                   for key in ("user", "password", "database", "ca_file") if given(connection, key)]
        if ignored:
            log.warning("%s ignored: without NEO4J_URI (--uri) kgn-align uses the server "
                        "'kgn-align server start' started, with its own credentials",
                        ", ".join(ignored))

        state = running(self.home)
        if state is None:
            raise KgnAlignError(
                "no graph server: set NEO4J_URI (and NEO4J_USER/NEO4J_PASSWORD), or start one "
                f"with 'kgn-align server start' (looked in {self.home / 'servers'})")
        if state.starting:
            log.warning("the %s server (pid %d) has not finished starting, or the command starting "
                        "it was killed ('kgn-align server status' says which)", state.kind, state.pid)
        self.credentials_from = f"the password file of the server 'kgn-align server start' started ({state.password_file})"
        self.local_server = True
        return state.connection()

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None

    def reconnect(self) -> Any:
        """A new Graph, the server's address read again (a restarted local server may
        listen elsewhere): for long-running commands after the server went away."""
        from kgn_align.graph import Graph

        fresh = Graph(self.resolved_connection(), credentials_from=self.credentials_from)
        old, self._graph = self._graph, fresh
        if old is not None:
            try:
                old.close()
            except Exception:  # a broken driver is dropped either way
                log.debug("closing the old connection failed", exc_info=True)
        return fresh

    def align_config(self, dataset: str | None, prefix: str = "",
                     config_path: str | None = None) -> Any:
        """The AlignConfig: a loaded benchmark's preset (``--dataset``) or the TOML config.
        Both given on the command line is a usage error: which graphs would be aligned?"""
        from kgn_align.config import load_config

        if dataset and (config_path is not None or self.config_given):
            raise click.UsageError("--config and --dataset both say which graphs to align: give one")
        if dataset:
            from kgn_align import datasets, loaders

            if datasets.is_kg(dataset, self.datasets):
                ds: Any = datasets.read_kg(dataset, self.datasets)
            else:
                ds = datasets.read_tables(dataset, self.datasets)
            self.load_command = (f"kgn-align load {'kg' if isinstance(ds, datasets.KGDataset) else 'tables'} "
                                 f"{dataset}" + (f" --prefix {shlex.quote(prefix)}" if prefix else ""))
            return loaders.preset_config(ds, prefix=prefix)
        path = config_path or self.config_path
        if path is None:
            raise KgnAlignError("say which graphs to align: --config FILE (or KGN_ALIGN_CONFIG), "
                                "or --dataset NAME for a benchmark loaded with 'kgn-align load'")
        return load_config(path)

    def checked_config(self, dataset: str | None, prefix: str = "",
                       config_path: str | None = None) -> Any:
        """The AlignConfig, after the checks every command runs first: the server answers
        and the graph matches the configuration (:mod:`kgn_align.preflight`)."""
        from kgn_align import preflight

        config = self.align_config(dataset, prefix, config_path)
        preflight.check(self.graph(), config)
        return config

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    def load_model(self, path: Path | None) -> Any:
        """The checkpoint at ``path`` (or of that model id), else the latest one trained in
        this home."""
        from kgn_align.scoring import TrainedModel, checkpoint_path

        return TrainedModel.load(checkpoint_path(path, self.models_dir))


def _commands_taking(group: click.Group, option: str, prefix: str = "") -> list[str]:
    """The commands under ``group`` (as ``"load kg"``) that have the option ``option``."""
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands_taking(command, option, f"{prefix}{name} ")
        elif any(option in p.opts or option in p.secondary_opts
                 for p in command.params if isinstance(p, click.Option)):
            found.append(prefix + name)
    return found


def _misplaced(exc: click.NoSuchOption, root: click.Group, command: str | None) -> click.NoSuchOption:
    """``exc`` saying which commands take the option, when it belongs to others than
    ``command`` (``None``: given before any command). Click's own near miss ('Did you mean
    --policy?' for backfill --epochs) pointed at unrelated options."""
    if command is not None and any(exc.option_name in p.opts for p in root.params):
        return click.NoSuchOption(exc.option_name, ctx=exc.ctx, message=(
            f"No such option {exc.option_name!r} for '{command}': it is an option of kgn-align "
            f"itself; give it before the command (kgn-align {exc.option_name} ... {command})"))
    owners = [c for c in _commands_taking(root, exc.option_name) if c != command]
    if not owners:
        return exc
    shown = ", ".join(f"'{c}'" for c in owners[:4]) + (", ..." if len(owners) > 4 else "")
    if command is None:
        message = (f"No such option {exc.option_name!r} before the command: it is an option of "
                   f"{shown}; give it after the command's name (kgn-align {owners[0]} {exc.option_name} ...)")
    else:
        message = f"No such option {exc.option_name!r} for '{command}': it is an option of {shown}"
    return click.NoSuchOption(exc.option_name, message=message, ctx=exc.ctx)


class KgnGroup(click.Group):
    """Turns every error into one clear line and exit code 1 (the traceback with -v), with
    credentials redacted: a password in a URI never reaches the terminal or a log. An option
    given to the wrong command is named with the commands that take it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise _misplaced(exc, self, None) from None

    def invoke(self, ctx: click.Context) -> Any:
        from kgn_align.interrupts import sigterm_interrupts, stopped_by

        try:
            # SIGTERM and SIGHUP end a command as Ctrl-C does, its clean-up run (the worker has its own)
            with sigterm_interrupts():
                return super().invoke(ctx)
        except click.NoSuchOption as exc:
            path = exc.ctx.command_path.split(" ", 1)[1] if exc.ctx and " " in exc.ctx.command_path else None
            raise _misplaced(exc, self, path) from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            line, status = stopped_by()
            click.echo(line, err=True)
            ctx.exit(status)
        except Exception as exc:
            from kgn_align.errors import redact

            secret = os.environ.get("NEO4J_PASSWORD")
            if isinstance(exc, KgnAlignError):
                message = _server_gone(ctx.obj, exc) or str(exc)
                load = getattr(ctx.obj, "load_command", None)
                if (load and isinstance(exc, ConfigError) and "has no entities" in message
                        and "--prefix" not in message):  # else: the hint names the prefix it has
                    message += f" (is the benchmark loaded? {load})"
            else:
                message = f"unexpected {type(exc).__name__}: {exc}"
            if ctx.params.get("verbose"):
                import traceback

                click.echo(redact("".join(traceback.format_exception(exc)), secret), err=True)
            elif not isinstance(exc, KgnAlignError):
                message += " (run with -v for the traceback)"
            click.echo(f"Error: {redact(message, secret)}", err=True)
            ctx.exit(1)


def _server_gone(app: object, exc: Exception) -> str | None:
    """What to say when the server 'kgn-align server start' started for this command is no
    longer running: it stopped while the command ran (``kgn-align server stop``, a kill).
    The driver's error then depends on the moment (a login refused by a server shutting
    down, a broken connection, no answer): a trial's backfill, stopped so, ended with "the
    server refused the credentials" after its own correct "the graph server is away" line.
    None when the server runs, or the command did not use it."""
    from kgn_align.errors import ServerUnavailable

    if not (isinstance(app, App) and app.local_server and isinstance(exc, ServerUnavailable)):
        return None
    from kgn_align.servers import running

    try:
        if running(app.home) is not None:
            return None
    except Exception:  # an unreadable state file: the driver's own words stand
        return None
    return (f"the graph server 'kgn-align server start' started ({app.home / 'servers'}) is no "
            "longer running: it stopped while this command ran ('kgn-align server start' "
            "starts it again)")


def stage_progress(label_prefix: str = "") -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """A progress callback drawing one bar per stage, and a function closing the last one.

    On a terminal: click progress bars. In a log or a pipe (no TTY), where bars would print
    a bare label: one line per stage, ``stage: done of total in seconds``, printed when the
    stage reaches its total (or when the next one starts, or at ``finish``).
    """
    bars: dict[str, Any] = {}
    plain: dict[str, list[float]] = {}  # stage -> [done, total, started]
    tty = sys.stderr.isatty()

    def close_plain() -> None:
        for stage, (done, total, started) in plain.items():
            click.echo(f"{label_prefix}{stage}: {int(done)} of {int(total)} in "
                       f"{time.perf_counter() - started:.1f} s", err=True)
        plain.clear()

    def update(stage: str, done: int, total: int) -> None:
        if not tty:
            if stage not in plain:
                close_plain()
                plain[stage] = [0.0, float(total), time.perf_counter()]
            plain[stage][0] += done
            if plain[stage][0] >= total:  # done: say so now, not when the next stage starts
                close_plain()
            return
        if stage not in bars:
            for bar in bars.values():
                bar.render_finish()
            bars.clear()
            bars[stage] = click.progressbar(length=total, label=f"{label_prefix}{stage:<14}",
                                            show_eta=True, show_percent=True, file=sys.stderr)
            bars[stage].__enter__()
        bars[stage].update(done)

    def finish() -> None:
        close_plain()
        for bar in bars.values():
            bar.__exit__(None, None, None)
        bars.clear()

    return update, finish


def _set_datasets(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_object(App).datasets = value


#: --datasets after the sub-command too (``kgn-align load kg NAME --datasets DIR``)
datasets_option = click.option(
    "--datasets", type=click.Path(file_okay=False), expose_value=False, callback=_set_datasets,
    help="Folder with the benchmark datasets (as the top-level --datasets).")


@click.group(cls=KgnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kgn-align")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="KGN_ALIGN_CONFIG",
              help="TOML file describing the two graphs to align (see README). [env: KGN_ALIGN_CONFIG]")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="KGN_ALIGN_HOME",
              default=DEFAULT_HOME, show_default="~/.kgn-align",
              help="Where kgn-align keeps its servers' data, models and run state. [env: KGN_ALIGN_HOME]")
@click.option("--uri", envvar="NEO4J_URI", help="Bolt URI of the graph server. [env: NEO4J_URI] "
              "Without it, the server started by 'kgn-align server start' is used.")
@click.option("--user", envvar="NEO4J_USER", help="User name (default neo4j). [env: NEO4J_USER]")
@click.option("--password", envvar="NEO4J_PASSWORD", help="Password of --user; prefer the environment "
              "variable (an option shows in the process list). [env: NEO4J_PASSWORD]")
@click.option("--database", envvar="NEO4J_DATABASE", help="Database name. [env: NEO4J_DATABASE]")
@click.option("--ca-file", envvar="NEO4J_CA_FILE", type=click.Path(dir_okay=False),
              help="PEM file of the CA(s) that signed the server's certificate, with a bolt:// "
              "or neo4j:// URI: encrypted, checked against these CAs. [env: NEO4J_CA_FILE]")
@click.option("--datasets", type=click.Path(file_okay=False), envvar="KGN_ALIGN_DATASETS",
              help="Folder with the benchmark datasets (default: ../shared/datasets from the current "
              "directory, else beside the checkout kgn-align runs from). [env: KGN_ALIGN_DATASETS]")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, home: Path, uri: str | None, user: str | None,
        password: str | None, database: str | None, ca_file: str | None, datasets: str | None,
        verbose: int) -> None:
    """Find the nodes that are the same entity across knowledge graphs in Neo4j.

    \b
    Typical session (--config align.toml instead of --dataset for your own graphs):
      kgn-align demo                                  # all of it, end to end, on real data
      kgn-align server start                          # or point NEO4J_URI at your Neo4j 5
      kgn-align load kg dbp15k_fr_en                  # a benchmark into the graph
      kgn-align check --dataset dbp15k_fr_en          # the configuration against the graph
      kgn-align train --dataset dbp15k_fr_en          # learns from reviewed SAME_AS edges
      kgn-align evaluate --dataset dbp15k_fr_en       # judges what a backfill would write
      kgn-align backfill --dataset dbp15k_fr_en       # writes SAME_AS {score, model, ...}
      kgn-align edges --dataset dbp15k_fr_en --weakest   # the edges to review first
      kgn-align worker --dataset dbp15k_fr_en         # jobs from Cypher and captured changes
    """
    # `kill -USR1 <pid>` prints every thread's Python stack to stderr and the command goes
    # on: the first thing to look at when a long command seems stuck
    if hasattr(signal, "SIGUSR1"):  # not on Windows
        with contextlib.suppress(ValueError, OSError):  # stderr without a file (a test runner)
            faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
    level = logging.WARNING - 10 * verbose
    handler = logging.StreamHandler()
    handler.setFormatter(ProgressFormatter(plain_info=verbose == 0))
    logging.basicConfig(level=max(level, logging.DEBUG), handlers=[handler])
    if verbose == 0:  # the driver's notes, among them its retries ("will be retried in
        # 7.089817665171702s", one per try while a server restarts): kgn-align says what it
        # waits for in its own words (note_driver_retries, below). Its ERROR lines too ("[#C1D2]
        # _: <CONNECTION> error: Failed to read from defunct connection ...", a server killed
        # mid-query): each failure reaches kgn-align as an exception, said as one Error line
        logging.getLogger("neo4j").setLevel(logging.CRITICAL)
    elif verbose == 1:  # the driver logs the server's informational notes at INFO: those wait for -vv
        logging.getLogger("neo4j").setLevel(logging.WARNING)
    from kgn_align.memory import keep_batch_buffers

    keep_batch_buffers()  # the pair model's batches reuse their buffers instead of faulting pages in
    env = {k: v for k, v in {"NEO4J_URI": uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
                               "NEO4J_DATABASE": database, "NEO4J_CA_FILE": ca_file}.items() if v}
    try:
        connection = connection_from_env(env=env)
    except KgnAlignError as exc:
        from kgn_align.errors import redact

        raise click.UsageError(redact(str(exc), password)) from None
    note_driver_retries(connection.max_retry_time if verbose == 0 else None,
                        connection.password.get_secret_value() if connection.password else None)
    app = App(config_path=config_path, home=home, connection=connection, datasets=datasets,
              config_given=ctx.get_parameter_source("config_path") == click.core.ParameterSource.COMMANDLINE,
              connection_env=env)
    ctx.obj = app
    ctx.call_on_close(app.close)


# ----------------------------------------------------------------------------- server
KIND_CHOICE = click.Choice(["auto", "neo4j", "arcadedb"])


def _kind(kind: str) -> Any:
    from kgn_align.servers import default_kind

    return default_kind() if kind == "auto" else kind


def _describe(state: Any) -> str:
    browser = f", Browser {state.browser_url}" if state.browser_url else ""
    tls = (f"; Bolt over TLS only, certificate {state.tls_certificate} (bolt+ssc:// accepts it, "
           "or give it as --ca-file/NEO4J_CA_FILE with bolt://)") if state.tls_certificate else ""
    doing = ("starting (Bolt does not answer yet; if the command starting it was killed, "
             "'kgn-align server stop' stops it)") if state.starting else "running"
    return (f"{state.kind} {state.version} {doing}: {state.uri}{browser} (pid {state.pid}, "
            f"user {state.user}, password in {state.password_file}){tls}")


@cli.group()
def server() -> None:
    """Start, stop and find a graph server that kgn-align runs by itself.

    \b
    Kinds:
      neo4j     Neo4j 5.26 Community + APOC Core + kgn-align's plugin, from Maven Central
                (needs Java 17 and Maven; first start fetches ~130 MB into ~/.m2 and
                ~/.cache/kgn-align, later starts take seconds); serves Neo4j Browser
      arcadedb  the embedded ArcadeDB Bolt server (Python only, nothing to fetch)
      auto      neo4j where Java 17 and Maven are at hand, else arcadedb (the default)

    Servers listen on loopback only, with a generated password kept (mode 0600) in
    KGN_ALIGN_HOME/servers/KIND. Other kgn-align commands find a running one there.
    """


@server.command("start")
@click.argument("kind", type=KIND_CHOICE, default="auto")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Bolt port (default: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on. Anything but loopback exposes your data.")
@click.option("--heap", default="1g", show_default=True,
              help="JVM heap of the server (Neo4j or ArcadeDB: both are JVMs), as Java writes it: 512m, 2g.")
@click.option("--tls", is_flag=True, help="Neo4j only: Bolt over TLS only, with a self-signed "
              "certificate made for it (clients use bolt+ssc://, or bolt:// with the "
              "certificate as --ca-file: its path is printed, and in 'server status').")
@click.pass_obj
def server_start(app: App, kind: str, port: int | None, host: str, heap: str, tls: bool) -> None:
    """Start a server in the background and wait until Bolt answers a query.

    KIND: neo4j (Neo4j 5.26 Community from its jars: needs Java 17 and Maven), arcadedb (the
    embedded ArcadeDB Bolt server: Python only), or auto (the default: neo4j where it can
    run, else arcadedb; the server already running in this home, if one is). One server per
    home: the other kind is refused while one runs (commands would go to the new one)."""
    from kgn_align.servers import server_for

    chosen, running = _home_server(app, kind)
    if running is not None and port is not None and port != running.bolt_port:
        raise click.UsageError(f"the {running.kind} server already runs in {app.home} on port "
                               f"{running.bolt_port}, not {port}: stop it first ('kgn-align server "
                               f"stop') to start it on another port")
    if running is not None and chosen != _kind(kind):  # auto, and the other kind runs
        click.echo(f"{_describe(running)}; already running in {app.home}: kgn-align commands use it")
        return
    options: dict[str, Any] = {"host": host, "bolt_port": port, "heap": heap}
    if tls:
        if chosen != "neo4j":
            raise click.UsageError("--tls needs the neo4j server (ArcadeDB's Bolt has no TLS here)")
        options["tls"] = True
    state = server_for(chosen, app.home, **options).start()  # one running (or half-started) is taken up
    click.echo(_describe(state) + (f"; already running in {app.home}: kgn-align commands use it"
                                   if running is not None else ""))


def _home_server(app: App, kind: str) -> tuple[str, Any]:
    """The kind of server to use in this home, and its state if one already runs there.
    ``auto`` takes the one running, else :func:`_kind`'s choice; a kind given while the
    other kind runs is a UsageError: commands use the one server of a home, and a second
    would take them over."""
    from kgn_align.servers import KINDS, server_for

    chosen = _kind(kind)
    for each in KINDS:
        running = server_for(each, app.home).state()
        if running is None:
            continue
        if each == chosen or kind == "auto":
            return each, running
        raise click.UsageError(
            f"the {each} server already runs in {app.home} ({running.uri}) and kgn-align commands "
            f"use it: stop it first ('kgn-align server stop {each}'), or give this one another --home")
    return chosen, None


@server.command("stop")
@click.argument("kind", type=click.Choice(["all", "neo4j", "arcadedb"]), default="all")
@click.pass_obj
def server_stop(app: App, kind: str) -> None:
    """Stop the server(s) kgn-align started (SIGTERM, then SIGKILL after 60 s).

    KIND: neo4j, arcadedb, or all (the default)."""
    from kgn_align.servers import KINDS, server_for

    stopped = 0
    for each in KINDS if kind == "all" else (kind,):
        local = server_for(each, app.home)
        _say_running_jobs(local.state())
        if local.stop():
            click.echo(f"{each} server stopped")
            stopped += 1
        elif kind != "all":
            click.echo(f"no {each} server was running")
    if kind == "all" and not stopped:
        click.echo(f"no kgn-align server was running (looked in {app.home / 'servers'})")


def _say_running_jobs(state: Any) -> None:
    """Before a server stops: the jobs a worker is running on it (their lease live), which
    the stop interrupts; with none running, the worker configurations whose workers ran
    lately (one may still poll, and then waits for a server: a trial's stop said nothing of
    it). Nothing when there is neither, or when the server does not answer."""
    if state is None or state.starting:
        return
    from kgn_align.graph import Graph
    from kgn_align.timing import epoch_ms
    from kgn_align.worker import SEEN_LATELY_TEXT, running_lately

    try:
        with Graph(state.connection()) as graph, graph.retrying_for(1.0):
            row = graph.read("server_running_jobs", {"now": epoch_ms(), "limit": 3})[0]
            scopes = [] if int(row["running"]) else graph.read("graph_worker_scopes", {"prefix": ""})
    except KgnAlignError as exc:
        log.debug("could not look for running jobs: %s", exc)
        return
    if int(row["running"]):
        more = f" and {int(row['running']) - len(row['shown'])} more" if int(row["running"]) > len(row["shown"]) else ""
        click.echo(f"stopping the {state.kind} server interrupts {row['running']} running job(s): "
                   f"{', '.join(row['shown'])}{more}; each is tried again once a server answers and "
                   "its lease runs out (stop the worker first to finish it)", err=True)
        return
    recent = running_lately(scopes)
    if recent:
        click.echo(f"a worker of {', '.join(recent)} ran on this {state.kind} server {SEEN_LATELY_TEXT}: "
                   "if it still runs, it waits for a server to answer (stop it first if it should "
                   "not)", err=True)


@server.command("status")
@click.pass_obj
def server_status(app: App) -> None:
    """Say which server runs, and where (JSON; "starting": true while Bolt does not answer
    yet). Exit code 3 if none does."""
    from kgn_align.servers import KINDS, bolt_answers, server_for

    states = [s for s in (server_for(k, app.home).state() for k in KINDS) if s is not None]
    if not states:
        click.echo(f"no kgn-align server running (looked in {app.home / 'servers'})", err=True)
        if os.environ.get("NEO4J_URI"):
            from kgn_align.config import connection_from_env

            try:
                uri = connection_from_env().uri  # without any credentials written into it
            except ConfigError as exc:
                uri = f"(not usable: {exc})"
            click.echo(f"commands connect to NEO4J_URI: {uri} (a server kgn-align did not start: "
                       "'server status' does not look at it)", err=True)
        sys.exit(3)
    for state in states:
        if state.starting and bolt_answers(state):  # up, though the command starting it was killed
            state = state.model_copy(update={"starting": False})
        click.echo(json.dumps({"kind": state.kind, "version": state.version, "uri": state.uri,
                               "browser": state.browser_url, "pid": state.pid,
                               "user": state.user, "database": state.database,
                               "password_file": str(state.password_file),
                               "tls_certificate": state.tls_certificate,
                               "data_dir": state.data_dir, "starting": state.starting}))


# ------------------------------------------------------------------------------- load
@cli.group()
def load() -> None:
    """Load a public benchmark from the datasets folder into the graph.

    Loads are idempotent (a second run adds nothing, and sets the benchmark's own property
    values back on nodes edited since: edits to a benchmark's nodes do not survive a
    reload; SAME_AS reviews do); bad input stops the load with the file and line at fault
    before anything is written.
    """


def _parse_split(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from kgn_align.datasets import KGSplit

    try:
        return KGSplit.parse(value)
    except KgnAlignError as exc:
        raise click.BadParameter(str(exc).removeprefix("split: ")) from None


#: --split of 'load kg' and 'evaluate' (the two must agree: evaluate scores the held-out part)
split_option = click.option(
    "--split", callback=_parse_split, metavar="first:SHARE|seeded:SHARE[:SEED]",
    help="How ref_ent_ids is cut into training and held-out pairs, for a KG folder without "
    "sup_ent_ids: the first SHARE of the file (first:0.3, the default), or a random SHARE "
    "drawn with SEED (seeded:0.3:7; SEED defaults to 0). 'evaluate --dataset' needs the same "
    "--split as the load.")

load_prefix_option = click.option(
    "--prefix", default="", help="Load under a folder of graph names: 'demo' (or 'demo/') names the "
    "graphs demo/<set>/<side> (the graph property). Give the same --prefix to the other commands.")
load_batch_option = click.option("--batch-size", type=click.IntRange(min=1), default=5000,
                                 show_default=True, help="Rows per write transaction.")


@load.command("kg")
@click.argument("name")
@datasets_option
@load_prefix_option
@click.option("--pairs", type=click.IntRange(min=1), default=None,
              help="Load only a slice: about this many gold pairs and their entities.")
@split_option
@load_batch_option
@click.pass_obj
def load_kg_cmd(app: App, name: str, prefix: str, pairs: int | None, split: Any,
                batch_size: int) -> None:
    """Load a knowledge-graph benchmark (entities, relations, training SAME_AS pairs).

    NAME is a folder in the DBP15K/SRPRS format (ent_ids_1/2, triples_1/2, ref_ent_ids,
    optional rel_ids_1/2, sup_ent_ids, translated_names.json): a path, or a folder name
    under DATASETS/kg (dbp15k_fr_en, dbp15k_ja_en, srprs_en_fr, or your own). Training
    pairs: sup_ent_ids when present, else the first 30% of ref_ent_ids (or what --split
    says); the rest are held out and never enter the graph.
    """
    from kgn_align import datasets, loaders

    ds = datasets.read_kg(name, app.datasets, split=split)
    if pairs is not None:
        ds = ds.slice(pairs)
    update, finish = stage_progress()
    try:
        report = loaders.load_kg(app.graph(), ds, prefix=prefix, batch_size=batch_size, progress=update)
    finally:
        finish()
    click.echo(report.model_dump_json(indent=2))


@load.command("remove")
@click.argument("name")
@load_prefix_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask first (it asks only at a terminal).")
@click.pass_obj
def load_remove_cmd(app: App, name: str, prefix: str, yes: bool) -> None:
    """Delete a loaded benchmark's graphs: every node whose graph property is under
    [PREFIX/]NAME/ (both sides), with all their relationships, SAME_AS edges included, and
    the load's records. NAME as it was loaded (dbp15k_fr_en, dblp_acm, ...); --prefix as
    given to the load ('kgn-align demo' loads under demo/). Worker configurations on these
    graphs are forgotten, with the jobs queued for them alone (their running workers get no
    more: stop them; jobs no configuration adopted yet stay, for the others), and so are the
    backfill runs over them (their run ids start afresh on a reload). Nothing else is touched. Prints
    how many nodes went, and how many SAME_AS reviews people made went with them (JSON;
    'kgn-align edges --all --csv FILE' first keeps a copy of them)."""
    from kgn_align import loaders

    if not name.strip() or "/" in name.strip("/"):
        raise click.BadParameter(f"{name!r}: give the benchmark's name as loaded (e.g. dbp15k_fr_en), "
                                 "and the folder it went under as --prefix", param_hint="NAME")
    folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    under = f"{folder}{name.strip('/')}/"
    found = app.graph().read("graph_prefix_count", {"prefix": under})[0]
    if not found["nodes"]:
        from kgn_align.errors import did_you_mean

        loaded = {g[len(folder):].split("/")[0] for g in
                  app.graph().read("graph_prefix_count", {"prefix": folder})[0]["graphs"]
                  if isinstance(g, str) and "/" in g[len(folder):]}
        hint = did_you_mean(name.strip("/"), loaded) or (
            f" (loaded{' under ' + repr(folder) if folder else ''}: {', '.join(sorted(loaded))})" if loaded else "")
        raise click.ClickException(f"no node's graph is under {under!r}: nothing to remove{hint} (a load "
                                   "under a folder needs the same --prefix)")
    # a person's reviews go for good (a reload brings back the load's seed pairs only): said
    # with their number, before and after (a trial's 6 reviews went without a word)
    reviews = int(app.graph().read("graph_prefix_reviews", {"prefix": under})[0]["reviews"])
    made = f"{reviews} SAME_AS review(s) people made (not the load's seed pairs)"
    lost = (f"{made}, which a reload does not bring back; 'kgn-align edges --all --csv FILE' keeps a copy"
            if reviews else "")
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete {found['nodes']} node(s) of graphs {', '.join(map(repr, found['graphs']))} "
                      "with their relationships (SAME_AS edges, reviewed ones too"
                      + (f": {lost}" if lost else "") + ")?", abort=True, err=True)
    scopes = app.graph().read("graph_worker_scopes", {"prefix": under})
    click.echo(json.dumps({"graphs": found["graphs"], "nodes": loaders.delete_graphs(app.graph(), under),
                           "reviews": reviews}, indent=2))
    if reviews:
        click.echo(f"deleted with the graphs: {made}", err=True)
    if scopes:
        from kgn_align.worker import SEEN_LATELY_TEXT, running_lately

        recent = running_lately(scopes)
        click.echo(f"forgot {len(scopes)} worker configuration(s) on these graphs, and the jobs queued "
                   f"for them alone: {', '.join(r['name'] for r in scopes)}"
                   + (f"; a worker of {', '.join(recent)} ran {SEEN_LATELY_TEXT}: "
                      "if it still runs, it gets no more jobs: stop it" if recent else ""), err=True)


@load.command("tables")
@datasets_option
@click.argument("name", type=click.Choice(["dblp_acm", "itunes_amazon"]))
@load_prefix_option
@load_batch_option
@click.pass_obj
def load_tables_cmd(app: App, name: str, prefix: str, batch_size: int) -> None:
    """Load a table benchmark as a multi-type graph (papers/authors/venues, songs/...).

    Training pairs become reviewed SAME_AS edges: dblp_acm's seeded 30% of its gold (the
    other 70% are what 'evaluate --dataset dblp_acm' scores against), itunes_amazon's
    labelled train split (matches accepted, non-matches rejected).
    """
    from kgn_align import datasets, loaders

    ds = datasets.read_tables(name, app.datasets)
    update, finish = stage_progress()
    try:
        report = loaders.load_tables(app.graph(), ds, prefix=prefix, batch_size=batch_size,
                                     progress=update)
    finally:
        finish()
    click.echo(report.model_dump_json(indent=2))


# ------------------------------------------------------------------------------ model
#: --dataset takes a table benchmark (dblp_acm, itunes_amazon) or any KG-format folder
#: (dbp15k_fr_en, dbp15k_ja_en, srprs_en_fr, your own: a name under DATASETS/kg or a path)
DATASET_CHOICE = click.STRING


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        app = ctx.find_object(App)
        app.config_path, app.config_given = value, True


def alignment_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = datasets_option(fn)
    fn = click.option("--config", type=click.Path(dir_okay=False), expose_value=False,
                      callback=_set_config, is_eager=True,
                      help="TOML file naming the two graphs (as the top-level --config).")(fn)
    fn = click.option("--prefix", default="", help="With --dataset: the prefix it was loaded with "
                      "(default none; 'make demo' loads under demo/). Not used with --config.")(fn)
    fn = click.option("--dataset", type=DATASET_CHOICE,
                      help="Align a benchmark loaded with 'kgn-align load' instead of --config: "
                      "dblp_acm, itunes_amazon, dbp15k_fr_en, dbp15k_ja_en, srprs_en_fr, or "
                      "another KG folder (its name under DATASETS/kg, or a path).")(fn)
    return fn


def show_progress(*loggers: str) -> None:
    """These loggers' INFO lines (training's epochs, scoring's stages) reach stderr even
    without -v: long work says what it is doing."""
    for name in loggers:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)


def output_path(_ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """An option's output file, checked before any work: its folder exists and is writable."""
    if value is not None:
        folder = value.parent
        if not folder.is_dir():
            raise click.BadParameter(f"{folder} is not a folder (create it first)", param=param)
        if not os.access(folder, os.W_OK):
            raise click.BadParameter(f"cannot write in {folder}", param=param)
    return value


def figure_path(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """:func:`output_path`, and a file type matplotlib can write (from the name's extension;
    none: PNG), checked before any work: a trial's ``--pr-curve pr.txt`` failed after the
    whole evaluation, its results unprinted."""
    value = output_path(ctx, param, value)
    if value is not None and value.suffix:
        from matplotlib.backend_bases import FigureCanvasBase

        kinds = FigureCanvasBase.get_supported_filetypes()
        if value.suffix[1:].lower() not in kinds:
            raise click.BadParameter(f"{value.name}: matplotlib cannot write {value.suffix!r} files; "
                                     f"name it .png (or {', '.join('.' + k for k in sorted(kinds) if k != 'png')})",
                                     param=param)
    return value


#: the local time that starts each line of a long-running command (the worker)
STAMP = "%Y-%m-%d %H:%M:%S"


class ProgressFormatter(logging.Formatter):
    """The CLI's log lines. Without -v (``plain_info``): INFO lines (progress) as plain
    text, warnings and errors with their level and logger; with -v every line so. A
    long-running command (the worker) sets ``stamped``: each line then starts with the
    local time, so that a log read later says when the server went away and came back."""

    def __init__(self, *, plain_info: bool = True) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.plain_info = plain_info
        self.stamped = False

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage() if self.plain_info and record.levelno == logging.INFO else super().format(record)
        return f"{self.formatTime(record, STAMP)} {text}" if self.stamped else text


class DriverRetryNote(logging.Filter):
    """The Neo4j driver's retry warnings (logger ``neo4j.session``: "Transaction failed and
    will be retried in 7.089817665171702s (<error>)", one per try) as one line in kgn-align's
    words per :attr:`interval` seconds, naming the error and how long the driver goes on
    (``give_up_s``, the connection's ``max_retry_time``), ``secret`` (the password) redacted
    from it; the driver's other warnings are dropped, as without -v (its errors pass).
    Without it a command whose server went away mid-transaction (a worker, after the server
    was stopped) said nothing for the driver's 30 s."""

    interval = 60.0

    def __init__(self, give_up_s: float, secret: str | None = None) -> None:
        super().__init__()
        self.give_up_s, self.secret = give_up_s, secret
        self._said: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        from kgn_align.errors import clipped, redact

        if record.levelno >= logging.ERROR:
            return True
        if not str(record.msg).startswith("Transaction failed and will be retried"):
            return False
        now = time.monotonic()
        if self._said is not None and now - self._said < self.interval:
            return False
        self._said = now
        cause = str(record.args[-1]) if isinstance(record.args, tuple) and record.args else ""
        record.msg = "the graph server did not answer (%s): trying again for up to %g s"
        first = (cause.splitlines() or ["no reason given"])[0]
        record.args = (clipped(redact(first, self.secret), 200), self.give_up_s)
        return True


def note_driver_retries(give_up_s: float | None, secret: str | None = None) -> None:
    """Show the driver's retries as :class:`DriverRetryNote` lines (``give_up_s``: seconds),
    or, with ``None``, leave its logger as the ``neo4j`` logger's level says (-v: its own
    lines). Called once per command: a second call replaces the first's filter."""
    session_log = logging.getLogger("neo4j.session")
    for old in [f for f in session_log.filters if isinstance(f, DriverRetryNote)]:
        session_log.removeFilter(old)
    if give_up_s is None:
        session_log.setLevel(logging.NOTSET)
        return
    session_log.setLevel(logging.WARNING)
    session_log.addFilter(DriverRetryNote(give_up_s, secret))


def stamp_log_lines() -> None:
    """Start the CLI's own log lines (not other handlers') with the local time."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, ProgressFormatter):
            handler.formatter.stamped = True


def _worker_threads() -> None:
    """One torch thread for the worker: it shares the cores with the graph server while a job
    runs, and a job scores a few candidate lists. Bulk work uses every core (dbp15k_fr_en
    evaluate: 72 s on one thread, 58 s on two)."""
    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(1)


@cli.command()
@alignment_options
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Passes over the training pairs (the best epoch on the validation pairs is kept).")
@click.option("--hidden", type=click.IntRange(min=4), default=32, show_default=True,
              help="Width of the pair model's hidden layers.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Stop after this many optimiser steps (a step: one batch of seed pairs), for quick "
              "smoke runs; default: all epochs.")
@click.option("--context", "context_beta", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Mix the names of each entity's neighbours into its own name vector with this "
              "weight before the GNN (0: each entity's own names only; the GNN still reads the "
              "neighbours). Try 0.1-0.3 when names alone are ambiguous.")
@click.option("--ablation", type=click.Choice(["no-cross", "no-self", "no-attributes", "uniform-sampling"]),
              default=None,
              help="Train without cross-graph attention, without self-attention, without the "
              "config's attribute_properties, or on neighbours sampled uniformly (not inverse to "
              "their relation's count; scoring then samples the same way), to measure what each "
              "adds (benchmarks/quality.py --ablation).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed of training: initial weights, batches, negatives and which "
              "reviewed pairs are held out for validation. Another seed gives another model; "
              "train a few to see how much a figure moves (benchmarks/quality.py --seeds).")
@click.pass_obj
def train(app: App, dataset: str | None, prefix: str, epochs: int, hidden: int,
          max_steps: int | None, context_beta: float, ablation: str | None, seed: int) -> None:
    """Train the pair model on reviewed SAME_AS edges already in the graph.

    Positives are edges with r.review = 'accepted' (seed pairs from 'kgn-align load', or
    your own reviews); hard negatives are look-alikes by name. The checkpoint lands in
    KGN_ALIGN_HOME/models/<version>.pt (and latest.pt); its version is what backfills
    write as the edges' 'model' property.
    """
    config = app.checked_config(dataset, prefix)  # before torch loads: a missing server is said at once
    from kgn_align.training import TrainConfig
    from kgn_align.workflows import to_json, train_model

    show_progress("kgn_align.training")
    if ablation == "uniform-sampling":
        config = config.model_copy(update={"sampling": config.sampling.model_copy(update={"weighted": False})})
    update, finish = stage_progress()
    try:
        trained = train_model(app.graph(), config, app.models_dir, hidden=hidden, progress=update,
                              model_options={"no-cross": {"cross_attention": False},
                                             "no-self": {"self_attention": False}}.get(ablation or "", {}),
                              attributes=ablation != "no-attributes", context_beta=context_beta,
                              train_config=TrainConfig(epochs=epochs, max_steps=max_steps, seed=seed))
    except KeyboardInterrupt:
        finish()
        click.echo(f"train interrupted: no model saved ({app.models_dir / 'latest.pt'} is the one "
                   "trained before, if any)", err=True)
        raise
    finally:
        finish()
    click.echo(to_json({"model": trained.version, "edges_model": trained.stamp.model, "path": str(trained.path),
                        "metrics": trained.metrics}))


@cli.command()
@alignment_options
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Checkpoint file, or a model id as 'train' prints it (or a unique start of it, 4 characters at least) "
              "(default: the latest, KGN_ALIGN_HOME/models/latest.pt).")
@click.option("--gold", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="CSV of held-out pairs 'source_key,target_key' (a first line 'source,target' or "
              "'source_key,target_key' is a header; a key in double quotes may hold commas; tabs "
              "separate too). With --dataset: its held-out pairs.")
@click.option("--gold-complete", is_flag=True,
              help="The --gold file lists every match: an edge on a source it does not list is "
              "wrong (precision over all edges). Without it such edges are counted, not judged.")
@click.option("--policy", type=click.Choice([p.value for p in Policy]), default="best",
              show_default=True, help="As 'backfill --policy'.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="As 'backfill --threshold'.")
@click.option("-k", "--candidates", "k", type=click.IntRange(1, 1000), default=CANDIDATES_PER_SOURCE,
              show_default=True,
              help="Candidates per source entity, as 'backfill -k'.")
@click.option("--bootstrap/--no-bootstrap", default=True, show_default=True,
              help="As 'backfill --bootstrap': pseudo-seeds from a first round (every method).")
@click.option("--method", "methods", type=click.Choice(list(VARIANT_NAMES)), multiple=True,
              help="Judge only these methods (repeatable; default: the model and both baselines).")
@click.option("--edges", "judge_graph", is_flag=True,
              help="Judge the model-written SAME_AS edges now in the graph instead (no model "
              "needed): precision, recall and F1 only.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=output_path,
              help="Also write the JSON here.")
@click.option("--pr-curve", type=click.Path(dir_okay=False, path_type=Path), callback=figure_path,
              help="Write the precision-recall curve of the model's scores and their reliability "
              "diagram as a PNG here (not with --edges: the graph holds only the edges above the "
              "threshold).")
@split_option
@click.pass_obj
def evaluate(app: App, dataset: str | None, prefix: str, model_path: Path | None, gold: Path | None,
             gold_complete: bool, policy: str, threshold: float, k: int, bootstrap: bool,
             methods: tuple[str, ...],
             judge_graph: bool, out: Path | None, pr_curve: Path | None, split: Any) -> None:
    """Judge the SAME_AS edges a backfill would write, over the whole source side.

    \b
    The backfill runs dry, with these options (its defaults unless given), for the model
    and for two baselines with everything else equal:
      propagation-sinkhorn  names and seed anchors propagated to neighbours + Sinkhorn (no GNN)
      neighbourhood-cosine  the same without Sinkhorn
    Reported per method: precision, recall and F1 of those edges against held-out gold
    (precision over every edge when the gold is complete, as DBLP-ACM's; otherwise edges
    on sources outside the gold are counted with their scores); Hits@1/10 and MRR among
    every open target and under the usual protocol (among the gold targets); and the
    calibration of the scores (expected calibration error, reliability table).
    With --edges, the model-written edges already in the graph are judged instead:
    precision, recall and F1 only (the graph holds no candidate lists to rank).
    """
    from kgn_align import datasets

    if judge_graph and pr_curve is not None:
        raise click.UsageError("--pr-curve goes with a dry run of the model, not with --edges: the "
                               "graph holds only the edges above the threshold")
    if split is not None and (gold is not None or dataset is None
                              or not datasets.is_kg(dataset, app.datasets)):
        raise click.UsageError("--split goes with --dataset of a KG folder (its held-out pairs), "
                               "not with --gold or a table dataset")
    config = app.checked_config(dataset, prefix)  # before torch loads: a missing server is said at once
    from kgn_align.scoring import ModelScorer
    from kgn_align.snapshot import take
    from kgn_align.workflows import evaluate_alignment, judge_graph_edges, to_json

    held_out = _gold(app, dataset, gold, gold_complete, split)
    if judge_graph:
        result: dict[str, Any] = {"edges_in_graph": judge_graph_edges(app.graph(), config, held_out)}
    else:
        from kgn_align.backfill import BackfillOptions
        from kgn_align.writeback import labelled_pairs

        trained = app.load_model(model_path)
        update, finish = stage_progress()
        try:
            snapshot = take(app.graph(), config, progress=update, model=trained)
        finally:
            finish()
        show_progress("kgn_align.scoring")
        scorer = ModelScorer(snapshot, trained, k=k, labelled=labelled_pairs(app.graph(), config),
                             bootstrap=bootstrap)
        options = BackfillOptions(policy=Policy(policy), threshold=threshold)
        result = evaluate_alignment(app.graph(), config, scorer, held_out, options,
                                    methods=methods or VARIANT_NAMES, pr_curve=pr_curve)
    text = to_json(result)
    click.echo(text)
    for line in evaluation_summary(result):  # people read this; the JSON above is for programs
        click.echo(line, err=True)
    if out is not None:
        out.write_text(text + "\n")


def evaluation_summary(result: dict[str, Any]) -> list[str]:
    """One line per judged method of ``evaluate``'s JSON: precision, recall and F1 of its
    edges, Hits@1 among all open targets and under the usual protocol, its seconds; and
    where the gold labels pairs (iTunes-Amazon's test split), P/R/F1 over those pairs."""
    if "edges_in_graph" in result:
        m = result["edges_in_graph"]
        return [f"edges in the graph: P {m['precision']:.4f} R {m['recall']:.4f} F1 {m['f1']:.4f} "
                f"({m['edges']} edges, {m['gold_pairs']} gold pairs){_unjudged(m)}"]
    lines = []
    for name, m in result["methods"].items():
        lines.append(f"{name:<22} P {m['precision']:.4f} R {m['recall']:.4f} F1 {m['f1']:.4f}  "
                     f"Hits@1 all {m['all_targets']['hits@1']:.4f} protocol "
                     f"{m['protocol']['hits@1']:.4f}  logit weight {m['logit_weight']:g}  "
                     f"{m['seconds']:.1f} s{_unjudged(m)}")
        if "labelled_test_pairs" in m:  # the benchmark's own protocol (pair classification)
            t = m["labelled_test_pairs"]
            lines[-1] += (f"\n{'':<22} labelled test pairs: P {t['precision']:.4f} R {t['recall']:.4f} "
                          f"F1 {t['f1']:.4f} ({t['pairs']} pairs, {t['matches']} matches)")
    return lines


def _unjudged(m: dict[str, Any]) -> str:
    """The edges a partial gold cannot judge (on sources it does not list), when there are
    any: precision above leaves them out, and a reader must not take it for all the edges."""
    n = m.get("edges_on_other_sources", 0)
    if not n or m.get("other_sources_judged_wrong", False):
        return ""
    quartiles = m.get("other_sources_score_quartiles") or []
    median = f", median score {quartiles[1]:.2f}" if len(quartiles) == 3 else ""
    return (f"\n{'':<22} + {n} edge(s) on sources outside the gold, not judged{median} "
            "(--gold-complete counts them wrong)")


def _gold(app: App, dataset: str | None, gold: Path | None, complete: bool, split: Any = None) -> Any:
    """The held-out gold: a --gold file, else the benchmark's held-out pairs (DBLP-ACM's
    ground truth is complete: every pair outside the training split)."""
    from kgn_align import datasets
    from kgn_align.evaluation import Gold
    from kgn_align.workflows import read_gold

    if gold is not None:
        return Gold(dict(read_gold(gold)), complete)
    if dataset is not None and datasets.is_kg(dataset, app.datasets):
        return Gold({str(a): str(b) for a, b in
                     datasets.read_kg(dataset, app.datasets, split=split).test_pairs})
    if dataset in ("dblp_acm", "itunes_amazon"):
        tables = datasets.read_tables(dataset, app.datasets)
        pairs = dict(tables.held_out_matches())  # one target per source: the last one's (see Gold)
        # iTunes-Amazon's test split labels non-matches too: also judged as pair classification
        labelled = tuple(tables.splits["test"]) if dataset == "itunes_amazon" else ()
        return Gold(pairs, complete=dataset == "dblp_acm", labelled=labelled)
    raise click.UsageError("give --gold FILE (or --dataset with held-out gold pairs)")


@cli.command()
@click.argument("source_key")
@click.argument("target_key", required=False)
@alignment_options
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Checkpoint file, or a model id as 'train' prints it (or a unique start of it, 4 characters at least) "
              "(default: the latest, KGN_ALIGN_HOME/models/latest.pt).")
@click.option("--top", type=click.IntRange(min=1), default=8, show_default=True,
              help="Neighbours shown per side; without TARGET_KEY: candidates shown.")
@click.option("-k", "--candidates", "k", type=click.IntRange(1, 1000), default=CANDIDATES_PER_SOURCE,
              show_default=True, help="Without TARGET_KEY: as 'backfill -k'.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Without TARGET_KEY: as 'backfill --threshold'.")
@click.option("--policy", type=click.Choice([p.value for p in Policy]), default="best", show_default=True,
              help="Without TARGET_KEY: as 'backfill --policy'.")
@click.option("--bootstrap/--no-bootstrap", default=True, show_default=True,
              help="Without TARGET_KEY: as 'backfill --bootstrap'.")
@click.pass_obj
def explain(app: App, source_key: str, target_key: str | None, dataset: str | None, prefix: str,
            model_path: Path | None, top: int, k: int, threshold: float, policy: str,
            bootstrap: bool) -> None:
    """Why the model scores SOURCE_KEY and TARGET_KEY as it does: the score, and the
    neighbours (with relation and attention weight) that drove it on both sides.

    With SOURCE_KEY alone: why that source gets the SAME_AS edge it gets, or none. Its
    candidates, best first, with the scores a backfill with the same options (-k,
    --threshold, --policy, --bootstrap: the backfill's defaults unless given) gives them,
    and what becomes of each: chosen, below the threshold, rejected by a review, given to
    another source under one-to-one. The whole side is aligned for it (each source competes
    for its targets): it takes about as long as a backfill's scoring.

    Each key is the whole key (a key_property value; the loaded benchmarks' keys are their
    entity ids, e.g. 0 and 10500), or a unique end of it after '/', '#' or ':' (for a key
    http://fr.dbpedia.org/resource/Paris: resource/Paris or Paris). A part that ends
    several keys is refused with a few of them named."""
    from kgn_align import preflight
    from kgn_align.explaining import explain_pair, explain_source, render, render_source

    given = [o for o, default in (("-k", k == CANDIDATES_PER_SOURCE), ("--threshold", threshold == 0.5),
                                  ("--policy", policy == "best"), ("--no-bootstrap", bootstrap))
             if not default]
    if target_key is not None and given:
        raise click.UsageError(f"{', '.join(given)}: only without TARGET_KEY (a source's candidates); "
                               "a pair's explanation does not depend on them")
    config = app.align_config(dataset, prefix)  # which graphs, first: the most basic question
    trained = app.load_model(model_path)
    preflight.check(app.graph(), config)
    if target_key is not None:
        click.echo(render(explain_pair(app.graph(), config, trained, source_key, target_key), top=top))
        return
    trained.refuse_unfamiliar = model_path is None  # as backfill: not another graph's model
    trained.check_reading(config)
    show_progress("kgn_align.scoring", "kgn_align.explaining")
    view = explain_source(app.graph(), config, trained, source_key, k=k, threshold=threshold,
                          policy=Policy(policy), bootstrap=bootstrap)
    click.echo(render_source(view, top=top))


def job_options(job_id: str, params: Any, threshold: float, policy: Policy) -> Any:
    """The BackfillOptions of a job: what its params say, the worker's ``threshold`` and
    ``policy`` where they say nothing (change capture's 'changed' jobs never do)."""
    from kgn_align.backfill import BackfillOptions

    given = params.model_fields_set
    return BackfillOptions(run_id=params.run_id or f"job-{job_id}",
                           policy=params.policy if "policy" in given else policy,
                           threshold=params.threshold if "threshold" in given else threshold)


def job_line(outcome: Any) -> str:
    """One line per ended job: ``job ID KIND: STATUS in S s, edges: N created, N updated,
    N retracted``, or for a job that did not finish ``job ID KIND: STATUS in S s: ERROR``
    (its result holds no counts: what an interrupted backfill wrote is in its run); one
    queued again for another try says so: ``failed after S s, queued to be tried again: ERROR``."""
    from kgn_align.errors import clipped

    r = outcome.result
    line = f"job {outcome.id} {outcome.kind}: {outcome.status} in {outcome.seconds:.2f} s"
    if outcome.status == "queued":  # a failure worth another try: queued again, not 'queued in 85 s'
        line = f"job {outcome.id} {outcome.kind}: failed after {outcome.seconds:.2f} s, queued to be tried again"
    if outcome.error:
        first = outcome.error.strip().splitlines()[0] if outcome.error.strip() else "(no reason given)"
        return f"{line}: {clipped(first, 300)}"
    if "run_with" in r:  # its work ran in another job, which counts the edges
        return f"{line}: run together with job {r['run_with']}"
    line += (f", edges: {r.get('created', 0)} created, {r.get('updated', 0)} updated, "
             f"{r.get('retracted', 0)} retracted")
    if r.get("keyless"):
        line += (f" ({r['keyless']} of its nodes lie on a side without the key property: not aligned "
                 "until they get one)")
    elif outcome.kind == "changed" and r.get("entities") == 0 and "sources" in r:
        # the plugin queues a job for every write in the database, other graphs' too
        line += " (its nodes are no source entity and move none: nothing to re-align)"
    if r.get("status") == "already-done":
        line += (f" (run {r.get('run_id')!r} was already complete: nothing aligned; give each "
                 "request a new run_id, or none)")
    return line


@cli.command()
@alignment_options
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Checkpoint file or model id (or a unique start of it, 4 characters at least) for the jobs "
              "(default: the latest, KGN_ALIGN_HOME/models/latest.pt).")
@click.option("--burst", is_flag=True, help="Run the jobs that are due, then exit: 0 when every job it "
              "ran finished done, 1 when one failed or was queued again for a later try.")
@click.option("--max-jobs", type=click.IntRange(min=1), default=None,
              help="Exit after this many jobs; exit status as with --burst.")
@click.option("--lease", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="Seconds a claimed job stays ours without a heartbeat.")
@click.option("--poll", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Seconds between looks for new jobs.")
@click.option("--warm/--no-warm", default=None,
              help="Score the whole side with the model before the first claim, so that the first "
              "'changed' job re-scores only what its change touched, and run a 'changed' job's "
              "path dry (nothing written) so the server has planned its queries (startup takes "
              "longer). Default: on, off with --burst.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Lowest score written by jobs whose params do not say (all 'changed' jobs "
              "from change capture): set it as for your backfills, or edits undo their choice.")
@click.option("--policy", type=click.Choice([p.value for p in Policy]), default="best", show_default=True,
              help="Policy of jobs whose params do not say (all 'changed' jobs from change capture); "
              "one-to-one also keeps the targets other sources' edges hold.")
@click.option("-k", "--candidates", "k", type=click.IntRange(1, 1000), default=CANDIDATES_PER_SOURCE,
              show_default=True,
              help="Candidates per source entity of jobs whose params do not say (all 'changed' "
              "jobs from change capture): as your backfills' -k.")
@click.option("--keep-jobs", "keep_days", type=click.FloatRange(min=0), default=7.0, show_default=True,
              metavar="DAYS",
              help="Delete finished jobs (done or failed) and completed backfill runs older than "
              "this, checked hourly while idle ('inf': keep them all). Queued and running jobs, "
              "and runs that can still be resumed, always stay.")
@click.pass_obj
def worker(app: App, dataset: str | None, prefix: str, model_path: Path | None, burst: bool,
           max_jobs: int | None, lease: float, poll: float, warm: bool | None, threshold: float,
           policy: str, k: int, keep_days: float) -> None:
    """Run alignment jobs requested in the graph, until SIGTERM (or, with --burst, idle).

    \b
    Request one from Cypher, with the Neo4j plugin (checked in your transaction):
      CALL kgn.requestAlignment('backfill', '{"threshold": 0.5}') YIELD jobId
    or with plain Cypher on any server (plugin/request_job.cypher; checked by the worker):
      CREATE (:AlignmentJob {id: randomUUID(), kind: 'backfill', status: 'queued',
                             params: '{"threshold": 0.5}', requestedAt: datetime(), attempts: 0})

    Kinds: 'backfill' (params: threshold, policy, run_id, k) and 'changed' (queued by the
    plugin's change capture or the APOC trigger; params.nodeIds: re-align only the source
    entities those nodes can affect; unchanged edges are left as they are). A job whose
    params leave out threshold or policy (every captured 'changed' job) takes the worker's
    --threshold, --policy and -k: give the ones your backfills use (a request's own
    settings are for that job only, and the next captured change re-aligns what it touches
    with the worker's). A run_id names one
    resumable run: a request naming a finished run does nothing (its line says so). Between
    'changed' jobs the worker keeps the sampled graph, the blocking results and the pair
    scores, and redraws only what a change touches; a 'backfill' job samples afresh (so do
    a new model and a change it cannot follow, such as a node created on a side; deleted
    relationships are not captured and reach it with the next backfill). 'changed' jobs keep
    the logit weights and pseudo-seeds the last whole-side alignment chose; a 'backfill'
    job chooses them again from the graph as it is now, so after many changes it may update
    many scores by a little and add or drop an edge near the threshold. A job with bad
    params, or of another kind, is marked failed with the reason. A finished job's result
    (JSON) counts the edges created, updated, unchanged and retracted; each job it claims prints a
    line, after the local time as the log lines are (jobs it marks failed without claiming them — of an unknown kind, with no status or
    one no worker knows, such as 'QUEUED', or for a configuration no worker registered — are
    named in the log on stderr and counted in the last line): 'job ID KIND: STATUS in S s, edges: N created, N updated, N retracted' (a 'changed'
    job whose nodes move no source entity says so, and names its nodes that lie on a side
    without the key property: no sample holds them), or for one that failed
    'job ID KIND: failed in S s: REASON'.
    A job that fails for a passing reason (the server away) is tried again after 5, 30 and
    120 s; one whose worker died is taken over when its lease runs out, and one whose worker
    died in each of 4 attempts (killed, out of memory) is marked failed, not tried again.
    A person's review of a SAME_AS edge (r.review set, changed or removed) is a captured
    change too: both ends are aligned again. Change capture queues a job per transaction:
    the 'changed' jobs waiting when one is claimed run with it, as one re-alignment of all
    their nodes (each job's line then says which job it ran with). Jobs name no graphs:
    workers of several configurations (pairs of graphs) can share one database. A worker
    adopts the jobs queued without a configuration and queues a copy of each for every other
    configuration whose workers ran in the last 7 days, so each re-aligns its own graphs (a
    change to graphs none aligns is done in a moment); workers of one configuration share
    its jobs, each run once. Finished jobs are kept --keep-jobs days.
    First SIGTERM/Ctrl-C (or SIGHUP) finishes the current job; a second stops at once and
    hands the job back to the queue (that try is not counted among its attempts).
    """
    import math
    import threading
    from datetime import timedelta

    if threading.current_thread() is threading.main_thread():
        # an explicit kill -INT stops the warm-up too (a shell starts background jobs with
        # SIGINT ignored; the worker's own handler, from the first claim on, would honour it)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # fails now, clearly, before torch loads (seconds): no server, bad config
    config = app.checked_config(dataset, prefix)
    from kgn_align import jobs
    from kgn_align.backfill import BackfillFilter, BackfillOptions, RunConflict, run_backfill
    from kgn_align.changes import forget_changed
    from kgn_align.scoring import ModelScorer, ScoringCache, TrainedModel
    from kgn_align.snapshot import Snapshot, refreshed, take
    from kgn_align.timing import StageClock
    from kgn_align.worker import Job, PermanentJobError, Worker
    from kgn_align.writeback import labelled_pairs, plan_merge

    _worker_threads()
    show_progress("kgn_align.worker")  # its start, each claim, and a stop request reach stderr
    stamp_log_lines()

    loaded: dict[tuple[str, int], TrainedModel] = {}
    #: versions of latest.pt that fit another configuration (trained for another dataset in
    #: this home while the worker ran): skipped, the model before them kept
    unfitting: set[tuple[str, int]] = set()
    #: level-0 vectors, pair scores, blocking results and vectors of the loaded model, kept
    #: between 'changed' jobs: each job drops what its change moves, so only that is redone
    cache = ScoringCache()
    #: the sampled graph, kept likewise: a 'changed' job redraws only the changed nodes' lists
    kept: dict[str, Snapshot] = {}

    def snapshot(trained: TrainedModel, changed: list[str] | None = None) -> Snapshot:
        """The kept snapshot, refreshed from the ``changed`` nodes; sampled afresh for a
        backfill, a new model, or a change a refresh cannot follow (a new node)."""
        snap = kept.get("snapshot") if changed is not None else None
        if snap is not None:
            snap = refreshed(app.graph(), snap, changed, model=trained)
        if snap is None:
            cache.clear()  # what changed since is not known: score afresh
            snap = take(app.graph(), config, model=trained)
        kept["snapshot"] = snap
        return snap

    def model() -> TrainedModel:
        """The checkpoint, loaded (and its hash checked) once per file version, not per job;
        a new latest.pt (a new training) is picked up by the next job. A new latest.pt that
        does not fit this configuration (another dataset trained in this home while the
        worker runs) is said once and skipped: the model before it stays (a new user's
        trial: every job failed, for good, from that training on)."""
        from kgn_align.scoring import UnfamiliarModel, checkpoint_path

        path = checkpoint_path(model_path, app.models_dir)
        try:
            stamp = (str(path.resolve()), path.stat().st_mtime_ns)
        except OSError:
            return app.load_model(model_path)  # says clearly that there is no model
        before = next(iter(loaded.values()), None)
        if stamp in unfitting and before is not None:
            return before
        if stamp not in loaded:
            trained = app.load_model(path)
            trained.refuse_unfamiliar = model_path is None  # as backfill: not another graph's
            try:
                trained.check_reading(config)  # a model of other settings fails its jobs at once
            except UnfamiliarModel as exc:
                if before is None or model_path is not None:
                    raise
                unfitting.add(stamp)
                log.warning("the latest model %s does not fit this worker's configuration (%s); the "
                            "worker keeps model %s (restart it with --model to choose another)",
                            trained.version, exc, before.version)
                return before
            loaded.clear()
            cache.clear(names=True)  # vectors belong to one featurizer
            kept.clear()  # trees are drawn as the model was trained
            loaded[stamp] = trained
            if before is not None and trained.version != before.version:
                click.echo(f"worker: new model {trained.version} (was {before.version}): this job "
                           "samples and scores afresh", err=True)
        return loaded[stamp]

    def prepare(job: Job) -> tuple[TrainedModel, Any]:
        try:
            params = jobs.parse(job.kind, job.params)
            trained = model()
        except KgnAlignError as exc:
            raise PermanentJobError(str(exc)) from None
        return trained, params

    def prune(graph: Any) -> None:
        pruned = jobs.prune_finished(graph, timedelta(days=keep_days))
        if pruned:
            log.info("deleted %d finished job(s) and run(s) older than %g day(s)", pruned, keep_days)

    def options(job: Job, params: Any) -> BackfillOptions:
        return job_options(job.id, params, threshold, Policy(policy))

    def result(summary: Any) -> dict[str, Any]:
        return {"run_id": summary.run_id, "status": summary.status, "created": summary.writes.created,
                "updated": summary.writes.updated, "unchanged": summary.writes.unchanged,
                "retracted": summary.writes.retracted, "entities": summary.entities,
                "started_over": summary.restarted}

    def backfill(job: Job, trained: TrainedModel, params: Any) -> dict[str, Any]:
        cache.choose_again()  # the whole side is re-scored: logit weights from the graph as it is
        scorer = ModelScorer(snapshot(trained), trained,
                             k=params.k if "k" in params.model_fields_set else k, cache=cache,
                             labelled=labelled_pairs(app.graph(), config))
        return result(run_backfill(app.graph(), config, scorer, trained.stamp, options(job, params),
                                   before_write=job.check_lease))

    def permanent(handler: Callable[[Job], dict[str, Any]],
                  *errors: type[Exception]) -> Callable[[Job], dict[str, Any]]:
        """``handler``, with ``errors`` failing the job at once: no retry mends them."""
        def run_job(job: Job) -> dict[str, Any]:
            try:
                return handler(job)
            except errors as exc:
                raise PermanentJobError(str(exc)) from None
        return run_job

    def run(job: Job) -> dict[str, Any]:
        trained, params = prepare(job)
        return backfill(job, trained, params)

    def realign(trained: TrainedModel, node_ids: list[str], run: BackfillOptions,
                before_write: Any = None, own_run: bool = False) -> dict[str, Any]:
        """What a 'changed' job does: the kept snapshot refreshed from the changed nodes,
        what they move dropped from the cache, the sources they can move aligned again."""
        clock = StageClock()
        snap = snapshot(trained, node_ids)
        clock.lap("refresh")  # the changed nodes read again, their lists redrawn
        unkeyed = keyless(trained, node_ids)
        scorer = ModelScorer(snap, trained, k=k, cache=cache, labelled=labelled_pairs(app.graph(), config))
        keys = forget_changed(scorer, node_ids)
        clock.lap("prepare")  # reviews, blocking and anchor vectors, what the change moved
        if not keys:
            return {"run_id": run.run_id, "created": 0, "updated": 0, "unchanged": 0,
                    "retracted": 0, "entities": 0, "sources": [], **unkeyed, "stages_s": clock.laps}
        scorer.alignment
        clock.lap("align")  # candidates searched again where moved, pair scores, Sinkhorn
        if own_run:  # one run per set of sources: see run_changed
            digest = hashlib.sha256(json.dumps(sorted(keys)).encode()).hexdigest()[:8]
            run = run.model_copy(update={"run_id": f"{run.run_id}-{digest}"})
        done = result(run_backfill(app.graph(), config, scorer, trained.stamp, run,
                                   BackfillFilter(keys=tuple(keys)), before_write=before_write))
        clock.lap("write")
        return {**done, "sources": keys[:CHANGED_KEYS_SHOWN], **unkeyed, "stages_s": clock.laps}

    def keyless(trained: TrainedModel, node_ids: list[str]) -> dict[str, int]:
        """``{"keyless": n}`` for the changed nodes on a side without the key property (no
        sample holds them: a trial's new node was skipped without a word), said in the log;
        ``{}`` when there are none."""
        from kgn_align.sampling import Sampler
        from kgn_align.snapshot import model_sampling

        sampler = Sampler(app.graph(), config, model_sampling(config, trained))
        counts = {side.name: sampler.keyless_among(side, node_ids) for side in (config.source, config.target)}
        for name, n in counts.items():
            if n:
                log.warning("%d changed node(s) on side %s have no %r property: no sample holds them, so "
                            "they are not aligned (nor do they count as neighbours) until they get a unique one",
                            n, name, config.key_property)
        return {"keyless": sum(counts.values())} if any(counts.values()) else {}

    def run_changed(job: Job) -> dict[str, Any]:
        trained, params = prepare(job)
        if not params.complete:
            log.info("job %s: more changes than listed; re-aligning the whole source side", job.id)
            return backfill(job, trained, params)
        # the job's own run (no run_id in its params) is named for the sources it re-aligns
        # too: a retry that took other companions, or came after other changes, re-aligns
        # other sources, and resuming the first attempt's run was refused as 'started with
        # other settings' until the job failed for good (a code review); the same sources
        # resume it
        return realign(trained, list(params.nodeIds), options(job, params), job.check_lease,
                       own_run=params.run_id is None)

    try:
        model()  # one that does not fit the configuration is refused now, not job by job
    except ConfigError:
        raise
    except KgnAlignError:
        if model_path is not None:
            raise  # the model asked for is not there: refused now, not by failing every job
        # none trained yet under this home: the warm-up, or each job, says so (and the
        # first training's latest.pt is picked up by the next job)
    if warm is None:
        warm = not burst
    if warm:
        import tempfile

        try:
            trained = model()
        except KgnAlignError as exc:
            log.warning("not warming up: %s", exc)
        else:
            click.echo(f"worker warming up with model {trained.version}: sampling both sides and "
                       "scoring every source once, so that 'changed' jobs redo only what they touch ...")
            started = time.perf_counter()
            snap = snapshot(trained)
            ModelScorer(snap, trained, k=k, cache=cache, labelled=labelled_pairs(app.graph(), config)).alignment
            # A 'changed' job's path, run dry (nothing written) for one source entity, twice:
            # the server plans and compiles its queries on their first runs (the first jobs
            # after a start took 3.1 and 2.1 s, later ones 1.2 s, on dbp15k_fr_en)
            some = [snap.source.table.ids[next(iter(snap.source.aligned_row.values()))]] \
                if snap.source.aligned_row else []
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    for _ in range(2 if some else 0):
                        realign(trained, some, BackfillOptions(run_id="worker-warm-up",
                                                               dry_run=Path(tmp) / "edges.csv"))
                    plan_merge(app.graph(), config, trained.stamp)  # and the write, over no rows
                except KgnAlignError as exc:
                    log.warning("warm-up of the 'changed' path stopped: %s", exc)
            click.echo(f"worker warm: {len(cache.logits)} pair scores kept "
                       f"({time.perf_counter() - started:.1f} s)")
    # a run id naming a run with other settings, a default model of another graph
    # (and a graph that no longer fits the configuration: two entities of a side with one key)
    handlers = {"backfill": permanent(run, RunConflict, ConfigError),
                "changed": permanent(run_changed, ConfigError)}
    ended: Counter[str] = Counter()

    def said(outcome: Any) -> None:
        ended[outcome.status] += 1
        # stamped like the worker's log lines beside it (a trial's log file had times on
        # every line but these)
        click.echo(f"{time.strftime(STAMP)} {job_line(outcome)}")

    the_worker = Worker(app.graph(), handlers, lease_seconds=lease,
                        poll_seconds=poll, known_kinds=frozenset(jobs.KINDS), connect=app.reconnect,
                        on_outcome=said, housekeeping=None if math.isinf(keep_days) else prune,
                        together={"changed": jobs.merge_changed}, scope=jobs.scope_of(config))
    the_worker.run(burst=burst, max_jobs=max_jobs)
    unfinished = {status: n for status, n in ended.items() if status in ("failed", "queued")}
    if the_worker.failed_unrun:  # unknown kind, no known status: said in the log above
        unfinished["marked failed without running (see above)"] = the_worker.failed_unrun
    click.echo(f"{time.strftime(STAMP)} worker stopped after {sum(ended.values())} job(s)"  # one line printed for each
               + "".join(f", {n} {'queued again' if status == 'queued' else status}"
                         for status, n in sorted(unfinished.items())))
    if (burst or max_jobs is not None) and unfinished:
        # a burst or a set number of jobs is a batch run (a cron line, a CI step): its exit
        # status says whether the jobs it ran got done; a long-running worker's says only how
        # the worker itself ended
        raise SystemExit(1)


@cli.command()
@alignment_options
@click.pass_obj
def check(app: App, dataset: str | None, prefix: str) -> None:
    """Check the configuration against the graph, and do nothing else.

    The checks every command runs first (reads only, a few aggregate queries): each
    side has entities, with the key property, unique keys and a name property;
    attribute properties and relationship types exist (entity labels: warned about);
    the entities have neighbours on their side to sample; no node is on both sides;
    reviewed SAME_AS edges do not mostly point from target to source (warned about);
    enough accepted pairs to train on (warned about; and too few for a steady
    calibration, under 90).

    Problems: one line naming each (with a near miss), exit 1. Otherwise prints what
    was found (JSON: entities, keyed and named per side, the reviewed SAME_AS pairs
    training would learn from, warnings) and exits 0.
    """
    from kgn_align import preflight
    from kgn_align.writeback import labelled_pairs

    config = app.align_config(dataset, prefix)
    report = preflight.check(app.graph(), config)
    warnings = list(report.warnings)
    reviews = [review for _, _, review in labelled_pairs(app.graph(), config, warnings)]
    accepted = reviews.count("accepted")
    if accepted < preflight.MIN_ACCEPTED:  # 'train' would refuse: say so here, where the graph is looked at
        warnings.append(f"only {accepted} accepted {config.same_as_type} pairs between the sides: 'train' "
                        f"needs at least {preflight.MIN_ACCEPTED} (the seed alignment: SAME_AS edges from a source "
                        "to a target entity with r.review = 'accepted')")
    else:
        from kgn_align.training import TrainConfig, validation_count

        held, least = validation_count(accepted), TrainConfig().min_validation
        if held < least:  # what 'train' and every scorer would warn of
            warnings.append(f"{accepted} accepted {config.same_as_type} pairs: 'train' holds {held} out for "
                            f"validation, on which the scores are calibrated; with fewer than "
                            f"{least} (under {3 * least} accepted "
                            "pairs) the scores move when reviews change, and a source without a "
                            "counterpart may get a confident edge")
    for said in warnings[len(report.warnings):]:
        log.warning("%s", said)
    sides = {which: {"name": r.name, "entities": r.entities, "keyed": r.keyed, "named": r.named}
             for which, r in (("source", report.source), ("target", report.target))}
    click.echo(json.dumps({**sides, "accepted_pairs": reviews.count("accepted"),
                           "rejected_pairs": reviews.count("rejected"),
                           "on_both_sides": report.on_both_sides, "warnings": warnings}, indent=2))
    click.echo(f"the graph matches the configuration ({len(warnings)} warning(s))", err=True)


@cli.command()
@alignment_options
@click.option("--bookkeeping", is_flag=True, help="Also delete run progress and finished jobs "
              "of every dataset (queued and running jobs stay, and so do runs a process "
              "touched in the last 10 minutes and did not stop: a run stopped by Ctrl-C or "
              "SIGTERM goes, and its --run-id starts afresh).")
@click.option("--only-bookkeeping", "older_than", type=click.FloatRange(min=0), default=None,
              metavar="DAYS",
              help="Delete only the jobs that finished (done or failed) and the backfill runs that "
              "completed more than DAYS ago (0: all of them), as the worker's --keep-jobs does "
              "hourly; no edge, no kgnHash, no --dataset needed.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask first (it asks only at a terminal).")
@click.pass_obj
def clean(app: App, dataset: str | None, prefix: str, bookkeeping: bool, older_than: float | None,
          yes: bool) -> None:
    """Remove what kgn-align's alignment wrote for the configured two sides.

    \b
    Removed: model-written SAME_AS edges between the sides (r.model set; edges with
    r.review set, the ones a person accepted or rejected, stay, and so do SAME_AS edges
    kgn-align did not write) and the sampler's 'kgnHash' property on the
    sides' nodes. With --bookkeeping also every backfill's run progress (KgnBackfillRun)
    and every finished AlignmentJob, of all datasets (they do not record which sides they
    were for), except a run that a process started or wrote in the last 10 minutes and did
    not stop: it may be writing now (named on stderr; a run whose progress goes anyway stops
    at its next batch, saying so). A run stopped by Ctrl-C or SIGTERM (it said how to go
    on) has no process writing it: its progress goes, and its --run-id then starts afresh. The graphs themselves, and what 'kgn-align load' created, are not touched.
    With --only-bookkeeping DAYS nothing but finished jobs and completed runs older than
    that goes (the worker prunes them so after --keep-jobs days). A worker of these sides
    that ran in the last 2 hours is named on stderr first: stop it, or its next job writes
    the edges again. Prints what was removed (JSON).
    """
    from kgn_align.writeback import clean as clean_up

    if older_than is not None:
        from datetime import timedelta

        from kgn_align.jobs import prune_finished

        if bookkeeping:
            raise click.UsageError("--bookkeeping and --only-bookkeeping: give one of them")
        click.echo(json.dumps({"bookkeeping_nodes": prune_finished(app.graph(), timedelta(days=older_than))},
                              indent=2))
        return
    config = app.checked_config(dataset, prefix)  # a wrong --prefix named, not 0 edges
    from kgn_align.jobs import scope_of
    from kgn_align.worker import SEEN_LATELY_TEXT, running_lately

    # said first, so that a person at the terminal can stop the worker (or answer no)
    for name in running_lately(app.graph().read("worker_scope_seen", {"key": scope_of(config).key})):
        click.echo(f"a worker of {name} ran {SEEN_LATELY_TEXT}: if it still runs, its "
                   "next job writes model edges again (stop it first)", err=True)
    if not yes and sys.stdin.isatty():  # a person at a terminal: say what goes first
        from kgn_align.writeback import count_named_edges

        also = " and every backfill's run progress and finished job" if bookkeeping else ""
        edges = count_named_edges(app.graph(), config)  # what clean deletes: model-written, unreviewed
        click.confirm(f"Delete the {edges:,} model-written SAME_AS edge{'' if edges == 1 else 's'} from {config.source.label} "
                      f"{config.source.property}={config.source.value!r} to {config.target.label} "
                      f"{config.target.property}={config.target.value!r} (reviewed ones stay), the "
                      f"sampler's kgnHash on both sides{also}?", abort=True, err=True)
    click.echo(json.dumps(clean_up(app.graph(), config, bookkeeping=bookkeeping), indent=2))


@cli.command()
@alignment_options
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Edges listed (with --csv: all of them unless given).")
@click.option("--weakest", is_flag=True,
              help="The lowest scores first (the edges most worth a review) instead of the highest.")
@click.option("--model", "model", default=None,
              help="Only the edges this model wrote: the model id train printed (3f2a9c1b7d0e; or "
              "a unique start of it, 4 characters at least), or its 'edges_model', as on r.model "
              "(kgn-align/3f2a9c1b7d0e).")
@click.option("--all", "everything", is_flag=True,
              help="Every SAME_AS edge between the sides: reviewed ones (accepted without a score "
              "count as 1.0) and ones kgn-align did not write, too.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), callback=output_path,
              help="Write the edges listed to this CSV file (source, target, both names, score, "
              "model, method, review) instead of a table: the unreviewed ones, with --all the "
              "reviewed and imported ones too.")
@click.pass_obj
def edges(app: App, dataset: str | None, prefix: str, limit: int, weakest: bool, model: str | None,
          everything: bool, csv_path: Path | None) -> None:
    """The SAME_AS edges kgn-align wrote between the configured sides and no one reviewed
    yet, with both ends' names: the strongest first, or the weakest with --weakest.

    What Neo4j Browser's cypher/browser_*.cypher queries show, on any server (ArcadeDB has
    no Browser). A person's verdict is the edge's review: set r.review = 'accepted' or
    'rejected' on it (Cypher): the next backfill keeps it as it is, and the next
    'kgn-align train' learns from it."""
    import csv

    from kgn_align.writeback import count_named_edges, named_edges

    config = app.checked_config(dataset, prefix)  # a wrong --prefix named, not 0 edges
    if model is not None and re.fullmatch(r"[0-9a-f]{4,64}", model):  # the id 'train' prints
        from kgn_align.scoring import trained_ids

        # or a unique start of one, as every other --model takes (a trial's '0487')
        starting = [i for i in trained_ids(app.models_dir) if i.startswith(model)]
        model = f"kgn-align/{starting[0] if len(starting) == 1 else model}"
    given = click.get_current_context().get_parameter_source("limit") == click.core.ParameterSource.COMMANDLINE
    found = named_edges(app.graph(), config, limit=limit if csv_path is None or given else None,
                        weakest=weakest, model=model, everything=everything)
    if csv_path is not None:
        with open(csv_path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["source", "target", "source_name", "target_name", "score", "model",
                             "method", "review"])
            for e in found:
                writer.writerow([e.source, e.target, e.source_name, e.target_name,
                                 "" if e.score is None else repr(e.score), e.model or "",
                                 e.method or "", e.review or ""])
        click.echo(f"{len(found)} SAME_AS edge(s) written to {csv_path}", err=True)
        return
    if not found:
        from kgn_align.scoring import other_graphs_of, trained_ids

        version = model.removeprefix("kgn-align/") if model else None
        unknown = version is not None and not (app.models_dir / f"{version}.pt").is_file()
        trained = trained_ids(app.models_dir) if unknown else []
        # a model of other graphs writes no edges here: a backfill with it would be refused
        elsewhere = other_graphs_of(app.models_dir / f"{version}.pt", config) if version and not unknown else None
        said = (f"no {'' if everything else 'unreviewed model '}SAME_AS edges between "
                f"{config.source.name!r} and {config.target.name!r}"
                + (f" from model {model!r}" if model else "")
                + (f" (no model {version!r} was trained in {app.models_dir}: "
                   + (f"its models are {', '.join(trained)})" if trained else "it holds none)") if unknown else "")
                + (f": it was trained on other graphs ({elsewhere})" if elsewhere else "")
                + ("" if everything or unknown or elsewhere else ": run 'kgn-align backfill' first, or give --all"))
        if unknown:  # most likely a mistyped id: an error, as --model's elsewhere
            raise click.ClickException(said)
        click.echo(said, err=True)
        return
    for e in found:
        score = "     -" if e.score is None else f"{e.score:6.4f}"
        verdict = f"  [{e.review}]" if e.review else ""
        click.echo(f"{score}  {e.source_name!r} ({e.source}) -> {e.target_name!r} ({e.target})"
                   f"  {e.method or ''}{verdict}")
    total = (count_named_edges(app.graph(), config, model=model, everything=everything)
             if len(found) == limit else len(found))
    more = (" (--limit N lists more, --csv FILE every one)" if total > len(found) else "")
    click.echo(f"{len(found)}{f' of {total:,}' if total > len(found) else ''} edge(s), "
               f"{'weakest' if weakest else 'strongest'} first"
               + (f", model {model}" if model else "") + more, err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model instead of a line.")
@click.pass_obj
def models(app: App, as_json: bool) -> None:
    """The models trained in KGN_ALIGN_HOME/models, the newest first: each one's id (what
    --model takes, or a unique start of it, 4 characters at least), when it was trained,
    the two sides it aligns, the attribute properties it compares, its validation Hits@1,
    and which one is the latest: the default --model, which commands refuse for graphs it
    was not trained on (naming the one that fits). Needs no graph server.

    \b
    A model of graphs deleted since ('kgn-align load remove') stays until its file is
    deleted: KGN_ALIGN_HOME/models/ID.pt."""
    from datetime import datetime

    import torch

    from kgn_align.errors import clipped
    from kgn_align.scoring import TrainedModel, side_text, trained_ids

    folder = app.models_dir
    latest = None
    if (folder / "latest.pt").is_file():
        try:
            latest = TrainedModel.load(folder / "latest.pt", device=torch.device("cpu")).version
        except Exception:  # noqa: BLE001 - said below as the latest's state
            latest = None
    rows = []
    for version in trained_ids(folder):
        path = folder / f"{version}.pt"
        row: dict[str, Any] = {"id": version, "latest": version == latest, "path": str(path),
                               "trained": datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")}
        try:
            trained = TrainedModel.load(path, device=torch.device("cpu"))
        except Exception as exc:  # noqa: BLE001 - one unreadable file does not hide the others
            row["error"] = clipped(str(exc), 160)
        else:
            sides = trained.sides
            row.update({"source": side_text(sides["source"]) if sides else None,
                        "target": side_text(sides["target"]) if sides else None,
                        "attributes": trained.attributes,
                        "valid_hits@1": trained.metrics.get("valid_hits@1")})
        rows.append(row)
    rows.sort(key=lambda r: (r["trained"], r["id"]), reverse=True)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
            continue
        if "error" in row:
            click.echo(f"{row['id']}  trained {row['trained']}  unreadable: {row['error']}")
            continue
        hits = row["valid_hits@1"]
        click.echo(f"{row['id']}{'  (latest)' if row['latest'] else ''}  trained {row['trained']}  "
                   + (f"{row['source']} -> {row['target']}" if row["source"] else "(sides not recorded)")
                   + (f"  compares {', '.join(row['attributes'])}" if row["attributes"] else "")
                   + (f"  validation Hits@1 {hits:.4f}" if isinstance(hits, (int, float)) else ""))
    click.echo(f"{len(rows)} model(s) in {folder}" if rows else
               f"no model in {folder}: train one with 'kgn-align train'", err=True)


@cli.command()
@click.option("--status", type=click.Choice(JOB_STATUSES), default=None,
              help="Only the jobs with this status (default: every status).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Jobs listed, the newest request first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job instead of a table.")
@click.pass_obj
def jobs(app: App, status: str | None, limit: int, as_json: bool) -> None:
    """The alignment jobs in the graph's queue, the newest request first: what the worker
    did with each ('done', or 'failed' with the reason) and what waits ('queued',
    'running').

    \b
    Jobs are (:AlignmentJob) nodes: requested from Cypher (CALL kgn.requestAlignment on
    Neo4j with the plugin, or plugin/request_job.cypher on any server), queued by change
    capture, or run by 'kgn-align worker'. A job for one worker configuration (several
    aligned pairs in one database) says which: 'for <configuration> (<key>)', or 'for no
    known configuration' when its scope names none (a running worker marks it failed). On Neo4j
    the plugin's CALL kgn.jobs() lists the same; finished jobs are pruned after the
    worker's --keep-jobs days."""
    from kgn_align.errors import clipped
    from kgn_align.preflight import instant_text

    rows = [{**row, "requested": row["requested"] and instant_text(row["requested"]),
             "finished": row["finished"] and instant_text(row["finished"])}
            for row in app.graph().read("jobs_list", {"status": status, "limit": limit})]
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
            continue
        ended = f", finished {row['finished']}" if row["finished"] else ""
        waiting = row["status"] in ("queued", "running")
        scope = ("" if not row["scope"] else f"  for {row['configuration']} ({row['scope']})" if row["configuration"]
                 else f"  for no known configuration ({row['scope']}{': no worker will run it' if waiting else ''})")
        # the whole first line: a worker's error ends with what to do about it (cut at 160
        # characters, a trial's list showed 'set j.params to JSON text,...' and no more)
        error = f"  error: {clipped(row['error'].splitlines()[0], 2000)}" if row["error"] else ""
        click.echo(f"{row['id']}  {row['kind'] or '(no kind)'}  {row['status'] or '(no status)'}  "
                   f"attempts {row['attempts'] or 0}  requested {row['requested'] or '(no requestedAt)'}"
                   f"{ended}{scope}{error}")
    more = f" (the newest {limit}: --limit N lists more)" if len(rows) == limit else ""
    click.echo(f"{len(rows)} job(s){' with status ' + repr(status) if status else ''}{more}", err=True)


from kgn_align.backfill_cli import backfill as _backfill  # noqa: E402

cli.add_command(_backfill)


# ------------------------------------------------------------------------------- demo
@cli.command()
@click.option("--dataset", default="dbp15k_fr_en", show_default=True,
              type=click.Choice(["dbp15k_fr_en", "dbp15k_ja_en", "srprs_en_fr"]),
              help="The knowledge-graph benchmark the slice is cut from.")
@click.option("--pairs", type=click.IntRange(min=50), default=5000, show_default=True,
              help="Size of the slice: about this many gold pairs (30% train, 70% held out) "
              "and their entities. Larger is slower; the whole set takes longer than 10 minutes.")
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True,
              help="Training epochs over the slice's seed pairs.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Lowest calibrated match probability written as a SAME_AS edge.")
@click.option("--server", "kind", type=KIND_CHOICE, default="auto", show_default=True,
              help="Which graph server to start: neo4j (Java 17 + Maven), arcadedb (Python "
              "only), auto (neo4j where it can run). Ignored when NEO4J_URI is set.")
@datasets_option
@click.option("--keep-server", is_flag=True, help="Leave the server running to explore the "
              "edges in Neo4j Browser (neo4j; ArcadeDB serves Bolt only: any Cypher client) or "
              "with the commands it prints (stop it later with 'kgn-align server stop').")
@click.pass_obj
def demo(app: App, dataset: str, pairs: int, epochs: int, threshold: float, kind: str,
         keep_server: bool) -> None:
    """Real data end to end: graph server, load, train, backfill, check against gold.

    Starts a graph server (Neo4j where Java 17 and Maven are at hand, else the embedded
    ArcadeDB; or uses NEO4J_URI when set), loads a slice of a
    public benchmark, trains the pair model on the training pairs, backfills SAME_AS edges
    for every source entity, reads the edges back and scores them against the held-out
    pairs the graph never saw.
    """
    from kgn_align import datasets, loaders
    from kgn_align.backfill import BackfillOptions, forget_run, run_backfill
    from kgn_align.scoring import ModelScorer
    from kgn_align.servers import server_for
    from kgn_align.snapshot import take
    from kgn_align.training import TrainConfig
    from kgn_align.evaluation import Gold
    from kgn_align.workflows import judge_graph_edges, to_json, train_model
    from kgn_align.writeback import labelled_pairs, read_edges

    t0 = time.perf_counter()
    ds = datasets.read_kg(dataset, app.datasets).slice(pairs)  # the data first: before slow work
    started = None
    browser: str | None = None  # Neo4j serves Browser; ArcadeDB's Bolt server has none
    if app.connection.uri is None:
        chosen, running = _home_server(app, kind)
        server_ = server_for(chosen, app.home)
        click.echo(f"[1/6] using the {chosen} graph server already running in {server_.data_dir} "
                   "(it keeps running)" if running is not None else
                   f"[1/6] starting the {chosen} graph server in {server_.data_dir} ...")
        state = server_.start() if running is None else running
        started = None if running is not None else server_
        browser = state.browser_url
        click.echo(f"      {_describe(state)}")
        if started is not None and not keep_server:
            click.echo("      (it stops when the demo ends; its data stays for the next 'kgn-align "
                       "server start'. To keep it running: make demo ARGS=--keep-server, or "
                       "kgn-align demo --keep-server)")
    else:
        click.echo(f"[1/6] using the graph server at {app.connection.uri}")
    try:
        graph = app.graph()
        prefix = "demo/"
        click.echo(f"[2/6] loading a {pairs}-pair slice of {dataset} "
                   f"({sum(len(s.uris) for s in ds.sides)} entities) ...")
        update, finish = stage_progress("      ")
        try:
            report = loaders.load_kg(graph, ds, prefix=prefix, progress=update)
        finally:
            finish()
        click.echo(f"      {report.nodes} entities, {report.relationships} relationships, "
                   f"{report.seed_pairs} training pairs as reviewed SAME_AS; "
                   f"{report.held_out_pairs} pairs held out ({report.seconds:.0f} s)")
        config = loaders.preset_config(ds, prefix=prefix)
        click.echo("[3/6] sampling two-hop neighbourhoods of both sides through Cypher ...")
        update, finish = stage_progress("      ")
        try:
            snapshot = take(graph, config, progress=update)
        finally:
            finish()
        click.echo(f"[4/6] training the pair model ({epochs} epochs) ...")
        show_progress("kgn_align.training")
        trained = train_model(graph, config, app.models_dir, snapshot=snapshot,
                              train_config=TrainConfig(epochs=epochs))
        click.echo(f"      model {trained.version} -> {trained.path}, copied to latest.pt beside it "
                   "(what commands use without --model)")
        click.echo("[5/6] backfilling SAME_AS edges (best candidate per entity, "
                   f"score >= {threshold}) ...")
        update, finish = stage_progress("      ")
        done = {"n": 0}

        def step(p: Any) -> None:
            update("backfill", p.done - done["n"], p.total)
            done["n"] = p.done

        run_id = f"demo-{trained.version}"
        # the slice was just loaded again: its run starts afresh, whatever an earlier demo
        # (another kgn-align version, other scorer settings) left under this id
        forget_run(graph, run_id)
        try:
            summary = run_backfill(
                graph, config, ModelScorer(snapshot, trained, labelled=labelled_pairs(graph, config)),
                trained.stamp, BackfillOptions(run_id=run_id, policy=Policy.BEST, threshold=threshold),
                progress=step)
        finally:
            finish()
        w = summary.writes
        click.echo(f"      {w.created} created, {w.updated} updated, {w.unchanged} unchanged, "
                   f"{w.retracted} retracted; {summary.reviewed_sources} source(s) with a reviewed "
                   f"(accepted) SAME_AS got no model edge ({summary.seconds:.0f} s)")
        click.echo("[6/6] reading the edges back and checking them against the held-out pairs ...")
        metrics = judge_graph_edges(graph, config, Gold({str(a): str(b) for a, b in ds.test_pairs}),
                                    trained.stamp.model)
        edges = sorted((e for e in read_edges(graph, config, trained.stamp.model) if e.review is None),
                       key=lambda e: -(e.score or 0.0))
        click.echo(to_json({"dataset": dataset, "pairs": pairs, "model": trained.version,
                            "threshold": threshold, "held_out": metrics,
                            "seconds": round(time.perf_counter() - t0, 1)}))
        written = {e.source for e in edges}
        missed = next((str(a) for a, _ in ds.test_pairs if str(a) not in written), None)
        if browser:
            look = f"in Neo4j Browser ({browser}) or any Cypher client"
        elif app.connection.uri is None:  # the embedded ArcadeDB server: Bolt only
            look = ("with any Cypher client (this server serves no Neo4j Browser; 'kgn-align demo "
                    "--server neo4j' starts one that does)")
        else:
            look = "in Neo4j Browser or any Cypher client"
        click.echo(
            f"\nLook at the edges {look}:\n"
            "  MATCH (a:Entity)-[r:SAME_AS]->(b:Entity)\n"
            f"  WHERE r.model = '{trained.stamp.model}'\n"
            "  RETURN a.name, b.name, r.score ORDER BY r.score DESC LIMIT 25\n"
            "or list them with both names, the least sure first (what to review):\n"
            f"  kgn-align edges --dataset {dataset} --prefix {prefix} --weakest\n"
            "and why one pair scored as it did:\n"
            f"  kgn-align explain --dataset {dataset} --prefix {prefix} --model {trained.path} "
            f"{edges[0].source if edges else '<source key>'} {edges[0].target if edges else '<target key>'}\n"
            + (f"and why a held-out source got no edge (its candidates, as the backfill scored them):\n"
               f"  kgn-align explain --dataset {dataset} --prefix {prefix} --model {trained.path} {missed}"
               + (f" --threshold {threshold:g}" if threshold != 0.5 else "") + "\n"
               if missed is not None else "")
            + "and, when done with it, remove the demo's graphs (nothing else) from the server:\n"
            f"  kgn-align load remove {dataset} --prefix {prefix}")
        if started is not None and keep_server:
            click.echo(f"\n(the {started.kind} server keeps running: 'kgn-align server stop' ends it)")
        elif started is not None:
            click.echo(f"\n(the {started.kind} server stops now; its data stays: 'kgn-align server "
                       "start' brings it back with these edges, or run the demo with --keep-server)")
    finally:
        if started is not None and not keep_server:
            app.close()
            started.stop()
            click.echo(f"{started.kind} server stopped")


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="kgn-align")


if __name__ == "__main__":
    main()
