// Delete graphs whose name starts with $prefix, $limit nodes at a time (call until 0).
MATCH (n)
WHERE n.graph STARTS WITH $prefix
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
