// A resumed run whose written part no longer matches the graph (source entities at or
// before its cursor added, deleted or newly selected since it stopped) starts over: its
// progress is reset, and every batch is written again (idempotently: what stands is left
// as it is). Only by the process that owns the run now.
MATCH (run:KgnBackfillRun {id: $run_id})
WHERE run.owner = $owner AND run.status = 'running'
SET run.cursor = null, run.batches = 0, run.entities = 0, run.pairs = 0, run.keysDigest = null, run.keysDigestAt = null,
    run.updatedAt = datetime(), run.touchedMs = $now
RETURN run.id AS id
