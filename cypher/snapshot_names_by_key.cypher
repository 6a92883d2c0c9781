// Names and attribute values of the given nodes of one side, by key (explanations of a few
// pairs).
UNWIND $keys AS key
MATCH (n)
WHERE n.{{key_property}} = key
  AND CASE WHEN $side_property IS NULL THEN n:{{label}} ELSE n[$side_property] = $side_value END
RETURN key, [p IN $name_properties | n[p]] AS names,
       [p IN $attribute_properties | n[p]] AS attributes
