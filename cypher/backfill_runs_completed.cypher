// The newest completed backfill runs of a whole source side (no filter), with the settings
// that name their sides: a run of the same sides that started after an unfinished one
// wrote every source's edges again, so the unfinished one is no longer worth a warning.
MATCH (run:KgnBackfillRun)
WHERE run.status = 'done' AND run.wholeSide = true AND run.id <> $run_id
RETURN run.id AS id, run.settings AS settings, toString(run.startedAt) AS started
ORDER BY started DESC
LIMIT 50
