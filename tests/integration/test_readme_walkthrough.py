"""README's "Your own graph, step by step", run as written: its Cypher through the driver,
its shell lines (files written by heredocs, then each ``kgn-align`` command) through the
CLI. Only the graph names are put into this test's namespace, so a shared server keeps
what it had."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import neo4j
import pytest
from click.testing import CliRunner

from kgn_align.cli import cli
from kgn_align.graph import Graph

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "### Your own graph, step by step"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n### ", start + len(SECTION))
    return text[start:end]


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def _namespaced(text: str, ns: str) -> str:
    for graph in ("imdb", "freebase"):
        text = text.replace(f"graph: '{graph}'", f"graph: '{ns}{graph}'")
        text = text.replace(f'value = "{graph}"', f'value = "{ns}{graph}"')
    return text


def _run_shell(script: str, cwd: Path, env: dict[str, str], home: Path) -> list[str]:
    """Heredocs write files; ``kgn-align ...`` lines run through the CLI. Nothing else."""
    outputs = []
    lines = script.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        heredoc = re.fullmatch(r"cat > (\S+) <<'(\w+)'", line)
        if heredoc:
            name, tag = heredoc.groups()
            end = lines.index(tag, i + 1)
            (cwd / name).write_text("\n".join(lines[i + 1:end]) + "\n")
            i = end + 1
            continue
        if line:
            words = shlex.split(line)
            assert words[0] == "kgn-align", f"the walk-through has a line this test cannot run: {line}"
            result = CliRunner().invoke(cli, ["--home", str(home), *words[1:]], env=env)
            assert result.exit_code == 0, f"{line}\n{result.output}"
            outputs.append(result.stdout)  # what the commands print for programs (progress is on stderr)
        i += 1
    return outputs


def test_readme_walkthrough_runs_as_written(graph: Graph, connection, namespace: str,
                                            tmp_path: Path, monkeypatch) -> None:
    section = _section()
    cypher_blocks, shell = _blocks(section, "cypher"), _blocks(section, "bash")
    assert len(cypher_blocks) == 2 and len(shell) == 1
    auth = (connection.user, connection.password.get_secret_value()) if connection.password else None
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        for block in cypher_blocks:
            for statement in filter(str.strip, _namespaced(block, namespace).split(";")):
                drv.execute_query(statement, database_=connection.database)
    monkeypatch.chdir(tmp_path)
    env = {"NEO4J_URI": connection.uri, "NEO4J_USER": connection.user,
           "NEO4J_PASSWORD": connection.password.get_secret_value() if connection.password else ""}
    check, train, evaluate, backfill, edges, explain, why = _run_shell(_namespaced(shell[0], namespace), tmp_path,
                                                    env, tmp_path / "home")
    # the one warning: 20 accepted pairs calibrate on 6 validation pairs (fewer than 30)
    assert json.loads(check)["accepted_pairs"] == 20
    assert [w.split(":")[0] for w in json.loads(check)["warnings"]] == ["20 accepted SAME_AS pairs"], check
    report = json.loads(evaluate[evaluate.index("{"):])
    judged = report["methods"]["cg-mualign"]
    assert report["gold_pairs"] == 5 and judged["all_targets"]["hits@1"] >= 0.6
    assert judged["edges_on_gold_sources"] + judged["edges_on_other_sources"] == judged["edges"]
    assert "created" in backfill and "imdb-25" in explain
    with neo4j.GraphDatabase.driver(connection.uri, auth=auth) as drv:
        rows = drv.execute_query(
            "MATCH (a:Movie {graph: $a})-[r:SAME_AS]->(b:Film {graph: $b}) WHERE r.review IS NULL "
            "RETURN a.key AS source, b.key AS target", a=f"{namespace}imdb", b=f"{namespace}freebase",
            database_=connection.database).records
    written = {r["source"]: r["target"] for r in rows}
    assert len(written) >= 5 and not {f"imdb-{i}" for i in range(20)} & set(written)
    right = sum(t == s.replace("imdb-", "fb-") for s, t in written.items())
    assert right >= 0.7 * len(written)
    # 'explain SOURCE' says what the backfill did with imdb-26: the edge it wrote, or why none
    verdict = why.splitlines()[1].strip()
    if "imdb-26" in written:
        assert verdict.startswith(f"a backfill writes SAME_AS to {written['imdb-26']} (score "), why
    else:
        assert verdict.startswith("no edge: its best candidate "), why
    assert "its candidates, best first" in why
    # 'edges --weakest' lists every one of them (fewer than its 20), with the movie's title
    listed = edges.splitlines()
    assert len(listed) == len(written) and all(f"({s}) -> " in "".join(listed) for s in written)
    assert all(" (film)' (fb-" in line for line in listed), edges  # the target's title, then key
