// Names and attribute values of the nodes $ids of one side: for every entity of a
// snapshot (a batch of ids at a time), and for the changed nodes when a worker refreshes its
// snapshot after a change. Per node, the values of $name_properties in order (nulls where
// it lacks one) and of $attribute_properties (pair-model attribute features), likewise.
// One row for the whole batch, a list per column (a driver spends ~50-70 us of client CPU
// per record): the nodes found, their names and their attribute values.
UNWIND $ids AS id
MATCH (n)
WHERE elementId(n) = id
  AND CASE WHEN $side_property IS NULL THEN n:{{label}} ELSE n[$side_property] = $side_value END
WITH id, [p IN $name_properties | n[p]] AS names, [p IN $attribute_properties | n[p]] AS attributes
RETURN collect(id) AS id, collect(names) AS names, collect(attributes) AS attributes
