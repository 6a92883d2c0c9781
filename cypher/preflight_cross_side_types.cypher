// Preflight: the relationship types that join a source entity to a target entity (either
// direction), with how many: a same_as_type that joins none, next to a near miss of it
// that does ('SAMEAS' for 'SAME_AS'), is a typo that would read no review and write a
// second set of edges beside the reviewed ones.
MATCH (a:{{source_label}})-[r]-(b:{{target_label}})
WHERE ($source_property IS NULL OR a[$source_property] = $source_value)
  AND ($target_property IS NULL OR b[$target_property] = $target_value)
RETURN type(r) AS type, count(r) AS relationships
