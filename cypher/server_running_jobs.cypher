// Jobs a worker holds under a live lease now: stopping the server interrupts them (each is
// tried again once a server answers and its lease runs out). Up to $limit, with the count.
MATCH (j:AlignmentJob {status: 'running'})
WHERE coalesce(j.leaseUntil, 0) >= $now
WITH j ORDER BY j.id
WITH count(j) AS running, collect(j.id + ' (' + coalesce(j.kind, '?') + ', worker '
     + coalesce(j.worker, '?') + ')') AS jobs
RETURN running, jobs[0..$limit] AS shown
