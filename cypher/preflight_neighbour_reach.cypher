// Preflight: what the sampler will find around one side's entities (the first $sample of
// them). Their relationships of the followed types ($types, or every type when null, never
// $same_as_type), counted by whether the neighbour is on the side (sampled, as in
// sampling_lists.cypher: $side_property = $side_value, or for a side without a property
// filter the side's label) and whether it has the key property (the sampler keys every node
// it samples by it: one without is dropped), and by the neighbour's first label.
// No relationship to a keyed node on the side: the side is matched by names alone.
MATCH (n:{{label}})
WHERE $side_property IS NULL OR n[$side_property] = $side_value
WITH n LIMIT $sample
MATCH (n)-[r]-(m)
WHERE m <> n
  AND type(r) <> $same_as_type
  AND ($types IS NULL OR type(r) IN $types)
WITH m, coalesce(CASE WHEN $side_property IS NULL THEN m:{{label}}
                      ELSE m[$side_property] = $side_value END, false) AS on_side
WITH m, on_side, on_side AND m.{{key_property}} IS NOT NULL AS sampled
RETURN on_side, sampled, CASE WHEN sampled THEN '' ELSE coalesce(head(labels(m)), '') END AS label,
       count(*) AS relationships
