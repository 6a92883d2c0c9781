// Store each node's sampling hash (kgn_align.sampling.keys.node_hash of its key): the
// integer the race keys of sampling_lists / sampling_trees are computed from. Idempotent.
// $rows: [{id: element id from sampling_entities, hash: integer}].
UNWIND $rows AS row
MATCH (n)
WHERE elementId(n) = row.id
SET n.{{hash_property}} = row.hash
RETURN count(n) AS written
