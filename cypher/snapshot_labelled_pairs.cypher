// Pairs a person (or a seed load) labelled: SAME_AS edges with review 'accepted' or
// 'rejected' between the two sides, as training labels.
MATCH (a:{{source_label}})-[r:{{same_as}}]->(b:{{target_label}})
WHERE r.review IN ['accepted', 'rejected']
  AND ($source_property IS NULL OR a[$source_property] = $source_value)
  AND ($target_property IS NULL OR b[$target_property] = $target_value)
RETURN a.{{key_property}} AS source, b.{{key_property}} AS target, r.review AS review
ORDER BY source, target
