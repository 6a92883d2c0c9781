// Source entities a backfill covers, by key, sorted: the order its cursor follows.
// {{type_label}}: the entity-type filter (the side's own label again when there is none).
// $keys null: every key; $since null: no "changed since" filter ({{changed_property}} is
// then never read). A side without a property filter passes its key property and a null
// $source_value (the filter becomes key = key). Entities without a key are left out, as
// 'kgn-align check' says they are (they cannot carry a run's progress or an edge's key).
MATCH (n:{{source_label}}&{{type_label}})
WHERE n.{{source_property}} = coalesce($source_value, n.{{source_property}})
  AND n.{{key}} IS NOT NULL
  AND ($keys IS NULL OR n.{{key}} IN $keys)
  AND ($since IS NULL OR n.{{changed_property}} >= $since)
RETURN n.{{key}} AS key
ORDER BY key
