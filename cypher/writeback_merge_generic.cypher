// Model-scored SAME_AS edges, (source entity)-[:SAME_AS]->(target entity), for sides of
// any shape: a side without a property filter passes its key property as
// {{..._property}} and a null $..._value, so the filter reduces to key = key.
// Same rules as writeback_merge.cypher (keep the MERGE part of both files identical);
// that one is faster on the embedded server, which looks nodes up by index only when
// every property of a composite index is in the pattern's map.
UNWIND $rows AS row
MATCH (a:{{source_label}} {{{key}}: row.source})
WHERE a.{{source_property}} = coalesce($source_value, row.source)
MATCH (b:{{target_label}} {{{key}}: row.target})
WHERE b.{{target_property}} = coalesce($target_value, row.target)
  AND a <> b  // a node both sides select is never aligned with itself
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
