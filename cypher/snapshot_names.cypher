// Names of every node on one side (the nodes sampling_entities lists), for level-0
// features: the values of $name_properties in order, nulls where a node lacks one; and of
// $attribute_properties (pair-model attribute features), likewise.
MATCH (n)
WHERE CASE WHEN $side_property IS NULL THEN n:{{label}} ELSE n[$side_property] = $side_value END
  AND n.{{key_property}} IS NOT NULL
RETURN elementId(n) AS id, [p IN $name_properties | n[p]] AS names,
       [p IN $attribute_properties | n[p]] AS attributes
