// The entity table of one side, one page at a time (keyset pagination on the key).
//
// Returns each node's key, its entity type (the first of $entity_labels it carries, null
// if none) and its stored node hash (null if never written; the sampler writes missing or
// stale hashes with sampling_set_hash before drawing).
MATCH (n:{{label}})
WHERE ($side_property IS NULL OR n[$side_property] = $side_value)
  AND n.{{key_property}} IS NOT NULL
  AND ($after IS NULL OR n.{{key_property}} > $after)
RETURN n.{{key_property}} AS key, [l IN $entity_labels WHERE l IN labels(n)][0] AS type,
       n.{{hash_property}} AS hash
ORDER BY key
LIMIT $limit
