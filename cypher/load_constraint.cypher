// One node per (graph, key) for each entity label: what makes loads idempotent.
CREATE CONSTRAINT {{name}} IF NOT EXISTS
FOR (n:{{label}}) REQUIRE (n.graph, n.key) IS UNIQUE
