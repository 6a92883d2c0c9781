"""Cypher statements, loaded by name from ``cypher/*.cypher`` (or ``plugin/*.cypher``).

This is the only place where anything is filled into query text: ``{{placeholder}}``
slots take *identifiers* (labels, relationship types, property keys) that are validated
against :data:`kgn_align.config.IDENTIFIER_RE` and backtick-quoted. Values always travel
as ``$parameters``. A list fills a relationship-type alternation (```A`|`B```).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path

from kgn_align.config import IDENTIFIER_RE

PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

_REPO_ROOT = Path(__file__).resolve().parent.parent


def resource_dir(kind: str) -> Path:
    """``cypher`` or ``plugin``: inside an installed wheel, else the source checkout."""
    if kind not in ("cypher", "plugin"):
        raise ValueError(f"unknown resource kind {kind!r}")
    packaged = resources.files("kgn_align") / "_resources" / kind
    if packaged.is_dir():
        return Path(str(packaged))
    return _REPO_ROOT / kind


def quote_identifier(name: str) -> str:
    """Backtick-quote a validated identifier; anything unsafe is refused, never escaped."""
    if not isinstance(name, str) or not IDENTIFIER_RE.fullmatch(name):
        raise ValueError(f"refusing to put {name!r} into a query: not a valid identifier")
    return f"`{name}`"


@lru_cache(maxsize=None)
def load_text(name: str, kind: str = "cypher") -> str:
    """Raw text of ``<kind>/<name>.cypher``."""
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"bad query name {name!r}")
    path = resource_dir(kind) / f"{name}.cypher"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyError(f"no query named {name!r} in {resource_dir(kind)}") from None


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER_RE.findall(text))


def render(name: str, identifiers: Mapping[str, str | Iterable[str]] | None = None,
           kind: str = "cypher") -> str:
    """Query ``name`` with its ``{{slots}}`` filled by quoted identifiers.

    Every slot must be filled and every identifier given must be used, so a typo in a
    template or a caller fails loudly instead of producing a different query.
    """
    text = load_text(name, kind)
    return fill(text, identifiers or {}, name)


def fill(text: str, identifiers: Mapping[str, str | Iterable[str]], name: str = "<text>") -> str:
    wanted = placeholders(text)
    given = set(identifiers)
    if wanted - given:
        raise ValueError(f"query {name!r} needs identifiers {sorted(wanted - given)}")
    if given - wanted:
        raise ValueError(f"query {name!r} has no slots {sorted(given - wanted)}")

    def quoted(match: re.Match[str]) -> str:
        value = identifiers[match.group(1)]
        if isinstance(value, str):
            return quote_identifier(value)
        parts = [quote_identifier(v) for v in value]
        if not parts:
            raise ValueError(f"query {name!r}: slot {match.group(1)!r} got an empty list")
        return "|".join(parts)

    return PLACEHOLDER_RE.sub(quoted, text)


def available(kind: str = "cypher") -> list[str]:
    return sorted(p.stem for p in resource_dir(kind).glob("*.cypher"))
