// writeback_retract.cypher for sides of any shape: a side without a property filter passes
// its key property as {{..._property}} and a null $..._value, so the filter reduces to
// key = key. Same rules as writeback_retract.cypher (keep the two alike).
UNWIND $sources AS s
MATCH (a:{{source_label}} {{{key}}: s.key})-[r:{{same_as}}]->(b:{{target_label}})
WHERE a.{{source_property}} = coalesce($source_value, s.key)
  AND b.{{target_property}} = coalesce($target_value, b.{{target_property}})
  AND r.review IS NULL AND r.model IS NOT NULL
  AND (NOT b.{{key}} IN s.keep
       // or ruled out by a review made while the run scored (as in writeback_merge.cypher)
       OR COUNT { (a)-[x:{{same_as}}]->(o:{{target_label}})
                  WHERE x.review = 'accepted' AND o <> b AND o.{{target_property}} = coalesce($target_value, o.{{target_property}}) } > 0
       OR COUNT { (o:{{source_label}})-[x:{{same_as}}]->(b)
                  WHERE x.review = 'accepted' AND o <> a AND o.{{source_property}} = coalesce($source_value, o.{{source_property}}) } > 0)
DELETE r
RETURN count(*) AS retracted
