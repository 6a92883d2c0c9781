"""Users' own graphs (made here with plain Cypher, as a user's import would): the README's
Movie/Film example aligns, and every kind of mismatch between configuration and graph
stops first with an error that names the problem, or is reported and handled."""

from __future__ import annotations

import csv
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import neo4j
import pytest
from click.testing import CliRunner

from kgn_align import scoring
from kgn_align.cli import cli
from kgn_align.config import AlignConfig, GraphSide
from kgn_align.errors import ConfigError
from kgn_align.graph import Graph
from kgn_align.preflight import check
from kgn_align.writeback import labelled_pairs, read_edges

TITLES = ["Blade Runner", "Alien", "Heat", "Casablanca", "Vertigo", "Psycho", "Jaws", "Rocky",
          "Fargo", "Gattaca", "Amadeus", "Brazil", "Chinatown", "Ran", "Rashomon", "Solaris",
          "Stalker", "Metropolis", "Nosferatu", "Network", "Taxi Driver", "Goodfellas",
          "Memento", "Inception", "Arrival", "Sicario", "Zodiac", "Seven", "Ronin", "Tootsie"]
DIRECTORS = ["Ridley Scott", "Michael Mann", "Michael Curtiz", "Alfred Hitchcock",
             "Steven Spielberg", "Joel Coen", "Akira Kurosawa", "Andrei Tarkovsky"]


def _driver(connection) -> neo4j.Driver:
    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    return neo4j.GraphDatabase.driver(connection.uri, auth=auth)


@pytest.fixture
def movies(connection, graph: Graph) -> Iterator[tuple[str, AlignConfig]]:
    """IMDB-like Movie nodes and Freebase-like Film nodes with directors; 20 known pairs as
    accepted SAME_AS (what a person reviewed), 10 left for the model."""
    ns = f"user-{uuid.uuid4().hex[:8]}"
    rows = [{"key": str(i), "title": t, "director": DIRECTORS[i % len(DIRECTORS)]}
            for i, t in enumerate(TITLES)]
    with _driver(connection) as drv:
        for side, label, suffix in (("imdb", "Movie", ""), ("freebase", "Film", " (film)")):
            drv.execute_query(
                f"UNWIND $rows AS row "
                f"MERGE (p:Person {{graph: $g, key: 'p-' + row.director}}) SET p.title = row.director "
                f"CREATE (m:{label} {{graph: $g, key: $side + '-' + row.key, title: row.title + $suffix}}) "
                f"CREATE (p)-[:DIRECTED]->(m)",
                rows=rows, g=f"{ns}/{side}", side=side, suffix=suffix, database_=connection.database)
        drv.execute_query(
            "UNWIND range(0, 19) AS i "
            "MATCH (a:Movie {graph: $a, key: 'imdb-' + toString(i)}), "
            "      (b:Film {graph: $b, key: 'freebase-' + toString(i)}) "
            "CREATE (a)-[:SAME_AS {review: 'accepted'}]->(b)",
            a=f"{ns}/imdb", b=f"{ns}/freebase", database_=connection.database)
    config = AlignConfig(source=GraphSide(name="imdb", label="Movie", property="graph", value=f"{ns}/imdb"),
                         target=GraphSide(name="freebase", label="Film", property="graph",
                                          value=f"{ns}/freebase"),
                         name_properties=("title",))
    yield ns, config
    with _driver(connection) as drv:
        drv.execute_query("MATCH (n) WHERE n.graph STARTS WITH $ns DETACH DELETE n", ns=ns,
                          database_=connection.database)


def _toml(path: Path, config: AlignConfig) -> Path:
    s, t = config.source, config.target
    path.write_text(
        f'name_properties = ["title"]\n'
        f'[source]\nname = "{s.name}"\nlabel = "{s.label}"\nproperty = "graph"\nvalue = "{s.value}"\n'
        f'[target]\nname = "{t.name}"\nlabel = "{t.label}"\nproperty = "graph"\nvalue = "{t.value}"\n')
    return path


def _env(connection) -> dict[str, str]:
    return {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
            "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}


@pytest.mark.slow
def test_movie_and_film_labels_align_as_one_type(movies, connection, graph: Graph, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ns, config = movies
    cfg = _toml(tmp_path / "align.toml", config)
    runner = CliRunner()
    base = ["--home", str(tmp_path / "home"), "--config", str(cfg)]
    trained = runner.invoke(cli, [*base, "train", "--epochs", "3", "--max-steps", "40"], env=_env(connection))
    assert trained.exit_code == 0, trained.output
    # the pairs it counts agree with its log: the 20 accepted ones, some held out for validation
    metrics = json.loads(trained.stdout)["metrics"]
    assert metrics["accepted_pairs"] == 20 and metrics["validation_pairs"] > 0
    assert metrics["train_pairs"] + metrics["validation_pairs"] == 20
    assert "only 6 of the 20 accepted pairs are held out for validation" in caplog.text
    models = tmp_path / "home" / "models"  # latest.pt is a copy with the checkpoint's mode (0600)
    version = json.loads(trained.stdout)["model"]
    assert (models / "latest.pt").stat().st_mode == (models / f"{version}.pt").stat().st_mode
    # a gold file with a typo: judged on the pairs it names in the graph, the other named
    gold = tmp_path / "heldout.csv"
    gold.write_text("source,target\nimdb-20,freebase-20\nimdb-21,freebase-21\nIMDB-22,freebase-22\n")
    with caplog.at_level(logging.WARNING, logger="kgn_align.workflows"):
        judged = runner.invoke(cli, [*base, "evaluate", "--gold", str(gold), "--threshold", "0.3"],
                               env=_env(connection))
    assert judged.exit_code == 0, judged.output
    assert json.loads(judged.stdout)["gold_pairs_not_in_graph"] == 1
    assert ("1 of 3 gold pairs are left out: their keys are not entities of the sides (e.g. "
            "'IMDB-22' is not on the side 'imdb' (did you mean 'imdb-22'?))") in caplog.text

    monkeypatch.setattr(scoring, "_said", set())  # said once per process
    with caplog.at_level(logging.WARNING, logger="kgn_align.scoring"):
        done = runner.invoke(cli, [*base, "backfill", "--threshold", "0.3", "--run-id", "movies-1"],
                             env=_env(connection))
    assert done.exit_code == 0, done.output
    # in a log (no terminal, no bar) the run still says how far it got, the last line at the end
    import re

    assert re.search(r"^backfill movies-1: ([\d,]+) of \1 source entities done \(scored, their edges written\)$", done.stderr, re.M), done.stderr
    # a calibration on a handful of validation sources is said to move with the reviews
    assert (f"scores are calibrated on only {metrics['validation_pairs']} validation sources"
            in caplog.text), caplog.text
    # the run id again with another threshold: refused before the sampling, naming the change
    again = runner.invoke(cli, [*base, "backfill", "--threshold", "0.5", "--run-id", "movies-1"],
                          env=_env(connection))
    assert again.exit_code == 1 and "other settings (threshold: was 0.3, now 0.5)" in again.output
    # ... and, the run being complete, points at a new run id, not at resuming it
    assert "that run is complete (with those it would do nothing): use a new run id" in again.output, again.output
    assert "sampling" not in again.output, again.output
    edges = [e for e in read_edges(graph, config) if e.review is None]
    assert edges, done.output  # before: 'pairs: 0 scored, 0 chosen, 0 created'
    # 'edges' lists them with both ends' names, strongest or weakest first; --csv all of them,
    # --all with the reviewed ones
    strongest = runner.invoke(cli, [*base, "edges", "--limit", "3"], env=_env(connection))
    weakest = runner.invoke(cli, [*base, "edges", "--limit", "3", "--weakest"], env=_env(connection))
    assert strongest.exit_code == weakest.exit_code == 0, strongest.output + weakest.output
    titles = dict(zip((f"imdb-{i}" for i in range(len(TITLES))), TITLES))
    for listed, sign in ((strongest, -1), (weakest, 1)):
        expected = sorted(edges, key=lambda e: (sign * (e.score or 0), e.source, e.target))[:3]
        lines = listed.stdout.splitlines()
        assert len(lines) == min(3, len(edges)), listed.stdout
        for line, e in zip(lines, expected):
            assert line.startswith(f"{e.score:6.4f}  {titles[e.source]!r} ({e.source}) -> "), line
    every = tmp_path / "edges.csv"
    written = runner.invoke(cli, [*base, "edges", "--csv", str(every)], env=_env(connection))
    assert written.exit_code == 0, written.output
    with open(every, newline="") as fh:
        assert {(r["source"], r["target"]) for r in csv.DictReader(fh)} == {(e.source, e.target) for e in edges}
    assert runner.invoke(cli, [*base, "edges", "--all", "--csv", str(every)], env=_env(connection)).exit_code == 0
    with open(every, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(read_edges(graph, config)) == len(edges) + 20
    # train printed what the edges carry as 'model' (browser_same_as_by_model's $model)
    assert {e.model for e in edges} == {json.loads(trained.stdout)["edges_model"]}
    # --model takes the model id train printed as well as that 'edges_model'
    for given in (version, json.loads(trained.stdout)["edges_model"], version[:4]):  # a unique start too
        by_model = runner.invoke(cli, [*base, "edges", "--model", given, "--csv", str(every)],
                                 env=_env(connection))
        assert by_model.exit_code == 0, by_model.output
        with open(every, newline="") as fh:
            assert len(list(csv.DictReader(fh))) == len(edges), given
    # a model id this home never trained is said to be unknown, not 'run backfill first'
    unknown = runner.invoke(cli, [*base, "edges", "--model", "deadbeef"], env=_env(connection))
    assert unknown.exit_code == 1 and "no model 'deadbeef' was trained in " in unknown.stderr, unknown.output
    assert "its models are " in unknown.stderr and version in unknown.stderr and "backfill' first" not in unknown.stderr
    right = sum(e.target == "freebase-" + e.source.split("-", 1)[1] for e in edges)
    assert right >= len(edges) // 2
    assert not {e.source for e in edges} & {f"imdb-{i}" for i in range(20)}  # reviewed sources
    # the graph read otherwise than for training (other names, other relationship types):
    # refused before any work, naming the setting; the types it learned named explicitly are fine
    with _driver(connection) as drv:
        drv.execute_query("MATCH (a:Movie {graph: $g, key: 'imdb-0'}), (b:Movie {graph: $g, key: 'imdb-1'}) "
                          "CREATE (a)-[:SEQUEL_OF]->(b)", g=config.source.value, database_=connection.database)
    # (the latest model, taken by default, is most likely another graph's: --model is the way out)
    for top, setting, given, said in (
            ('name_properties = ["key"]\n', "name_properties", [],
             f"the latest model ({version}) was trained with name_properties = ['title'], the "
             f"configuration says ['key']: a model of another graph or configuration"),
            ('name_properties = ["title"]\nrelationship_types = ["SEQUEL_OF"]\n', "relationship_types",
             ["--model", str(models / f"{version}.pt")],
             f"model {version} was trained with relationship_types = every type but SAME_AS, ")):
        other = tmp_path / f"{setting}.toml"
        other.write_text(cfg.read_text().replace('name_properties = ["title"]\n', top))
        refused = runner.invoke(cli, ["--home", str(tmp_path / "home"), "--config", str(other),
                                      "backfill", *given, "--dry-run", str(tmp_path / "d.csv")],
                                env=_env(connection))
        assert refused.exit_code == 1 and said in refused.output, refused.output
        assert ("give --model" in refused.output) == (not given)
        # the worker refuses it at its start, not job by job (a job would be retried, and a
        # --burst worker exit 0 with the job left queued)
        worker = runner.invoke(cli, ["--home", str(tmp_path / "home"), "--config", str(other), "worker",
                                     *given, "--burst"], env=_env(connection))
        assert worker.exit_code == 1 and said in worker.output, worker.output
        assert "sampling" not in refused.output and not (tmp_path / "d.csv").exists()
    # [source] and [target] swapped: refused (a trial's backfill wrote 201 edges the other
    # way, next to the reviewed ones, with a warning only)
    swapped = _toml(tmp_path / "swapped.toml", config.model_copy(update={"source": config.target,
                                                                         "target": config.source}))
    refused = runner.invoke(cli, ["--home", str(tmp_path / "home"), "--config", str(swapped), "backfill"],
                            env=_env(connection))
    assert refused.exit_code == 1, refused.output
    assert (f"model {version} was trained to align :Movie {{graph: '{ns}/imdb'}} (source) to :Film "
            f"{{graph: '{ns}/freebase'}} (target); the configuration has them the other way round: "
            "[source] and [target] are swapped") in refused.output, refused.output
    assert "sampling" not in refused.output
    # explain alike, before it looks the keys up: keys in the trained order were said to be
    # missing ("no entity has the key"), the swap said only if they happened to fit it
    explained = runner.invoke(cli, ["--home", str(tmp_path / "home"), "--config", str(swapped), "explain",
                                    "imdb-25", "freebase-25"], env=_env(connection))
    assert explained.exit_code == 1 and "[source] and [target] are swapped" in explained.output, \
        explained.output
    assert "no entity" not in explained.output
    # edges of a model of other graphs (here: the sides the other way round): said, and no
    # backfill suggested (one with that model would be refused; a trial was told to run it)
    listed = runner.invoke(cli, ["--home", str(tmp_path / "home"), "--config", str(swapped), "edges",
                                 "--model", version], env=_env(connection))
    assert (f"it was trained on other graphs (:Movie {{graph: '{ns}/imdb'}} -> :Film {{graph: "
            f"'{ns}/freebase'}})") in listed.output, listed.output
    assert "backfill' first" not in listed.output
    with _driver(connection) as drv:
        drv.execute_query("MATCH (:Movie {graph: $g})-[r:SEQUEL_OF]->() DELETE r", g=config.source.value,
                          database_=connection.database)
    # a backfill filter that selects nothing is refused before the sampling, too
    no_key = runner.invoke(cli, [*base, "backfill", "--key", "imdb-999", "--no-progress"], env=_env(connection))
    assert no_key.exit_code == 1 and "1 of 1 keys are not source entities: 'imdb-999'" in no_key.output
    assert "sampling" not in no_key.output, no_key.output
    same = tmp_path / "same.toml"
    same.write_text('relationship_types = ["DIRECTED"]\n' + cfg.read_text())
    dry = runner.invoke(cli, ["--home", str(tmp_path / "home"), "--config", str(same), "backfill",
                              "--threshold", "0.3", "--dry-run", str(tmp_path / "same.csv")], env=_env(connection))
    assert dry.exit_code == 0, dry.output
    # the graph's relationships renamed since: the model knows none of them, and says so
    with _driver(connection) as drv:
        drv.execute_query("MATCH (p:Person)-[d:DIRECTED]->(m) WHERE p.graph STARTS WITH $ns "
                          "CREATE (p)-[:MADE]->(m) DELETE d", ns=ns, database_=connection.database)
    caplog.clear()
    monkeypatch.setattr(scoring, "_said", set())  # said once per process and model
    with caplog.at_level(logging.WARNING, logger="kgn_align.scoring"):
        shown = runner.invoke(cli, [*base, "explain", "imdb-25", "freebase-25"], env=_env(connection))
    assert shown.exit_code == 0, shown.output
    swapped = runner.invoke(cli, [*base, "explain", "freebase-25", "imdb-25"], env=_env(connection))
    assert swapped.exit_code == 1 and ("'freebase-25' is a key of 'freebase' and 'imdb-25' one of 'imdb': "
                                       "give the source key first") in swapped.output, swapped.output
    assert "was trained on other relationship types: 100% of the sampled neighbours here are " \
           "linked by types it does not know (MADE)" in caplog.text
    # a backfill does not write with the latest model taken by default when it is one of
    # another graph; given by --model it is the user's choice, and goes ahead
    before = {(e.source, e.target, e.score) for e in read_edges(graph, config)}
    refused = runner.invoke(cli, [*base, "backfill", "--threshold", "0.3"], env=_env(connection))
    assert refused.exit_code == 1 and f"the latest model ({version}) was trained on another graph" \
        in refused.output, refused.output
    assert "give --model" in refused.output
    assert {(e.source, e.target, e.score) for e in read_edges(graph, config)} == before
    # so does the worker: the job fails at once with the reason (no retries), nothing written
    job_id = graph.write("request_job", {"kind": "backfill", "params": "{}"}, kind="plugin")[0]["id"]
    try:
        worked = runner.invoke(cli, [*base, "worker", "--burst", "--no-warm"], env=_env(connection))
        assert worked.exit_code == 1, worked.output
        # (on Neo4j the plugin queued 'changed' jobs for this test's edits: they fail alike)
        assert re.search(r"worker stopped after (\d+) job\(s\), \1 failed$", worked.output.strip()), worked.output
        job = graph.read("worker_job", {"id": job_id})[0]
        assert job["status"] == "failed" and "was trained on another graph" in job["error"]
        assert job["attempts"] == 1
    finally:
        graph.write("worker_delete_job", {"id": job_id})
    assert {(e.source, e.target, e.score) for e in read_edges(graph, config)} == before
    chosen = runner.invoke(cli, [*base, "backfill", "--threshold", "0.3", "--model",
                                 str(models / f"{version}.pt")], env=_env(connection))
    assert chosen.exit_code == 0, chosen.output


def test_a_worker_keeps_its_model_when_latest_becomes_another_configurations(
        movies, graph: Graph, connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    """Another dataset trained in the home of a running worker (no --model) made latest.pt a
    model of another configuration, and every job of the worker failed for good from then
    on (a new user's trial). The worker says so once and keeps the model it had."""
    import shutil

    from kgn_align.worker import Worker

    ns, config = movies
    cfg = _toml(tmp_path / "align.toml", config)
    other = tmp_path / "by-key.toml"  # another configuration: its model reads other names
    other.write_text(cfg.read_text().replace('name_properties = ["title"]\n', 'name_properties = ["key"]\n'))
    runner = CliRunner()
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    for where, config_file in ((home, cfg), (elsewhere, other)):
        trained = runner.invoke(cli, ["--home", str(where), "--config", str(config_file), "train", "--epochs", "1",
                                      "--max-steps", "10"], env=_env(connection))
        assert trained.exit_code == 0, trained.output
    version = json.loads(trained.stdout)["model"]  # the other configuration's
    claim = Worker.claim

    def trained_meanwhile(self: Worker):  # the other training lands as the worker looks for work
        if not (home / "models" / f"{version}.pt").exists():
            shutil.copy(elsewhere / "models" / f"{version}.pt", home / "models" / f"{version}.pt")
            shutil.copy(elsewhere / "models" / "latest.pt", home / "models" / "latest.pt")
        return claim(self)

    monkeypatch.setattr(Worker, "claim", trained_meanwhile)
    job_id = graph.write("request_job", {"kind": "backfill", "params": '{"threshold": 0.3}'}, kind="plugin")[0]["id"]
    try:
        with caplog.at_level(logging.WARNING, logger="kgn_align"):
            worked = runner.invoke(cli, ["--home", str(home), "--config", str(cfg), "worker", "--burst",
                                         "--no-warm"], env=_env(connection))
        job = graph.read("worker_job", {"id": job_id})[0]
        assert job["status"] == "done", (job, worked.output)
        said = [r.getMessage() for r in caplog.records if "does not fit this worker's configuration" in r.getMessage()]
        assert len(said) == 1 and said[0].startswith(f"the latest model {version} does not fit"), said
        assert "the worker keeps model" in said[0]
    finally:
        graph.write("worker_delete_job", {"id": job_id})


def test_a_key_shared_after_the_checks_stops_the_sampling(movies, graph: Graph, connection) -> None:
    """Two entities of a side with one key, made after a command's checks (under a running
    worker): the sampling refuses, naming the key, instead of dropping one of them in silence
    (a trial's worker then retracted the right edge of that key)."""
    from kgn_align.snapshot import take

    ns, config = movies
    check(graph, config)  # the graph as the command's checks saw it
    with _driver(connection) as drv:
        drv.execute_query("CREATE (:Film {graph: $g, key: 'freebase-3', title: 'a copy'})",
                          g=config.target.value, database_=connection.database)
    with pytest.raises(ConfigError, match=r"^keys must be unique per side, but on the freebase side several "
                                          r"entities share a 'key': 'freebase-3' \(2x\); nothing was aligned"):
        take(graph, config)


def test_an_edge_with_odd_property_types_does_not_stop_the_reading(movies, graph: Graph, connection,
                                                                    tmp_path: Path) -> None:
    """A SAME_AS edge edited by hand (a score 'high', a review true) stopped 'edges --all'
    with a server type error or a ValidationError, and 'evaluate' after all its scoring: it is
    read as it stands (a score that is not a number as none, the review as its text)."""
    ns, config = movies
    with _driver(connection) as drv:
        drv.execute_query("MATCH (a:Movie {graph: $a, key: 'imdb-1'})-[r:SAME_AS]->() SET r.score = 'high'",
                          a=config.source.value, database_=connection.database)
        drv.execute_query("MATCH (a:Movie {graph: $a, key: 'imdb-2'})-[r:SAME_AS]->() SET r.review = true",
                          a=config.source.value, database_=connection.database)
    edges = {e.source: e for e in read_edges(graph, config)}
    assert len(edges) == 20
    assert edges["imdb-1"].score is None and edges["imdb-1"].review == "accepted"
    assert edges["imdb-2"].review == "true"
    # the warning shows it as Cypher writes it: true, not 'True' (a text no one set)
    warnings: list[str] = []
    labelled_pairs(graph, config, warnings)
    assert [w for w in warnings if "review other than" in w][0].startswith(
        "1 reviewed SAME_AS edge(s) have a review other than 'accepted' or 'rejected' (true):"), warnings
    base = ["--home", str(tmp_path / "home"), "--config", str(_toml(tmp_path / "align.toml", config))]
    for extra in ([], ["--weakest"], ["--csv", str(tmp_path / "all.csv")]):
        listed = CliRunner().invoke(cli, [*base, "edges", "--all", "--limit", "50", *extra], env=_env(connection))
        assert listed.exit_code == 0, listed.output
        assert "Error" not in listed.output, listed.output
    with open(tmp_path / "all.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 20
    # a page shorter than the list says how many there are, and how to see them; a page as
    # long as the list ('there may be more', a trial found it said) says nothing more
    first = CliRunner().invoke(cli, [*base, "edges", "--all", "--limit", "5"], env=_env(connection))
    assert first.exit_code == 0 and ("5 of 20 edge(s), strongest first (--limit N lists more, "
                                     "--csv FILE every one)") in first.output, first.output
    whole = CliRunner().invoke(cli, [*base, "edges", "--all", "--limit", "20"], env=_env(connection))
    assert whole.exit_code == 0 and "20 edge(s), strongest first\n" in whole.output, whole.output


def test_a_list_where_one_value_is_read_is_said_so(movies, graph: Graph, connection) -> None:
    """A title held as a list (aliases) stopped every command with the server's type error
    ('Invalid input for function toString()') naming no property: the checks say what the
    configuration reads as one value, and what to do."""
    from kgn_align.snapshot import refreshed, take

    ns, config = movies
    kept = take(graph, config)  # a running worker's snapshot, from before the change
    with _driver(connection) as drv:
        changed = drv.execute_query(
            "MATCH (m:Movie {graph: $g, key: 'imdb-25'}) SET m.title = ['Alien', 'Alien (1979)'] "
            "RETURN elementId(m) AS id", g=config.source.value, database_=connection.database).records[0]["id"]
    with pytest.raises(ConfigError, match=r"^a property kgn-align reads as one value holds a list \(or a map\) "
                                          r"on some node of the sides: key 'key', name properties \['title'\];"):
        check(graph, config)
    # a worker's 'changed' job reads the node again: refused, naming it (it was read as the
    # list's text, and its edge retracted)
    with pytest.raises(ConfigError, match=r"^the node with key 'imdb-25' on the imdb side holds a list in "
                                          r"'title', which kgn-align reads as one value"):
        refreshed(graph, kept, [changed])


def test_keys_that_are_not_strings_are_named_before_any_work(movies, graph: Graph, connection) -> None:
    """Integer keys passed check and train, then failed evaluate and backfill after the whole
    scoring stage (a trial's 'sku'): check names them, with how to mend them. A label of this
    test's own: on ArcadeDB an index on the key (the sampler's) stores later integers as strings."""
    ns, config = movies
    label = f"Numbered{ns.split('-')[1]}"
    with _driver(connection) as drv:
        drv.execute_query(f"UNWIND range(1, 3) AS i CREATE (:{label} {{graph: $g, key: i, title: 'n' + toString(i)}})",
                          g=f"{ns}/nums", database_=connection.database)
    numbered = config.model_copy(update={"source": GraphSide(name="nums", label=label, property="graph",
                                                             value=f"{ns}/nums")})
    with pytest.raises(ConfigError, match=r"3 entities of the source side 'nums' .*have a 'key' that is not a "
                                          r"string \(e\.g\. [123], [123], [123]\): edges are written by string "
                                          r"key; store the keys as strings \(SET n\.key = toString\(n\.key\)\)"):
        check(graph, numbered)
    assert check(graph, config).source.entities == len(TITLES)  # string keys: no such problem

def test_config_that_matches_nothing_is_named_before_any_work(movies, graph: Graph, connection,
                                                              tmp_path: Path) -> None:
    ns, config = movies
    wrong_case = config.model_copy(update={"source": config.source.model_copy(update={"label": "movie"})})
    with pytest.raises(ConfigError, match=r"has no entities \(did you mean 'Movie'\?\)"):
        check(graph, wrong_case)
    # the labels alone are named: relationship types are not looked for on no entities
    both_wrong = wrong_case.model_copy(update={
        "target": config.target.model_copy(update={"label": "film"}), "relationship_types": ("DIRECTED",)})
    with pytest.raises(ConfigError) as err:
        check(graph, both_wrong)
    assert "did you mean 'Film'" in str(err.value) and "relationship" not in str(err.value), err.value
    no_names = config.model_copy(update={"name_properties": ("name",)})
    with pytest.raises(ConfigError, match="any of the name properties: 'name' "
                       r"\(its entities carry 'graph', 'key', 'title'\)"):
        check(graph, no_names)
    # a key property no entity has and nothing near it (Neo4j's internal id is no property):
    # the properties there are to choose from, the sampler's own kgnHash not among them
    with _driver(connection) as drv:
        drv.execute_query("MATCH (m:Movie {graph: $g}) SET m.kgnHash = 1", g=f"{ns}/imdb",
                          database_=connection.database)
    internal_id = config.model_copy(update={"key_property": "id"})
    with pytest.raises(ConfigError, match=r"has the key property 'id' \(its entities carry 'graph', "
                                          r"'key', 'title'\)"):
        check(graph, internal_id)
    # the label is right, the graph name lacks the prefix it was loaded with: the hint names
    # the prefix, not the label in use ("did you mean 'Movie'?" for label 'Movie' before)
    unprefixed = config.model_copy(update={"source": config.source.model_copy(update={"value": "imdb"})})
    with pytest.raises(ConfigError, match=r"its nodes have graph = '.+/imdb': loaded with --prefix '.+/'\?") as err:
        check(graph, unprefixed)
    assert "did you mean 'Movie'" not in str(err.value)
    # a value nowhere near the ones there: those few are named (a trial's 'freebase' for 'fb')
    elsewhere = config.model_copy(update={"source": config.source.model_copy(update={"value": "catalogue"})})
    with pytest.raises(ConfigError, match=r"has no entities \(its Movie nodes have graph = [^)]*"
                                          + re.escape(repr(config.source.value))):
        check(graph, elsewhere)
    # a misspelt filter property is named with its near miss
    misspelt = config.model_copy(update={"source": config.source.model_copy(update={"property": "grap"})})
    with pytest.raises(ConfigError, match=r"no 'Movie' node has a property 'grap' \(did you mean 'graph'\?\)"):
        check(graph, misspelt)
    # name properties are alternatives: one only the target has is no warning; a typo is,
    # once, with its near miss
    with _driver(connection) as drv:
        drv.execute_query("MATCH (f:Film {graph: $g}) SET f.film_title = f.title", g=f"{ns}/freebase",
                          database_=connection.database)
    per_side = config.model_copy(update={"name_properties": ("title", "film_title", "titel")})
    names_warned = [w for w in check(graph, per_side).warnings if "name property" in w]
    assert names_warned == ["no entity of either side has the name property 'titel' (did you mean 'title'?)"]
    # one only the entities' neighbours (the directors) have is read for their names: no typo
    with _driver(connection) as drv:
        drv.execute_query("MATCH (p:Person) WHERE p.graph STARTS WITH $ns SET p.full_name = p.title", ns=ns,
                          database_=connection.database)
    for_neighbours = config.model_copy(update={"name_properties": ("title", "full_name", "titel")})
    names_warned = [w for w in check(graph, for_neighbours).warnings if "name property" in w]
    assert names_warned == ["no entity of either side has the name property 'titel' (did you mean 'title'?)"]
    # a misspelt one of the neighbours' own is named with their near miss
    misspelt_theirs = config.model_copy(update={"name_properties": ("title", "fullname")})
    names_warned = [w for w in check(graph, misspelt_theirs).warnings if "name property" in w]
    assert names_warned == ["no entity of either side has the name property 'fullname' (did you mean 'full_name'?)"]
    bad_type = config.model_copy(update={"relationship_types": ("ACTED_IN",)})
    with pytest.raises(ConfigError, match="relationship_types: 'ACTED_IN'$"):
        check(graph, bad_type)
    typo = config.model_copy(update={"relationship_types": ("DIRECTD",)})
    with pytest.raises(ConfigError, match=r"'DIRECTD' \(did you mean 'DIRECTED'\?\)"):
        check(graph, typo)
    # a type the graph may have later (no near miss of one it has) is a warning
    other_type = config.model_copy(update={"relationship_types": ("DIRECTED", "DIRECTED_BY")})
    assert "relationship types never used by either side: 'DIRECTED_BY' (did you mean 'DIRECTED'?)" \
        in check(graph, other_type).warnings
    # one letter off or another case next to a good one: a typo that would silently drop the
    # relation from every sample, refused (train would otherwise replace latest.pt)
    for typo_type in ("DIRECTD", "directed"):
        one_typo = config.model_copy(update={"relationship_types": ("DIRECTED", "ACTED_IN", typo_type)})
        with pytest.raises(ConfigError, match=r"relationship_types the graph does not have, each a near miss "
                           rf"of one it has: '{typo_type}' \(did you mean 'DIRECTED'\?\)$"):
            check(graph, one_typo)
    # a same_as_type that joins no pair of the sides, next to a near miss that does: a typo
    # that would read no review and write a second set of edges beside them (a trial's
    # 'SAMEAS'); a type the graph does not have at all (a first backfill's) is fine
    assert graph.read("preflight_reversed_reviews", {
        "source_property": "graph", "source_value": config.source.value, "target_property": "graph",
        "target_value": config.target.value}, {"source_label": "Movie", "target_label": "Film",
                                               "same_as": "SAME_AS"})[0]["forward"] > 0  # reviews there
    for typo_type in ("SAMEAS", "same_as"):
        with pytest.raises(ConfigError, match=rf"same_as_type '{typo_type}' joins no source entity to a "
                           r"target entity, but 'SAME_AS' joins \d+ \(did you mean 'SAME_AS'\?\): reviews"):
            check(graph, config.model_copy(update={"same_as_type": typo_type}))
    check(graph, config.model_copy(update={"same_as_type": "MATCHES"}))
    labels_typo = config.model_copy(update={"entity_labels": ("Movie", "Film", "Persn")})
    assert [w for w in check(graph, labels_typo).warnings if "entity_labels" in w] == [
        "entity_labels no node of either side carries (their entities take their first label "
        "instead): 'Persn' (did you mean 'Person'?)"]
    assert not [w for w in check(graph, config.model_copy(update={"entity_labels": ("Movie", "Person")})).warnings
                if "entity_labels" in w]
    swapped = config.model_copy(update={"source": config.target, "target": config.source})
    assert [w for w in check(graph, swapped).warnings if "swapped" in w] == [
        "20 reviewed SAME_AS edge(s) point from the target side 'imdb' to the source side 'freebase' "
        "(0 the configured way): reviews are read from source to target, so these teach and settle "
        "nothing; are [source] and [target] swapped?"]
    # train says so too, before it samples (it said "mark known pairs with r.review = 'accepted'")
    trained_swapped = CliRunner().invoke(cli, ["--home", str(tmp_path), "--config",
                                               str(_toml(tmp_path / "swapped.toml", swapped)), "train"],
                                         env=_env(connection))
    assert trained_swapped.exit_code == 1 and (
        "only 0 accepted SAME_AS pairs between the two sides: training needs at least 10; 20 reviewed "
        "SAME_AS edge(s) point from the target side 'imdb' to the source side 'freebase': are [source] "
        "and [target] swapped?") in trained_swapped.output, trained_swapped.output
    assert "sampling" not in trained_swapped.output.lower()
    report = check(graph, config)
    assert (report.source.entities, report.target.entities) == (len(TITLES), len(TITLES))
    assert not [w for w in report.warnings if "swapped" in w or "neighbours sampled" in w]
    # one seed drawn the wrong way among the others is named too (a trial's was dropped in silence)
    with _driver(connection) as drv:
        turn = (f"MATCH (a:{config.source.label} {{{config.source.property}: $sv}})-[r:SAME_AS]->"
                f"(b:{config.target.label} {{{config.target.property}: $tv}}) WITH a, r, b LIMIT 1 "
                "CREATE (b)-[:SAME_AS {review: r.review}]->(a) DELETE r")
        drv.execute_query(turn, sv=config.source.value, tv=config.target.value, database_=connection.database)
        assert [w for w in check(graph, config).warnings if "point from the target side" in w] == [
            "1 reviewed SAME_AS edge(s) point from the target side 'freebase' to the source side 'imdb' "
            "(19 the configured way): reviews are read from source to target, so these teach and settle "
            "nothing; turn them round"]
        back = (f"MATCH (b:{config.target.label} {{{config.target.property}: $tv}})-[r:SAME_AS]->"
            f"(a:{config.source.label} {{{config.source.property}: $sv}}) "
            "CREATE (a)-[:SAME_AS {review: r.review}]->(b) DELETE r")
        drv.execute_query(back, sv=config.source.value, tv=config.target.value, database_=connection.database)
    assert not [w for w in check(graph, config).warnings if "point from the target side" in w]
    # neighbours on the side without the key are named: every sample leaves them out
    with _driver(connection) as drv:
        drv.execute_query(f"MATCH (a:{config.source.label} {{{config.source.property}: $sv}}) WITH a LIMIT 3 "
                          f"CREATE (a)<-[:ACTED_IN]-(:Stunt {{{config.source.property}: $sv, name: 'no key'}})",
                          sv=config.source.value, database_=connection.database)
        try:
            said = [w for w in check(graph, config).warnings if "left out of every sample" in w]
            assert len(said) == 1 and said[0].startswith("neighbours on the source side 'imdb' (") and said[0].endswith(
                f"that have no {config.key_property!r} are left out of every sample: 3 Stunt (around its first "
                f"10,000 entities); give every node on the side a unique {config.key_property!r}"), said
        finally:
            drv.execute_query("MATCH (n:Stunt) DETACH DELETE n", database_=connection.database)
    # neighbours whose names sit in a property not configured (the directors' full_name
    # only): named, with what they carry, per side; configured, no warning
    with _driver(connection) as drv:
        drv.execute_query("MATCH (p:Person) WHERE p.graph STARTS WITH $ns REMOVE p.title", ns=ns,
                          database_=connection.database)
    nameless = [w for w in check(graph, config).warnings if "neighbours sampled" in w]
    assert len(nameless) == 2 and all(
        "have none of the name properties ('title'): 8 of 8 Person (they carry 'full_name'); their "
        "names are not read (add theirs to name_properties)" in w for w in nameless), nameless
    assert "source side 'imdb'" in nameless[0] and "target side 'freebase'" in nameless[1]
    assert not [w for w in check(graph, for_neighbours).warnings if "neighbours sampled" in w]
    with _driver(connection) as drv:
        drv.execute_query("MATCH (p:Person) WHERE p.graph STARTS WITH $ns SET p.title = p.full_name", ns=ns,
                          database_=connection.database)
    # train says what is wrong (the label), not "only 0 accepted SAME_AS pairs"
    cfg = _toml(tmp_path / "wrong.toml", wrong_case)
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "--config", str(cfg), "train"],
                                env=_env(connection))
    assert result.exit_code == 1 and "did you mean 'Movie'" in result.output
    assert "accepted SAME_AS" not in result.output
    # 'check' runs the same checks and nothing else: the same one line, or what it found
    checked = CliRunner().invoke(cli, ["--home", str(tmp_path), "--config", str(cfg), "check"],
                                 env=_env(connection))
    assert checked.exit_code == 1 and "did you mean 'Movie'" in checked.output
    good = _toml(tmp_path / "good.toml", config)
    checked = CliRunner().invoke(cli, ["--home", str(tmp_path), "--config", str(good), "check"],
                                 env=_env(connection))
    assert checked.exit_code == 0, checked.output
    found = json.loads(checked.stdout)
    assert found["source"] == {"name": "imdb", "entities": len(TITLES), "keyed": len(TITLES),
                               "named": len(TITLES)}
    assert (found["accepted_pairs"], found["rejected_pairs"], found["on_both_sides"]) == (20, 0, [])
    assert "the graph matches the configuration" in checked.stderr
    # 20 accepted pairs train, but calibrate on 6: said here, before training (it was not)
    assert any(w.startswith("20 accepted SAME_AS pairs: 'train' holds 6 out for validation")
               for w in found["warnings"]), found["warnings"]
    # a review value that is no label (a reviewer's typo) is one of check's warnings
    with _driver(connection) as drv:
        drv.execute_query("MATCH (:Movie {key: 'imdb-0'})-[r:SAME_AS]->() WHERE r.review = 'accepted' "
                          "AND startNode(r).graph STARTS WITH $ns SET r.review = 'Rejected'", ns=ns,
                          database_=connection.database)
    checked = CliRunner().invoke(cli, ["--home", str(tmp_path), "--config", str(good), "check"],
                                 env=_env(connection))
    found = json.loads(checked.stdout)
    assert found["accepted_pairs"] == 19 and "(2 warning(s))" in checked.stderr
    assert any("1 reviewed SAME_AS edge(s) have a review other than 'accepted' or 'rejected' ('Rejected')"
               in w for w in found["warnings"])
    # no seed alignment at all: check says train would refuse (it said 0 warnings)
    unseeded = _toml(tmp_path / "unseeded.toml", config)
    unseeded.write_text('same_as_type = "ALIGNED"\n' + unseeded.read_text())
    checked = CliRunner().invoke(cli, ["--home", str(tmp_path), "--config", str(unseeded), "check"],
                                 env=_env(connection))
    assert checked.exit_code == 0, checked.output
    assert any(w.startswith("only 0 accepted ALIGNED pairs between the sides: 'train' needs at least 10")
               for w in json.loads(checked.stdout)["warnings"]), checked.stdout
    # most source movies without a director (a graph loaded in part): matched by names alone
    assert not [w for w in check(graph, config).warnings if "no neighbour the sampler takes" in w]
    with _driver(connection) as drv:
        drv.execute_query("MATCH (:Person)-[d:DIRECTED]->(m:Movie {graph: $g}) WHERE toInteger(split(m.key, '-')[1]) < 20 "
                          "DELETE d", g=config.source.value, database_=connection.database)
    isolated = [w for w in check(graph, config).warnings if "no neighbour the sampler takes" in w]
    assert isolated == [f"20 of 30 entities of the source side 'imdb' (label 'Movie', graph = "
                        f"'{config.source.value}') have no neighbour the sampler takes: they are matched "
                        "by their names alone (a graph loaded in part, as with load --pairs, keeps few "
                        "of its relationships)"], isolated


def test_duplicate_keys_and_nodes_on_both_sides(movies, graph: Graph, connection) -> None:
    ns, config = movies
    with _driver(connection) as drv:
        drv.execute_query("CREATE (:Film {graph: $g, key: 'freebase-3', title: 'Casablanca again'})",
                          g=f"{ns}/freebase", database_=connection.database)
    with pytest.raises(ConfigError, match=r"share a 'key': 'freebase-3' \(2x\)"):
        check(graph, config)
    with _driver(connection) as drv:
        drv.execute_query("MATCH (f:Film {graph: $g, title: 'Casablanca again'}) DELETE f",
                          g=f"{ns}/freebase", database_=connection.database)
        # one node both sides select: labelled Movie and Film, on a graph both filters accept
    both = AlignConfig(source=GraphSide(name="a", label="Movie"), target=GraphSide(name="b", label="Film"),
                       name_properties=("title",))
    with _driver(connection) as drv:
        drv.execute_query("CREATE (:Movie:Film {graph: $g, key: $k, title: 'Heat'})",
                          g=f"{ns}/imdb", k=f"both-{ns}", database_=connection.database)
    report = check(graph, both)
    assert f"both-{ns}" in report.on_both_sides
    # and the write-back never aligns it with itself
    from kgn_align.writeback import ModelStamp, ScoredPair, write_pairs

    written = write_pairs(graph, both, [ScoredPair(source=f"both-{ns}", target=f"both-{ns}", score=0.9)],
                          ModelStamp(model="self@test", method="test"))
    assert written.created == 0


def test_a_side_whose_neighbours_are_off_it_is_named(movies, graph: Graph, connection) -> None:
    """Sides selected by label alone hold only Movie / Film nodes: their directors (Person)
    are off the sides and never sampled. Preflight says so, naming the neighbours' label and
    the fix, instead of the alignment quietly running on names alone (a user's first try
    with (:Pub)-[:WRITTEN_BY]->(:Writer) graphs)."""
    ns, config = movies
    assert not [w for w in check(graph, config).warnings if "matched by names alone" in w]
    by_label = config.model_copy(update={"source": GraphSide(name="imdb", label="Movie"),
                                          "target": GraphSide(name="freebase", label="Film")})
    warnings = [w for w in check(graph, by_label).warnings if "matched by names alone" in w]
    assert len(warnings) == 2, warnings
    source = warnings[0]
    assert source.startswith("the source side 'imdb' (label 'Movie'): its entities have no relationships")
    assert f"lead to nodes off the side: Person ({len(TITLES)} relationships)" in source
    assert "give the Movie nodes and their neighbours a property naming their graph" in source
    assert "under [source]" in source and "under [target]" in warnings[1]
    # a followed type that only one side uses: the other side is named
    with _driver(connection) as drv:
        drv.execute_query("MATCH (p:Person {graph: $g})-[d:DIRECTED]->(f:Film) "
                          "CREATE (p)-[:MADE]->(f) DELETE d", g=f"{ns}/freebase",
                          database_=connection.database)
    only_source = config.model_copy(update={"relationship_types": ("DIRECTED",)})
    warnings = [w for w in check(graph, only_source).warnings if "matched by names alone" in w]
    assert warnings == ["the target side 'freebase' (label 'Film', graph = "
                        f"'{ns}/freebase'): its entities have no relationships of the configured "
                        "relationship_types to nodes the sampler takes, so no neighbours are sampled "
                        "and it is matched by names alone"], warnings
    # neighbours on the side without the key property are dropped by the sampler: said so
    with _driver(connection) as drv:
        drv.execute_query("MATCH (p:Person {graph: $g}) REMOVE p.key", g=f"{ns}/imdb",
                          database_=connection.database)
    warnings = [w for w in check(graph, config).warnings if "matched by names alone" in w]
    assert len(warnings) == 1 and warnings[0].startswith("the source side 'imdb'"), warnings
    assert warnings[0].endswith("their neighbours on the side have no 'key' (Person (30 relationships)): "
                                "give every node on the side a unique 'key' (the sampler keys the "
                                "nodes it samples by it)"), warnings


def test_the_connection_table_of_the_config_file_is_used(movies, connection, tmp_path: Path) -> None:
    """The README's [connection] table: its uri and user reach the server with only the
    password in NEO4J_PASSWORD; NEO4J_URI still wins over the file."""
    from kgn_align.servers import free_port

    ns, config = movies
    database = f'database = "{connection.database}"\n' if connection.database else ""
    body = _toml(tmp_path / "plain.toml", config).read_text()
    cfg = tmp_path / "align.toml"
    cfg.write_text(f'{body}[connection]\nuri = "{connection.uri}"\nuser = "{connection.user}"\n{database}')
    secret = {"NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}
    runner = CliRunner()
    base = ["--home", str(tmp_path / "home"), "--config", str(cfg)]  # a home with no server in it
    checked = runner.invoke(cli, [*base, "check"], env={**secret, "NEO4J_URI": None, "NEO4J_USER": None})
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["accepted_pairs"] == 20

    away = f"bolt://127.0.0.1:{free_port()}"
    cfg.write_text(f'{body}[connection]\nuri = "{away}"\nuser = "{connection.user}"\n{database}')
    over = runner.invoke(cli, [*base, "check"], env={**secret, "NEO4J_URI": connection.uri, "NEO4J_USER": None})
    assert over.exit_code == 0, over.output
    unreachable = runner.invoke(cli, [*base, "check"], env={**secret, "NEO4J_URI": None, "NEO4J_USER": None})
    assert unreachable.exit_code != 0 and away in unreachable.output, unreachable.output
    assert not secret["NEO4J_PASSWORD"] or secret["NEO4J_PASSWORD"] not in unreachable.output


def test_entities_with_several_labels_are_typed_by_their_side(connection, graph: Graph) -> None:
    """Side entities that carry a label the other side's carry too (:Pub:Doc against
    :Doc:Art, the labels created in that order, so Neo4j lists Doc first on one side only)
    take their side's label as their type, and type-restricted blocking finds candidates;
    without it one side was typed Pub and the other Doc: no source had a candidate."""
    from kgn_align.sampling.server import Sampler

    u = uuid.uuid4().hex[:8]
    pub, doc, art = f"Pub{u}", f"Doc{u}", f"Art{u}"
    ns = f"labels-{u}"
    with _driver(connection) as drv:
        for side, labels in (("a", f"{pub}:{doc}"), ("b", f"{doc}:{art}")):
            drv.execute_query(f"UNWIND range(0, 5) AS i CREATE (:{labels} {{graph: $g, key: $g + toString(i), "
                              f"title: 'paper ' + toString(i)}})", g=f"{ns}/{side}",
                              database_=connection.database)
    try:
        config = AlignConfig(source=GraphSide(name="a", label=pub, property="graph", value=f"{ns}/a"),
                             target=GraphSide(name="b", label=art, property="graph", value=f"{ns}/b"),
                             name_properties=("title",))
        sampler = Sampler(graph, config)
        for which, label in (("source", pub), ("target", art)):
            table = sampler.prepare(which)
            assert len(table) == 6
            assert {table.types[t] for t in table.type[table.aligned]} == {label}, (which, table.types)
        with_labels = config.model_copy(update={"entity_labels": (doc,)})
        table = Sampler(graph, with_labels).prepare("target")  # configured entity_labels come first
        assert {table.types[t] for t in table.type} == {doc}
    finally:
        with _driver(connection) as drv:
            drv.execute_query("MATCH (n) WHERE n.graph STARTS WITH $ns DETACH DELETE n", ns=ns,
                              database_=connection.database)
