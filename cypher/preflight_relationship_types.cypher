// Preflight: which of the configured $types any relationship of one side's entities has.
MATCH (n:{{label}})-[r]-()
WHERE ($side_property IS NULL OR n[$side_property] = $side_value) AND type(r) IN $types
RETURN DISTINCT type(r) AS type
