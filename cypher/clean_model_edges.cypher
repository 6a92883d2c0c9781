// kgn-align clean: delete up to $limit model-written SAME_AS edges between the two sides
// (r.model set, no r.review): edges a person reviewed, and SAME_AS edges kgn-align did not
// write (imported links without r.model), stay. Run until it returns 0.
MATCH (a:{{source_label}})-[r:{{same_as}}]->(b:{{target_label}})
WHERE a.{{source_property}} = coalesce($source_value, a.{{source_property}})
  AND b.{{target_property}} = coalesce($target_value, b.{{target_property}})
  AND r.review IS NULL AND r.model IS NOT NULL
WITH r LIMIT $limit
DELETE r
RETURN count(*) AS deleted
