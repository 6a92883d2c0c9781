"""What differs between graph servers, decided once from the server itself.

Neo4j 5 is the target; the embedded ArcadeDB server (Bolt plugin) speaks nearly the same
Cypher. Every place where behaviour must differ asks a :class:`Dialect` flag instead of
checking the product name, so the differences stay listed here. Where one text serves
both, the queries use it:

- ``REMOVE n.p``: ArcadeDB (26.10) leaves the property in place; ``SET n.p = null``
  removes it on both (``cypher/clean_sampling_hash.cypher``).
- Relationship types from values (``$(...)``): Neo4j 5.26+ only (:attr:`Dialect.dynamic_types`).
- ``CALL {} IN TRANSACTIONS`` inside an explicit transaction: ArcadeDB accepts it, Neo4j
  refuses it; kgn-align batches client-side instead.
- While stopping, Neo4j answers ``DatabaseUnavailable`` (a transient error) and ArcadeDB
  refuses logins: both count as "server away" (:mod:`kgn_align.graph`).
- Neo4j warns of property keys no node has yet (kgn-align's own, before first use): those
  notifications are switched off in the driver.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Dialect(BaseModel):
    model_config = ConfigDict(frozen=True)

    product: str  # "neo4j" | "arcadedb" | "unknown"
    version: str  # the server's own version ("5.26.0", or ArcadeDB's release)
    agent: str
    #: APOC procedures available (triggers, custom procedures in plugin/).
    apoc: bool = False
    #: The server reports the cause of a constraint violation in its error message.
    explains_constraint_errors: bool = True
    #: ``SHOW CONSTRAINTS`` reports names that CREATE ... IF NOT EXISTS reuses.
    show_constraints: bool = True
    #: Relationship types from a value (``MERGE (a)-[:$(row.type)]->(b)``): Neo4j 5.26 and
    #: later. Without it, every type needs its own query text, and Neo4j plans each one
    #: (dbp15k_fr_en has 2,111 types: loading its relationships took 112 s instead of ~10 s).
    #: ArcadeDB's Cypher has no dynamic types.
    dynamic_types: bool = False

    @property
    def is_embedded(self) -> bool:
        return self.product == "arcadedb"


def from_server(agent: str, components: list[dict], procedures: set[str] | None = None) -> Dialect:
    """Build the dialect from the Bolt agent string and ``dbms.components()``."""
    versions = [v for c in components for v in c.get("versions", [])]
    kernel = versions[0] if versions else "unknown"
    if "ArcadeDB" in agent:
        release = agent.split("ArcadeDB", 1)[1].strip(" ()")
        return Dialect(product="arcadedb", version=release or kernel, agent=agent,
                       apoc=False, explains_constraint_errors=False)
    if agent.startswith("Neo4j/"):
        apoc = any(p.startswith("apoc.") for p in (procedures or set()))
        return Dialect(product="neo4j", version=kernel, agent=agent, apoc=apoc,
                       dynamic_types=_at_least(kernel, (5, 26)))
    return Dialect(product="unknown", version=kernel, agent=agent)


def _at_least(version: str, wanted: tuple[int, int]) -> bool:
    """``"5.26.19"`` (or a calendar version such as ``"2025.01.0"``) is at least ``wanted``."""
    try:
        parts = tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    return parts >= wanted
