// The backfill runs clean_bookkeeping leaves because a process may be writing them now.
MATCH (run:KgnBackfillRun)
WHERE run.status = 'running' AND coalesce(run.touchedMs, 0) >= $active_since
RETURN run.id AS id, run.touchedMs AS touched
ORDER BY touched DESC
