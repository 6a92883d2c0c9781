// SAME_AS edges from the source side to the target side, with what the model wrote.
// Filters as in writeback_merge; $model null: every edge, else only that model's.
MATCH (a:{{source_label}})-[r:{{same_as}}]->(b:{{target_label}})
WHERE a.{{source_property}} = coalesce($source_value, a.{{source_property}})
  AND b.{{target_property}} = coalesce($target_value, b.{{target_property}})
  AND ($model IS NULL OR r.model = $model)
RETURN a.{{key}} AS source, b.{{key}} AS target, r.score AS score, r.model AS model,
       r.method AS method, r.review AS review, r.createdAt AS createdAt,
       r.updatedAt AS updatedAt
ORDER BY source, target
