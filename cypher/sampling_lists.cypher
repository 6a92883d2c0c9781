// Per-node neighbour lists of one side, one batch of nodes per round trip.
//
// For every node x whose element id is in $ids (from sampling_entities, same run): its
// first $cap candidates in race-key order. Element ids, not keys, because a side may hold
// several labels (Paper, Author, ...) and keys are unique only per label.
// Candidates: distinct (relationship type, direction, neighbour m with a key) over relationships of a
// followed type ($types, or every type when null), never $same_as_type, to a node m <> x
// of the same side: $side_property = $side_value when the side has a property filter
// (any label: a paper's authors are on its side), else the side's label. Each candidate's key is
// c * -ln(u), c = number of x's candidates with the same type and direction (weight 1/c;
// c is taken as 1 when $weighted is false), u a hash of ($s1, $s2, x, m, direction) on the
// stored node hash (see kgn_align/sampling/keys.py; the arithmetic must match).
// The draw happens here: a supernode costs server time, never more than $cap rows.
//
// Returns one row for the whole batch (a driver spends ~50-70 us of client CPU per record,
// more than the server spends per node): per node found, its element id and its parallel
// lists (neighbour element ids, relationship types, directions: 0 = x->m, 1 = m->x), each
// column a list over the nodes. Entity types: sampling_entities.
UNWIND $ids AS id
MATCH (x)
WHERE elementId(x) = id
WITH x, id, (coalesce(x.{{hash_property}}, 0) * 1583458089) % 2147483647 AS hx
CALL (x, hx) {
  // draw:begin (identical in sampling_trees.cypher; tests/unit/test_sampling_cypher.py checks)
  MATCH (x)-[r]-(m)
  WHERE m <> x
    AND type(r) <> $same_as_type
    AND m.{{key_property}} IS NOT NULL  // a node without a key is no entity: never a neighbour
    AND ($types IS NULL OR type(r) IN $types)
    AND CASE WHEN $side_property IS NULL THEN m:{{label}} ELSE m[$side_property] = $side_value END
  WITH DISTINCT hx, type(r) AS rel, CASE WHEN startNode(r) = x THEN 0 ELSE 1 END AS dir, m
  WITH hx, rel, dir, collect(m) AS grp
  WITH hx, rel, dir, grp, CASE WHEN $weighted THEN size(grp) ELSE 1 END AS c
  UNWIND grp AS m
  WITH rel, dir, m, c, ((hx + coalesce(m.{{hash_property}}, 0)) % 2147483647) AS pair
  WITH rel, dir, m, c, pair, (pair * 784588716 + $s1 + dir) % 2147483647 AS t1
  WITH rel, dir, m, c, pair, ((t1 * t1) % 2147483647 + $s2) % 2147483647 AS t2
  WITH rel, dir, m, c, (((t2 % 65536) * 32768 + t2 / 65536) * 1223106847 + pair) % 2147483647 AS t3
  WITH rel, dir, m, c, (((t3 % 65536) * 32768 + t3 / 65536) * 1914874113) % 2147483647 AS t4
  WITH rel, dir, m, c * -log((t4 + 0.5) / 2147483647.0) AS race
  ORDER BY race, rel, dir, m.{{key_property}}
  // draw:end
  LIMIT $cap
  RETURN collect(elementId(m)) AS nbr, collect(rel) AS rel, collect(dir) AS dir
}
RETURN collect(id) AS id, collect(nbr) AS nbr, collect(rel) AS rel, collect(dir) AS dir
