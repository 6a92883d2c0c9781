// Two-hop trees for a batch of seeds of one side, in one round trip.
//
// Hop 1: each seed's first $k1 candidates; hop 2: for each *distinct* hop-1 neighbour of
// the batch, its first $k2 candidates (drawn once, however many trees share it). The draw
// is the one of sampling_lists.cypher (candidates, weights 1/c, race keys on the stored
// node hash, the same ORDER BY), so both queries give the same trees; only the caps
// differ. Supernodes cost server time, never more than $k1 or $k2 rows.
//
// Returns one row per list: hop (1 for seeds, 2 for hop-1 neighbours), the node's element
// id, key and entity type, and parallel lists (neighbour element ids and keys, relationship
// types, directions: 0 = x->m, 1 = m->x, neighbour entity types). Entity type = the first
// of $entity_labels the node carries (the configured entity_labels, then the side's
// label), else its first label. Seeds carry the side's label
// and its property filter; neighbours are on the same side as in sampling_lists.
UNWIND $keys AS key
MATCH (x:{{label}})
WHERE x.{{key_property}} = key
  AND ($side_property IS NULL OR x[$side_property] = $side_value)
WITH x, key, (coalesce(x.{{hash_property}}, 0) * 1583458089) % 2147483647 AS hx
CALL (x, hx) {
  // draw:begin
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
  LIMIT $k1
  RETURN collect(m) AS picked, collect(elementId(m)) AS nbr, collect(m.{{key_property}}) AS nbr_key,
         collect(rel) AS rel, collect(dir) AS dir, collect(coalesce([l IN $entity_labels WHERE l IN labels(m)][0], head(labels(m)), '')) AS type
}
WITH collect({hop: 1, id: elementId(x), key: key, self: coalesce([l IN $entity_labels WHERE l IN labels(x)][0], head(labels(x)), ''),
              nbr: nbr, nbr_key: nbr_key, rel: rel, dir: dir, type: type}) AS seeds,
     collect(picked) AS picks
CALL (picks) {
  UNWIND picks AS ps
  UNWIND ps AS p
  RETURN collect(DISTINCT p) AS frontier
}
CALL (frontier) {
  UNWIND frontier AS x
  WITH x, (coalesce(x.{{hash_property}}, 0) * 1583458089) % 2147483647 AS hx
  CALL (x, hx) {
    // draw:begin
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
    LIMIT $k2
    RETURN collect(elementId(m)) AS nbr, collect(m.{{key_property}}) AS nbr_key, collect(rel) AS rel,
           collect(dir) AS dir, collect(coalesce([l IN $entity_labels WHERE l IN labels(m)][0], head(labels(m)), '')) AS type
  }
  RETURN collect({hop: 2, id: elementId(x), key: x.{{key_property}}, self: coalesce([l IN $entity_labels WHERE l IN labels(x)][0], head(labels(x)), ''),
                  nbr: nbr, nbr_key: nbr_key, rel: rel, dir: dir, type: type}) AS lists
}
UNWIND seeds + lists AS row
RETURN row.hop AS hop, row.id AS id, row.key AS key, row.self AS self, row.nbr AS nbr,
       row.nbr_key AS nbr_key, row.rel AS rel, row.dir AS dir, row.type AS type
