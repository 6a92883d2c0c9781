// kgn-align clean: remove the sampler's hash property from up to $limit nodes of one side
// (the nodes on the side's graph, as sampling sees them). Run until it returns 0.
MATCH (n)
WHERE CASE WHEN $side_property IS NULL THEN n:{{label}} ELSE n[$side_property] = $side_value END
  AND n.{{hash_property}} IS NOT NULL
WITH n LIMIT $limit
SET n.{{hash_property}} = null  // as REMOVE; ArcadeDB ignores REMOVE of a property here
RETURN count(*) AS deleted
