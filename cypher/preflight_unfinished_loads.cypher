// Loads into either side's graph that started and never completed (their record stays):
// killed, their rollback interrupted, or still running now.
MATCH (load:KgnLoad)
WHERE any(g IN load.graphs WHERE g IN $values)
RETURN load.id AS id, load.dataset AS dataset, toString(load.startedAt) AS started
ORDER BY started
