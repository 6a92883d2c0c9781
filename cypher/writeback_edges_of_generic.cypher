// writeback_edges_of.cypher for sides of any shape: a side without a property filter passes
// its key property as {{..._property}} and a null $..._value, so the filter reduces to
// key = key. Same rows as writeback_edges_of.cypher (keep the two alike).
UNWIND $keys AS k
MATCH (a:{{source_label}} {{{key}}: k})-[r:{{same_as}}]->(b:{{target_label}})
WHERE a.{{source_property}} = coalesce($source_value, k)
  AND b.{{target_property}} = coalesce($target_value, b.{{target_property}})
RETURN a.{{key}} AS source, b.{{key}} AS target, r.score AS score, r.model AS model,
       r.method AS method, r.review AS review
