// How many SAME_AS edges `kgn-align edges` could list (same_as_named's filters): the total
// behind its first page.
MATCH (a:{{source_label}})-[r:{{same_as}}]->(b:{{target_label}})
WHERE a.{{source_property}} = coalesce($source_value, a.{{source_property}})
  AND b.{{target_property}} = coalesce($target_value, b.{{target_property}})
  AND ($model IS NULL OR r.model = $model)
  AND ($all OR (r.model IS NOT NULL AND r.review IS NULL))
RETURN count(r) AS edges
