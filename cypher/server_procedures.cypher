// Installed procedures (APOC present or not). Neo4j only.
SHOW PROCEDURES YIELD name
RETURN name
