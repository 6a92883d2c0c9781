// Preflight: what one configured side holds. Entities to align are the nodes with the side's
// label (and property = value when the side has a filter). Counts: entities, with a key,
// with a non-empty name in any of $name_properties.
MATCH (n:{{label}})
WHERE $side_property IS NULL OR n[$side_property] = $side_value
RETURN count(n) AS entities,
       count(n.{{key_property}}) AS keyed,
       sum(CASE WHEN any(p IN $name_properties
                         WHERE n[p] IS NOT NULL AND trim(toString(n[p])) <> '') THEN 1 ELSE 0 END) AS named
