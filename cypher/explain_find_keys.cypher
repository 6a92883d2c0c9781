// kgn-align explain with part of a key: the keys of one side's entities (nodes with the
// side's label and filter) that equal $text or end with one of $suffixes ($text after a
// separator: '/Paris', '#Paris', ':Paris'; see kgn_align.explaining.key_suffixes).
// Returns how many keys match (total), and the first $limit keys in this order: the exact
// key, the other matches, then the side's other keys, each part sorted. With no match the
// list shows what the side's keys look like.
MATCH (n:{{label}})
WHERE ($side_property IS NULL OR n[$side_property] = $side_value)
  AND n.{{key_property}} IS NOT NULL
WITH toString(n.{{key_property}}) AS key
WITH key, CASE WHEN key = $text THEN 2 WHEN any(s IN $suffixes WHERE key ENDS WITH s) THEN 1 ELSE 0 END AS hit
ORDER BY hit DESC, key
WITH collect(key) AS keys, sum(CASE WHEN hit > 0 THEN 1 ELSE 0 END) AS total
RETURN total, keys[0..$limit] AS keys
