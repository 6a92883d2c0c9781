// Delete up to $limit of one kind of kgn-align's finished bookkeeping nodes that finished
// before $before (a datetime): alignment jobs done or failed, backfill runs done ($statuses
// says which). Queued and running jobs, and runs that may still be resumed, stay.
MATCH (n:{{label}})
WHERE n.status IN $statuses AND n.finishedAt < $before
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
