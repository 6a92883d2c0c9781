// Model-scored SAME_AS edges, always (source entity)-[:SAME_AS]->(target entity), for
// sides selected by a property (graph = '...'), as the loaders create them.
// $rows: [{source, target, score}] (entity keys); $model: version hash; $method: how scored.
// Never changes an edge a person reviewed (r.review set), in either direction; leaves an
// edge alone when model and method are unchanged and the score moved by at most
// $score_tolerance (a re-run is a no-op, whatever last bits another process's arithmetic leaves).
// Side property and key both sit in the node patterns' maps so that the (property, key)
// uniqueness index is used for the lookup.
UNWIND $rows AS row
MATCH (a:{{source_label}} {{{source_property}}: $source_value, {{key}}: row.source})
MATCH (b:{{target_label}} {{{target_property}}: $target_value, {{key}}: row.target})
WHERE a <> b  // a node both sides select is never aligned with itself
  // one pass over the source's SAME_AS edges (each expansion walks the node's relationships):
  // the pair reviewed the other way round (a person's), or, made while the run scored, the
  // source accepted for another target; then the target accepted for another source
  AND COUNT { (a)-[x:{{same_as}}]-(o)
              WHERE x.review IS NOT NULL
                AND CASE WHEN o = b THEN startNode(x) = b
                         ELSE startNode(x) = a AND x.review = 'accepted' AND o:{{target_label}}
                              AND o.{{target_property}} = coalesce($target_value, o.{{target_property}}) END } = 0
  AND COUNT { (o:{{source_label}})-[x:{{same_as}}]->(b)
              WHERE x.review = 'accepted' AND o <> a AND o.{{source_property}} = coalesce($source_value, o.{{source_property}}) } = 0
MERGE (a)-[r:{{same_as}}]->(b)
ON CREATE SET r.model = $model  // so that a SAME_AS edge without one was there before
WITH r, row,
     CASE
       WHEN r.review IS NOT NULL THEN 'reviewed'
       // an edge on the pair that kgn-align did not write (no r.model) and no person reviewed,
       // e.g. an import's own link: left as it is, never stamped as the model's (a later run
       // would then retract it, and 'kgn-align clean' delete it)
       WHEN r.model IS NULL THEN 'foreign'
       WHEN r.createdAt IS NULL THEN 'created'
       // (a score set by hand that is not a number is no score: the edge is updated)
       WHEN r.model = $model AND r.method = $method
            AND CASE WHEN r.score >= 0.0 OR r.score < 0.0 THEN abs(r.score - row.score) <= $score_tolerance
                     ELSE false END
         THEN 'unchanged'
       ELSE 'updated'
     END AS outcome
FOREACH (_ IN CASE WHEN outcome = 'created' THEN [1] ELSE [] END |
  SET r.createdAt = datetime())
FOREACH (_ IN CASE WHEN outcome IN ['created', 'updated'] THEN [1] ELSE [] END |
  SET r.score = row.score, r.model = $model, r.method = $method, r.updatedAt = datetime())
RETURN outcome, count(*) AS pairs
