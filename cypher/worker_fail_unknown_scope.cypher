// Fail queued jobs whose scope names no worker configuration of this database (a
// KgnWorkerScope's key): no worker would ever claim them. kgn.requestAlignment refuses such a
// configuration; a job created by plain Cypher with a misspelt key, or with a configuration's
// name where its key belongs, waited in silence. Run by 'kgn-align worker' when idle, as
// worker_fail_bad_status. `error` lists the configurations there are (key and name), and
// names the key of a configuration whose name the scope gives. One row per job.
OPTIONAL MATCH (s:KgnWorkerScope)
// (collect skips a null, but not a list of nulls: with no configuration registered the
// OPTIONAL MATCH's one null row is left out here, or every job's check would be null)
WITH collect(CASE WHEN s IS NULL THEN null ELSE [s.key, s.name] END) AS known
MATCH (j:AlignmentJob {status: 'queued'})
WHERE j.scope IS NOT NULL AND NOT j.scope IN [p IN known | p[0]]
WITH j, known, [p IN known WHERE p[1] = j.scope | p[0]] AS named
SET j.status = 'failed', j.finishedAt = datetime(), j.leaseUntil = null,
    j.error = 'scope \'' + j.scope + '\' is no worker configuration of this database ('
              + CASE WHEN size(named) > 0 THEN 'that is the name of ' + named[0] + ': set the key'
                     WHEN size(known) = 0 THEN 'none registered: start kgn-align worker first'
                     ELSE 'known: ' + reduce(t = '', p IN known | t + CASE t WHEN '' THEN '' ELSE ', ' END
                                                               + p[0] + ' = ' + p[1]) END
              + '); request jobs for one configuration with CALL kgn.requestAlignment(kind, params, configuration)'
RETURN j.id AS id, j.kind AS kind, j.scope AS scope, j.error AS error
