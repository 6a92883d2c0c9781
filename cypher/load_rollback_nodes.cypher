// Undo a failed load: nodes it created (call until deleted = 0).
MATCH (n:{{label}})
WHERE n.kgn_load = $load_id
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
