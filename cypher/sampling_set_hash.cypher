// Store each node's sampling hash (kgn_align.sampling.keys.node_hash of its key): the
// integer the race keys of sampling_lists / sampling_trees are computed from. Idempotent.
UNWIND $rows AS row
MATCH (n:{{label}})
WHERE n.{{key_property}} = row.key
  AND ($side_property IS NULL OR n[$side_property] = $side_value)
SET n.{{hash_property}} = row.hash
