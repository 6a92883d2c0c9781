// The SAME_AS edge between one source and one target entity, if any: what the backfill
// wrote (its score weighs the pair's rivals) or what a person reviewed.
MATCH (a:{{source_label}})-[r:{{same_as}}]->(b:{{target_label}})
WHERE a.{{source_property}} = coalesce($source_value, a.{{source_property}})
  AND b.{{target_property}} = coalesce($target_value, b.{{target_property}})
  AND a.{{key}} = $source AND b.{{key}} = $target
RETURN r.score AS score, r.model AS model, r.method AS method, r.review AS review
LIMIT 1
