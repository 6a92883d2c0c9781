// Every candidate of a batch of nodes of one side, not drawn: for sampling without a stored
// hash (sampling.store_hash = false), where kgn_align.sampling.server draws in Python with
// the same race keys, on node_hash of the keys (kgn_align.sampling.lists.race_order).
//
// Candidates and their group sizes c are those of sampling_lists.cypher: the marked lines
// below are the start of its draw block, without the hash (tests/unit/
// test_sampling_cypher.py checks). c is 1 when $weighted is false.
//
// Returns one row per node found ($ids: element ids from sampling_entities or
// sampling_seed_ids): its element id, key and entity type (the first of $entity_labels it
// carries, else its first label), and parallel lists (neighbour element ids, keys and entity
// types, relationship types, directions: 0 = x->m, 1 = m->x, group sizes c).
UNWIND $ids AS id
MATCH (x)
WHERE elementId(x) = id
CALL (x) {
  // candidates:begin
  MATCH (x)-[r]-(m)
  WHERE m <> x
    AND type(r) <> $same_as_type
    AND m.{{key_property}} IS NOT NULL  // a node without a key is no entity: never a neighbour
    AND ($types IS NULL OR type(r) IN $types)
    AND CASE WHEN $side_property IS NULL THEN m:{{label}} ELSE m[$side_property] = $side_value END
  WITH DISTINCT type(r) AS rel, CASE WHEN startNode(r) = x THEN 0 ELSE 1 END AS dir, m
  WITH rel, dir, collect(m) AS grp
  WITH rel, dir, grp, CASE WHEN $weighted THEN size(grp) ELSE 1 END AS c
  UNWIND grp AS m
  // candidates:end
  RETURN collect(elementId(m)) AS nbr, collect(m.{{key_property}}) AS nbr_key, collect(rel) AS rel,
         collect(dir) AS dir, collect(c) AS c,
         collect(coalesce([l IN $entity_labels WHERE l IN labels(m)][0], head(labels(m)), '')) AS type
}
RETURN id, x.{{key_property}} AS key, coalesce([l IN $entity_labels WHERE l IN labels(x)][0], head(labels(x)), '') AS self,
       nbr, nbr_key, rel, dir, c, type
