// Model-scored SAME_AS edges, always (source entity)-[:SAME_AS]->(target entity).
// $rows: [{source, target, score}] (entity keys); $model: version hash; $method: how scored.
// A side without a property filter passes its key property as {{..._property}} and a null
// $..._value, so the filter reduces to key = key.
// Never changes an edge a person reviewed (r.review set), in either direction; leaves an
// edge alone when score, model and method are unchanged (a re-run is a no-op).
UNWIND $rows AS row
MATCH (a:{{source_label}} {{{key}}: row.source})
WHERE a.{{source_property}} = coalesce($source_value, row.source)
MATCH (b:{{target_label}} {{{key}}: row.target})
WHERE b.{{target_property}} = coalesce($target_value, row.target)
  AND COUNT { (a)<-[x:{{same_as}}]-(b) WHERE x.review IS NOT NULL } = 0
MERGE (a)-[r:{{same_as}}]->(b)
WITH r, row,
     CASE
       WHEN r.review IS NOT NULL THEN 'reviewed'
       WHEN r.createdAt IS NULL THEN 'created'
       WHEN r.score = row.score AND r.model = $model AND r.method = $method THEN 'unchanged'
       ELSE 'updated'
     END AS outcome
FOREACH (_ IN CASE WHEN outcome = 'created' THEN [1] ELSE [] END |
  SET r.createdAt = datetime())
FOREACH (_ IN CASE WHEN outcome IN ['created', 'updated'] THEN [1] ELSE [] END |
  SET r.score = row.score, r.model = $model, r.method = $method, r.updatedAt = datetime())
RETURN outcome, count(*) AS pairs
