// The entity-table rows of the nodes $ids that are on one side (see sampling_entities):
// a worker refreshing its snapshot after a change checks that the changed nodes are still
// what its table says (same key, type and label) and finds new nodes on the side.
UNWIND $ids AS id
MATCH (n)
WHERE elementId(n) = id
  AND CASE WHEN $side_property IS NULL THEN n:{{label}} ELSE n[$side_property] = $side_value END
  AND n.{{key_property}} IS NOT NULL
RETURN elementId(n) AS id, n.{{key_property}} AS key,
       coalesce([l IN $entity_labels WHERE l IN labels(n)][0], head(labels(n)), '') AS type,
       n:{{label}} AS aligned, n.{{hash_property}} AS hash
