// Forget a backfill run's progress (its edges stay).
MATCH (run:KgnBackfillRun {id: $run_id})
DELETE run
RETURN count(*) AS deleted
