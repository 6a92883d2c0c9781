// One progress node per backfill run id.
CREATE CONSTRAINT kgn_backfill_run_id IF NOT EXISTS
FOR (run:KgnBackfillRun) REQUIRE run.id IS UNIQUE
