// Preflight: the relationship types of one side's entities (every type but $same_as_type,
// for "did you mean" hints; the caller checks the configured relationship_types against it).
MATCH (n:{{label}})-[r]-()
WHERE ($side_property IS NULL OR n[$side_property] = $side_value) AND type(r) <> $same_as_type
RETURN DISTINCT type(r) AS type
