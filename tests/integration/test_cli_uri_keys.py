"""The CLI on a small graph of one's own whose keys are URIs (as a DBpedia import has):
``explain`` with part of a key, and ``worker --burst`` reporting each job. On each server.

Two film catalogues, ``fr`` and ``en``; the ``fr`` side also holds
``http://fr.dbpedia.org/property/Paris``, so that ``Paris`` names two of its keys while
``resource/Paris`` names one; ``Gare_de_Paris`` never matches ``Paris``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import neo4j
import pytest
from click.testing import CliRunner, Result

from kgn_align.cli import cli
from kgn_align.graph import Graph
from kgn_align.loaders import delete_graphs

pytestmark = pytest.mark.slow

TITLES = ["Paris", "Gare_de_Paris", "Alien", "Heat", "Casablanca", "Vertigo", "Psycho", "Jaws",
          "Rocky", "Fargo", "Gattaca", "Amadeus", "Brazil", "Chinatown", "Ran", "Rashomon",
          "Solaris", "Stalker", "Metropolis", "Nosferatu", "Network", "Memento", "Inception",
          "Arrival", "Sicario", "Zodiac", "Seven", "Ronin", "Tootsie", "Heimat"]
FR, EN = "http://fr.dbpedia.org/resource/", "http://dbpedia.org/resource/"
SETUP = """
UNWIND range(0, size($titles) - 1) AS i
WITH i, $titles[i] AS title
MERGE (p:Person {graph: $fr, key: 'http://fr.dbpedia.org/resource/Director_' + toString(i % 6)})
  SET p.name = 'Director ' + toString(i % 6)
MERGE (q:Person {graph: $en, key: 'http://dbpedia.org/resource/Director_' + toString(i % 6)})
  SET q.name = 'Director ' + toString(i % 6)
CREATE (p)-[:DIRECTED]->(:Film {graph: $fr, key: 'http://fr.dbpedia.org/resource/' + title,
                                name: replace(title, '_', ' ')})
CREATE (q)-[:DIRECTED]->(:Film {graph: $en, key: 'http://dbpedia.org/resource/' + title,
                                name: replace(title, '_', ' ') + ' (film)'})
"""
SEEDS = """
UNWIND range(2, 21) AS i
MATCH (a:Film {graph: $fr, key: 'http://fr.dbpedia.org/resource/' + $titles[i]}),
      (b:Film {graph: $en, key: 'http://dbpedia.org/resource/' + $titles[i]})
CREATE (a)-[:SAME_AS {review: 'accepted'}]->(b)
"""


def _env(connection) -> dict[str, str]:
    return {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
            "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}


@pytest.fixture(scope="module")
def films(servers, backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """The two catalogues, a config file, and a small model trained on the 20 reviewed pairs."""
    graph: Graph = servers.graph(backend)
    connection = servers.connection(backend)
    ns = f"uri-{uuid.uuid4().hex[:8]}/"
    fr, en = f"{ns}fr", f"{ns}en"
    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        drv.execute_query(SETUP, titles=TITLES, fr=fr, en=en, database_=connection.database)
        drv.execute_query("CREATE (:Film {graph: $fr, key: 'http://fr.dbpedia.org/property/Paris', "
                          "name: 'Paris (property)'})", fr=fr, database_=connection.database)
        drv.execute_query(SEEDS, titles=TITLES, fr=fr, en=en, database_=connection.database)
    tmp = tmp_path_factory.mktemp("films")
    config = tmp / "align.toml"
    config.write_text(f'name_properties = ["name"]\n'
                      f'[source]\nname = "fr"\nlabel = "Film"\nproperty = "graph"\nvalue = "{fr}"\n'
                      f'[target]\nname = "en"\nlabel = "Film"\nproperty = "graph"\nvalue = "{en}"\n')
    base = ["--home", str(tmp / "home"), "--config", str(config)]
    trained = CliRunner().invoke(cli, [*base, "train", "--epochs", "1", "--max-steps", "10"],
                                 env=_env(connection))
    assert trained.exit_code == 0, trained.output
    try:
        yield graph, connection, base
    finally:
        delete_graphs(graph, ns)


def _run(films: tuple, *args: str) -> Result:
    _, connection, base = films
    return CliRunner().invoke(cli, [*base, *args], env=_env(connection))


def test_explain_takes_a_unique_end_of_a_key(films) -> None:
    partial = _run(films, "explain", "resource/Paris", "Paris")
    assert partial.exit_code == 0, partial.output
    assert f"({FR}Paris)  vs  " in partial.output and f"({EN}Paris)" in partial.output
    whole = _run(films, "explain", f"{FR}Heat", f"{EN}Heat")
    assert whole.exit_code == 0, whole.output
    assert f"({FR}Heat)" in whole.output
    # the same pair, named in part or whole, is explained the same
    same = _run(films, "explain", "resource/Heat", "Heat")
    assert same.output == whole.output


def test_explain_names_the_candidates_or_says_there_is_none(films) -> None:
    several = _run(films, "explain", "Paris", "Paris")
    assert several.exit_code == 1
    assert several.output.strip() == ("Error: 'Paris' matches 2 'fr' keys: "
                                      "'http://fr.dbpedia.org/property/Paris', "
                                      "'http://fr.dbpedia.org/resource/Paris'; give more of the key")
    none = _run(films, "explain", "resource/Heat", "Nowhere")
    assert none.exit_code == 1
    lines = none.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no 'en' entity has the key 'Nowhere'")
    assert "its keys look like 'http://dbpedia.org/resource/" in lines[0]
    assert "seed" not in none.output.lower()
    # an end of a key is a whole part after '/': 'aris' is no end of '.../Paris'
    assert _run(films, "explain", "aris", "Heat").exit_code == 1


def test_worker_burst_prints_each_job_and_counts_unchanged_edges(films) -> None:
    graph, _, _ = films
    # first the jobs already queued (on Neo4j the plugin captured the catalogues' creation);
    # then no model edges, so the first job below creates them all
    assert _run(films, "worker", "--burst").exit_code == 0
    assert _run(films, "clean").exit_code == 0
    ids = []
    try:
        for _ in range(2):
            ids.append(graph.write("request_job", {"kind": "backfill",
                                                   "params": json.dumps({"threshold": 0.0})},
                                   kind="plugin")[0]["id"])
            ran = _run(films, "worker", "--burst")
            assert ran.exit_code == 0, ran.output
            line = next(x for x in ran.stdout.splitlines() if f" job {ids[-1]} " in x)
            assert f" job {ids[-1]} backfill: done in " in line
        first, second = (json.loads(graph.read("worker_job", {"id": i})[0]["result"]) for i in ids)
        assert first["created"] > 0 and first["unchanged"] == 0
        # the same model again: every edge is there already, and is counted as unchanged
        assert (second["created"], second["updated"]) == (0, 0)
        assert second["unchanged"] == first["created"] + first["updated"]
        assert second["retracted"] == 0  # the same choices: nothing to take back
        assert line.endswith(f" s, edges: {second['created']} created, {second['updated']} updated, 0 retracted")
    finally:
        for i in ids:
            graph.write("worker_delete_job", {"id": i})


def test_train_seed_gives_a_reproducible_model(films) -> None:
    """``train --seed``: the same seed trains the same model (the same version), another seed
    another one (what ``benchmarks/quality.py --seeds`` measures the spread of)."""
    versions = []
    for seed in ("0", "0", "1"):
        trained = _run(films, "train", "--epochs", "1", "--max-steps", "10", "--seed", seed)
        assert trained.exit_code == 0, trained.output
        versions.append(json.loads(trained.output[trained.output.index("{"):])["model"])
    assert versions[0] == versions[1] != versions[2]


def test_explain_names_neighbours_by_node_not_by_key(films) -> None:
    """Neighbours read by key lost their names: a director whose key is a number showed the
    number, and a studio sharing a director's key could show the director's name. Read by
    node, as the backfill reads them, each shows its own (and the explained score is the one
    the backfill's features give)."""
    _, connection, _ = films
    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        drv.execute_query(
            "MATCH (f:Film {key: $film}) "
            "CREATE (:Person {graph: f.graph, key: 4242, name: 'Numbered Director'})-[:DIRECTED]->(f) "
            "CREATE (:Studio {graph: f.graph, key: $shared, name: 'Studio Zero'})-[:DIRECTED]->(f)",
            film=f"{FR}Heimat", shared=f"{FR}Director_5", database_=connection.database)
    shown = _run(films, "explain", f"{FR}Heimat", f"{EN}Heimat")
    assert shown.exit_code == 0, shown.output
    assert "Numbered Director" in shown.output and " 4242" not in shown.output, shown.output
    assert "Studio Zero" in shown.output and "Director 5" in shown.output, shown.output
