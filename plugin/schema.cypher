// kgn-align's own schema in Neo4j 5 (labels of the aligned graphs get theirs from the loaders).
// Idempotent: run it as often as you like.
//   cypher-shell -u neo4j -d neo4j -f plugin/schema.cypher

// One node per requested alignment job; the worker finds jobs by id and by status.
CREATE CONSTRAINT kgn_alignment_job_id IF NOT EXISTS
FOR (j:AlignmentJob) REQUIRE j.id IS UNIQUE;

CREATE INDEX kgn_alignment_job_status IF NOT EXISTS
FOR (j:AlignmentJob) ON (j.status);

// "Best alignments first" and score thresholds in Browser and in evaluation.
CREATE INDEX kgn_same_as_score IF NOT EXISTS
FOR ()-[r:SAME_AS]-() ON (r.score);
