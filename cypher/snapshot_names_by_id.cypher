// Names and attribute values of the nodes $ids of one side (see snapshot_names): a worker
// refreshing its snapshot after a change reads them for the changed nodes only.
UNWIND $ids AS id
MATCH (n)
WHERE elementId(n) = id
  AND CASE WHEN $side_property IS NULL THEN n:{{label}} ELSE n[$side_property] = $side_value END
RETURN id, [p IN $name_properties | n[p]] AS names,
       [p IN $attribute_properties | n[p]] AS attributes
