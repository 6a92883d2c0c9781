// How many of the nodes $ids are on one side (as sampling_entities_by_id selects them) but
// have no key property: no entity table holds them, so a 'changed' job naming them aligns
// nothing for them; the worker says so instead of 'nothing to re-align'.
UNWIND $ids AS id
MATCH (n)
WHERE elementId(n) = id
  AND CASE WHEN $side_property IS NULL THEN n:{{label}} ELSE n[$side_property] = $side_value END
  AND n.{{key_property}} IS NULL
RETURN count(n) AS nodes
