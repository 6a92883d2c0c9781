// Preflight: what the sampler will find around one side's entities (the first $sample of
// them). Their relationships of the followed types ($types, or every type when null, never
// $same_as_type), counted by whether the neighbour is on the side (sampled, as in
// sampling_lists.cypher: $side_property = $side_value, or for a side without a property
// filter the side's label) and whether it has the key property (the sampler keys every node
// it samples by it: one without is dropped), and by the neighbour's first label.
// No relationship to a keyed node on the side: the side is matched by names alone.
// Per label also the distinct neighbours, and of the sampled ones how many carry a name in
// one of $name_properties (a neighbour label without one lends its entities no names).
MATCH (n:{{label}})
WHERE $side_property IS NULL OR n[$side_property] = $side_value
WITH n LIMIT $sample
MATCH (n)-[r]-(m)
WHERE m <> n
  AND type(r) <> $same_as_type
  AND ($types IS NULL OR type(r) IN $types)
WITH m, coalesce(CASE WHEN $side_property IS NULL THEN m:{{label}}
                      ELSE m[$side_property] = $side_value END, false) AS on_side
WITH m, on_side, count(*) AS relationships
WITH m, on_side, relationships, on_side AND m.{{key_property}} IS NOT NULL AS sampled
WITH m, on_side, sampled, relationships,
     sampled AND any(p IN $name_properties
                     WHERE m[p] IS NOT NULL AND trim(toString(m[p])) <> '') AS named
RETURN on_side, sampled, coalesce(head(labels(m)), '') AS label,
       sum(relationships) AS relationships, count(m) AS nodes,
       sum(CASE WHEN named THEN 1 ELSE 0 END) AS named
