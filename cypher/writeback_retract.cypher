// A backfill batch's retraction, in the transaction that merges its edges: the model-written
// SAME_AS edges (r.model set, r.review not set) from the batch's source entities to the
// target side that the alignment no longer chooses — the source was given another target,
// no target above the threshold, or a person accepted another pair for it. Edges a person
// reviewed, and SAME_AS edges kgn-align did not write (no r.model), are never touched.
// $sources: [{key, keep: [target keys chosen for it in this batch]}].
// Side property and key sit in the node pattern's map so the (property, key) index is used.
UNWIND $sources AS s
MATCH (a:{{source_label}} {{{source_property}}: $source_value, {{key}}: s.key})-[r:{{same_as}}]->(b:{{target_label}})
WHERE b.{{target_property}} = $target_value
  AND r.review IS NULL AND r.model IS NOT NULL
  AND (NOT b.{{key}} IN s.keep
       // or ruled out by a review made while the run scored (as in writeback_merge.cypher)
       OR COUNT { (a)-[x:{{same_as}}]->(o:{{target_label}})
                  WHERE x.review = 'accepted' AND o <> b AND o.{{target_property}} = coalesce($target_value, o.{{target_property}}) } > 0
       OR COUNT { (o:{{source_label}})-[x:{{same_as}}]->(b)
                  WHERE x.review = 'accepted' AND o <> a AND o.{{source_property}} = coalesce($source_value, o.{{source_property}}) } > 0)
DELETE r
RETURN count(*) AS retracted
