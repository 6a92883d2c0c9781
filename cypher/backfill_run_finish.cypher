// Mark a backfill run complete (a rerun with its id then does nothing).
MATCH (run:KgnBackfillRun {id: $run_id})
WHERE run.owner = $owner
SET run.status = 'done', run.finishedAt = datetime()
RETURN run.batches AS batches, run.entities AS entities, run.pairs AS pairs
