// The SAME_AS edges from some source entities to the target side, with what the model
// wrote on them: what a dry run compares its would-be edges with (created, updated,
// unchanged, reviewed) and which of them a real run would retract. $keys: source keys.
// Side property and key sit in the node pattern's map so the (property, key) index is used.
UNWIND $keys AS k
MATCH (a:{{source_label}} {{{source_property}}: $source_value, {{key}}: k})-[r:{{same_as}}]->(b:{{target_label}})
WHERE b.{{target_property}} = $target_value
RETURN a.{{key}} AS source, b.{{key}} AS target, r.score AS score, r.model AS model,
       r.method AS method, r.review AS review
