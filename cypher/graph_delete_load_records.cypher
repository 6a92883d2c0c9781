// The load records of graphs whose name starts with $prefix (deleted with those graphs).
MATCH (load:KgnLoad)
WHERE any(g IN load.graphs WHERE g STARTS WITH $prefix)
DELETE load
RETURN count(*) AS deleted
