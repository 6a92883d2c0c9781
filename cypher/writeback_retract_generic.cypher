// writeback_retract.cypher for sides of any shape: a side without a property filter passes
// its key property as {{..._property}} and a null $..._value, so the filter reduces to
// key = key. Same rules as writeback_retract.cypher (keep the two alike).
UNWIND $sources AS s
MATCH (a:{{source_label}} {{{key}}: s.key})-[r:{{same_as}}]->(b:{{target_label}})
WHERE a.{{source_property}} = coalesce($source_value, s.key)
  AND b.{{target_property}} = coalesce($target_value, b.{{target_property}})
  AND r.review IS NULL AND r.model IS NOT NULL
  AND NOT b.{{key}} IN s.keep
DELETE r
RETURN count(*) AS retracted
