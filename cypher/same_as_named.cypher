// The SAME_AS edges between the two configured sides with both ends' name properties, for
// `kgn-align edges`: by strength (an accepted pair without a score counts as 1.0, any other
// unscored edge as 0.0), the strongest first, or the weakest with $weakest; $all false: only
// the edges kgn-align wrote that no one reviewed yet (r.model set, r.review not), true:
// every SAME_AS edge; $model null: any model's, else that one's; a page of $limit after $skip.
// Filters as in writeback_edges.
MATCH (a:{{source_label}})-[r:{{same_as}}]->(b:{{target_label}})
WHERE a.{{source_property}} = coalesce($source_value, a.{{source_property}})
  AND b.{{target_property}} = coalesce($target_value, b.{{target_property}})
  AND ($model IS NULL OR r.model = $model)
  AND ($all OR (r.model IS NOT NULL AND r.review IS NULL))
// (a score that is not a number, set by hand, counts as none: compared with a number it is null)
WITH a, r, b, CASE WHEN r.score >= 0.0 OR r.score < 0.0 THEN r.score
                   WHEN r.review = 'accepted' THEN 1.0 ELSE 0.0 END AS strength
RETURN a.{{key}} AS source, b.{{key}} AS target,
       [p IN $name_properties | a[p]] AS source_names, [p IN $name_properties | b[p]] AS target_names,
       r.score AS score, r.model AS model, r.method AS method, r.review AS review, strength
ORDER BY CASE WHEN $weakest THEN strength ELSE -strength END, source, target
SKIP $skip LIMIT $limit
