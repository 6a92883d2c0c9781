// A backfill run's progress, or nothing if there is no run with that id.
MATCH (run:KgnBackfillRun {id: $run_id})
RETURN run.status AS status, run.cursor AS cursor, run.batches AS batches,
       run.entities AS entities, run.pairs AS pairs, run.total AS total,
       run.settings AS settings, run.owner AS owner
