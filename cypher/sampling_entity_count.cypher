// How many nodes one side holds now (the rows sampling_entities would return): a worker
// refreshing its snapshot samples afresh when nodes appeared or vanished unreported.
MATCH (n)
WHERE CASE WHEN $side_property IS NULL THEN n:{{label}} ELSE n[$side_property] = $side_value END
  AND n.{{key_property}} IS NOT NULL
RETURN count(n) AS nodes
