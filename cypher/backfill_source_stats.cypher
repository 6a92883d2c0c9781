// What a backfill filter can match on the source side, before anything is written:
// how many entities the side has, how many carry the entity-type label, and how many
// carry the "changed since" property at all.
MATCH (n:{{source_label}})
WHERE n.{{source_property}} = coalesce($source_value, n.{{source_property}})
RETURN count(n) AS entities,
       count(CASE WHEN n:{{type_label}} THEN 1 END) AS typed,
       count(n.{{changed_property}}) AS with_changed
