"""Every ``.cypher`` file in ``cypher/`` and ``plugin/`` passes Neo4j's own Cypher checker.

The checker is npm ``@neo4j-cypher/language-support`` (pinned in ``tests/cypher_lint/
package.json``), run once for all files by ``tests/cypher_lint/lint.mjs`` and installed
into ``tests/cypher_lint/node_modules`` (git-ignored) on first use. It reports syntax
errors, undefined variables, type mismatches and deprecations as Neo4j 5 does; without a
database schema it does not know labels, procedures or parameters, and parameter
complaints are dropped. Any remaining error or warning fails the test.

Templates' ``{{slot}}`` placeholders are filled with sample identifiers first. Statements
that APOC stores as strings (trigger bodies, custom procedures) and the ```cypher blocks
of ``plugin/README.md`` are linted on their own.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kgn_align.cypher import fill, placeholders, resource_dir

LINT_DIR = Path(__file__).resolve().parents[1] / "cypher_lint"
PACKAGE = "@neo4j-cypher/language-support"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed: "
                                "Neo4j's Cypher checker (npm) cannot run")

#: APOC procedures that take a Cypher statement as a string, and that argument's position.
EMBEDDING_CALLS = {
    "apoc.trigger.install": 2,
    "apoc.custom.installProcedure": 1,
    "apoc.custom.installFunction": 1,
}
_CALL_RE = re.compile(r"\b(" + "|".join(map(re.escape, EMBEDDING_CALLS)) + r")\s*\(")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r", "b": "\b",
            "f": "\f"}


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    #: Line of ``text``'s first line in its file, minus one (for statements inside strings).
    line_offset: int = 0


def sample_identifiers(text: str) -> dict[str, str | list[str]]:
    """``Sample_<slot>`` for every slot; ``*_types`` slots get a two-type alternation."""
    return {slot: [f"Sample_{slot}_1", f"Sample_{slot}_2"] if slot.endswith("_types")
            else f"Sample_{slot}" for slot in placeholders(text)}


def call_arguments(text: str, open_paren: int) -> list[tuple[int, str]]:
    """(offset, text) of each top-level argument of the call whose ``(`` is at ``open_paren``."""
    args: list[tuple[int, str]] = []
    depth, start, i, quote = 0, open_paren + 1, open_paren, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote != "`":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append((start, text[start:i]))
                return args
        elif c == "," and depth == 1:
            args.append((start, text[start:i]))
            start = i + 1
        i += 1
    raise ValueError(f"unbalanced parentheses after offset {open_paren}")


def string_literal(arg: str) -> str | None:
    """The value of ``arg`` if it is exactly one Cypher string literal, else None."""
    arg = arg.strip()
    if len(arg) < 2 or arg[0] not in "'\"" or arg[-1] != arg[0]:
        return None
    body = arg[1:-1]
    if re.search(r"(?<!\\)(?:\\\\)*" + arg[0], body):
        return None  # an unescaped quote inside: more than one literal

    def decode(m: re.Match[str]) -> str:
        esc = m.group(1)
        return chr(int(esc[1:], 16)) if esc[0] in "uU" else _ESCAPES.get(esc, "\\" + esc)

    return re.sub(r"\\([uU][0-9a-fA-F]{4}|.)", decode, body, flags=re.S)


def embedded_statements(name: str, text: str) -> Iterator[Item]:
    for m in _CALL_RE.finditer(text):
        proc = m.group(1)
        line = text.count("\n", 0, m.start()) + 1
        args = call_arguments(text, m.end() - 1)
        position = EMBEDDING_CALLS[proc]
        offset, arg = args[position] if len(args) > position else (0, "")
        literal = string_literal(arg)
        if literal is None:
            raise ValueError(f"{name}:{line}: the statement given to {proc} must be one "
                             "string literal, so that it can be linted")
        first_line = text.count("\n", 0, offset + len(arg) - len(arg.lstrip()))
        yield Item(f"{name}:{line}:{proc}", literal, first_line)


def collect_items() -> list[Item]:
    items: list[Item] = []
    for kind in ("cypher", "plugin"):
        for path in sorted(resource_dir(kind).glob("*.cypher")):
            name = f"{kind}/{path.name}"
            raw = path.read_text(encoding="utf-8")
            text = fill(raw, sample_identifiers(raw), name)
            items.append(Item(name, text))
            items.extend(embedded_statements(name, text))
    readme = resource_dir("plugin") / "README.md"
    if readme.is_file():
        items.extend(markdown_cypher("plugin/README.md", readme.read_text(encoding="utf-8")))
    return items


def markdown_cypher(name: str, text: str) -> Iterator[Item]:
    """The fenced ```cypher blocks of a Markdown file."""
    for m in re.finditer(r"^```cypher\n(.*?)^```", text, re.M | re.S):
        first_line = text.count("\n", 0, m.start(1))
        yield Item(f"{name}:{first_line + 1}", m.group(1), first_line)


def ensure_checker() -> None:
    """Install the pinned checker into tests/cypher_lint/node_modules unless it is there."""
    pinned = json.loads((LINT_DIR / "package.json").read_text())["dependencies"][PACKAGE]
    installed = LINT_DIR / "node_modules" / PACKAGE / "package.json"
    if installed.is_file() and json.loads(installed.read_text()).get("version") == pinned:
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("node is installed but npm is not: cannot install " + PACKAGE)
    verb = "ci" if (LINT_DIR / "package-lock.json").is_file() else "install"
    cmd = [npm, verb, "--no-audit", "--no-fund", "--engine-strict=false", "--loglevel=error"]
    done = subprocess.run(cmd, cwd=LINT_DIR, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"`npm {verb}` in {LINT_DIR} failed:\n{done.stderr[-3000:]}")


def run_checker(items: list[Item]) -> dict[str, list[dict[str, Any]]]:
    ensure_checker()
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(LINT_DIR / "lint.mjs")], cwd=LINT_DIR, capture_output=True, text=True,
        input=json.dumps([{"id": it.id, "text": it.text} for it in items]), timeout=300)
    if done.returncode != 0:
        pytest.fail(f"lint.mjs failed:\n{done.stderr[-3000:]}")
    result: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return result


def problems(diagnostics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors and warnings (deprecations are warnings); information and hints pass."""
    return [d for d in diagnostics if d["severity"] <= 2 or d["deprecated"]]


def describe(item: Item, diagnostics: list[dict[str, Any]]) -> str:
    kinds = {1: "error", 2: "warning", 3: "info", 4: "hint"}
    file = item.id.split(":")[0]
    return "\n".join(
        f"{file}:{d['line'] + item.line_offset}: {kinds.get(d['severity'], '?')}"
        f"{' (deprecated)' if d['deprecated'] else ''}: {d['message']}" for d in diagnostics)




ITEMS = collect_items()


BROKEN = {
    "type_mismatch": ("RETURN 'a' + {x: 1}", "Type mismatch"),
    "deprecated_call_scope": ("MATCH (n) CALL { WITH n MATCH (n)-->(m) RETURN m } RETURN m",
                              "deprecated"),
    "undefined_variable": ("MATCH (n) RETURN m", "not defined"),
    "second_statement": ("MATCH (n) RETURN n;\nRETURN 1 +", "Invalid input"),
}

#: Known-bad statements (id prefixed "broken:") and a clean one, linted in the same run.
CONTROLS = [Item(f"broken:{key}", text) for key, (text, _) in BROKEN.items()] + [
    Item("clean:parameters_only", "MATCH (n) WHERE n.id = $id RETURN n LIMIT $limit")]


@pytest.fixture(scope="module")
def lint_results() -> dict[str, list[dict[str, Any]]]:
    """One node process for every file and every control statement."""
    return run_checker(ITEMS + CONTROLS)


@needs_node
@pytest.mark.parametrize("item", ITEMS, ids=[it.id for it in ITEMS])
def test_cypher_file_is_clean(item: Item, lint_results: dict[str, list[dict[str, Any]]]) -> None:
    found = problems(lint_results[item.id])
    assert not found, "Neo4j's Cypher checker complains:\n" + describe(item, found)


@needs_node
def test_checker_reports_broken_statements(
        lint_results: dict[str, list[dict[str, Any]]]) -> None:
    """The checker is alive: known-bad statements are reported, parameters are not."""
    for key, (_, expected) in BROKEN.items():
        found = problems(lint_results[f"broken:{key}"])
        assert any(expected in d["message"] for d in found), f"{key}: {found}"
    assert lint_results["clean:parameters_only"] == []
    assert lint_results["broken:second_statement"][0]["line"] == 2


def test_embedded_statements_are_extracted() -> None:
    text = ("CALL apoc.trigger.install('neo4j', 'n', 'RETURN \\'a\\' + $x // c',"
            " {phase: 'afterAsync'}, {})")
    (item,) = embedded_statements("f.cypher", "\n" + text)
    assert item.text == "RETURN 'a' + $x // c"
    assert item.line_offset == 1
    assert item.id == "f.cypher:2:apoc.trigger.install"
    with pytest.raises(ValueError, match="one string literal"):
        list(embedded_statements("f.cypher", "CALL apoc.trigger.install('a', 'b', $s, {})"))


def test_sample_identifiers_fill_every_slot() -> None:
    raw = "MATCH (n:{{label}})-[:{{rel_types}}]->(m) RETURN m.{{ key }}"
    assert fill(raw, sample_identifiers(raw)) == (
        "MATCH (n:`Sample_label`)-[:`Sample_rel_types_1`|`Sample_rel_types_2`]->(m) "
        "RETURN m.`Sample_key`")
