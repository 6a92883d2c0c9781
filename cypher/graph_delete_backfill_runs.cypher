// The backfill runs over graphs whose name starts with a prefix (deleted with those graphs:
// a reload would otherwise find its run ids 'already complete', their edges long gone). A
// run keeps its settings as JSON text, each side's selection in it: $needle is the text a
// side value under the prefix starts with ('"value": "dblp_acm/').
MATCH (run:KgnBackfillRun)
WHERE run.settings CONTAINS $needle
DETACH DELETE run
RETURN count(*) AS deleted
