// Undo a failed load: relationships it created (call until deleted = 0).
MATCH (:{{label}})-[r]->()
WHERE r.kgn_load = $load_id
WITH r LIMIT $limit
DELETE r
RETURN count(*) AS deleted
