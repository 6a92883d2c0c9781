// Pairs a person (or a seed load) reviewed: SAME_AS edges with r.review set between the two
// sides. 'accepted' and 'rejected' are the training labels; any other value is reported
// (kgn_align.writeback.labelled_pairs warns about it: a typo such as 'Accepted' is no label).
MATCH (a:{{source_label}})-[r:{{same_as}}]->(b:{{target_label}})
WHERE r.review IS NOT NULL
  AND ($source_property IS NULL OR a[$source_property] = $source_value)
  AND ($target_property IS NULL OR b[$target_property] = $target_value)
RETURN a.{{key_property}} AS source, b.{{key_property}} AS target, r.review AS review
ORDER BY source, target
