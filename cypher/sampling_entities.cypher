// The entity table of one side: every node on it, seeds and the nodes around them.
//
// A node is on the side when $side_property = $side_value (any label: a paper's authors are
// on its side) or, for a side without a property filter, when it carries the side's label.
// Returns its element id (valid for this run), key, entity type (the first of
// $entity_labels it carries, else its first label; $entity_labels: the configured
// entity_labels, then the side's label, so the entities being aligned are typed by it),
// whether it carries the side's label (the entities being aligned), and its stored
// sampling hash (null if never written).
MATCH (n)
WHERE CASE WHEN $side_property IS NULL THEN n:{{label}} ELSE n[$side_property] = $side_value END
  AND n.{{key_property}} IS NOT NULL
RETURN elementId(n) AS id, n.{{key_property}} AS key,
       coalesce([l IN $entity_labels WHERE l IN labels(n)][0], head(labels(n)), '') AS type,
       n:{{label}} AS aligned, n.{{hash_property}} AS hash
