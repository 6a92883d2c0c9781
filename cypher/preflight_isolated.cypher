// Preflight: of one side's entities (the first $sample), how many have no neighbour the
// sampler takes — a relationship of a followed type ($types, or every type when null;
// never $same_as_type) to a node on the side that has the key property, as in
// preflight_neighbour_reach.cypher. Those are matched by their names alone.
MATCH (n:{{label}})
WHERE $side_property IS NULL OR n[$side_property] = $side_value
WITH n LIMIT $sample
OPTIONAL MATCH (n)-[r]-(m)
WHERE m <> n
  AND type(r) <> $same_as_type
  AND ($types IS NULL OR type(r) IN $types)
  AND m.{{key_property}} IS NOT NULL
  AND coalesce(CASE WHEN $side_property IS NULL THEN m:{{label}}
                    ELSE m[$side_property] = $side_value END, false)
WITH n, count(m) AS neighbours
RETURN count(n) AS entities, sum(CASE WHEN neighbours = 0 THEN 1 ELSE 0 END) AS isolated
