// A load completed: its record goes, and so do those of earlier loads of the same graphs
// that did not finish (a load is idempotent: the complete one completed them). After a
// rollback, $graphs is empty and only the load's own record goes.
MATCH (load:KgnLoad)
WHERE load.id = $load_id OR (size($graphs) > 0 AND all(g IN load.graphs WHERE g IN $graphs))
DELETE load
RETURN count(*) AS deleted
