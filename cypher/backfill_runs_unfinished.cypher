// Backfill runs other than $run_id that started and did not complete (stopped, or still
// running in another process), the newest first, with the settings that name their sides.
MATCH (run:KgnBackfillRun)
WHERE run.status = 'running' AND run.id <> $run_id
RETURN run.id AS id, run.settings AS settings, run.entities AS entities, run.total AS total,
       toString(run.startedAt) AS started
ORDER BY started DESC
