package io.kgnalign.neo4j;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.NotFoundException;
import org.neo4j.graphdb.ResourceIterator;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;

/**
 * Procedures to queue kgn-align alignment jobs and follow them.
 *
 * <p>A job is an {@code (:AlignmentJob)} node; the kgn-align worker ({@code kgn-align worker})
 * claims queued jobs, runs them and records the outcome on the node.
 */
public class AlignmentProcedures {

    /**
     * The default of {@code kgn.jobs}'s status. Neo4j 5 does not turn a {@code STRING}
     * parameter's {@code defaultValue = "null"} into null (it does for other types): the
     * procedure receives the text {@code "null"}, which therefore also means "all".
     */
    private static final String NO_STATUS = "null";

    @Context
    public Transaction tx;

    /** The row of {@code kgn.requestAlignment}. */
    public static final class JobId {
        public final String jobId;

        JobId(String jobId) {
            this.jobId = jobId;
        }
    }

    /**
     * Queues an alignment job for the kgn-align worker:
     * {@code (:AlignmentJob {id, kind, status: 'queued', params, requestedAt: datetime(), attempts: 0})}.
     *
     * <p>Everything is checked before anything is written; on any error the call (and the
     * caller's transaction) fails and no job is queued.
     *
     * @param kind   {@code 'backfill'} (align all source entities) or {@code 'changed'}
     *               (re-align what the listed nodes can affect)
     * @param params the job's options, a JSON object as text (default {@code '{}'}); its keys
     *               per kind are listed in {@link JobParams}. Stored re-serialised, compact.
     * @param configuration the worker configuration that runs the job: a {@code (:KgnWorkerScope)}'s
     *               {@code key} or {@code name}, stored as the job's {@code scope}. Default
     *               {@code ''}: none, every configuration whose workers ran lately runs it
     *               (see the README's "Workers of several configurations")
     * @return one row: {@code jobId}, the new job's id
     * @throws InvalidJobRequestException for an unknown kind, params that are not a JSON
     *         object, an unknown key, a value of the wrong type or out of range, or (for
     *         {@code changed}) an element id that is no node of this database
     */
    @Procedure(name = "kgn.requestAlignment", mode = Mode.WRITE)
    @Description("kgn.requestAlignment(kind, params = '{}', configuration = '') - queue a kgn-align job "
            + "('backfill' or 'changed'); params is a JSON object as text; configuration: the key or name of "
            + "the one worker configuration (:KgnWorkerScope) to run it, default every one. Yields the job's id.")
    public Stream<JobId> requestAlignment(@Name("kind") String kind,
                                          @Name(value = "params", defaultValue = "{}") String params,
                                          @Name(value = "configuration", defaultValue = "") String configuration) {
        String normalised = JobParams.normalise(kind, params);
        if (JobParams.CHANGED.equals(kind)) {
            requireNodes(JobParams.nodeIdsOf(normalised));
        }
        String scope = configuration == null || configuration.isEmpty() ? null : scopeOf(configuration);
        return Stream.of(new JobId(AlignmentJobs.queue(tx, kind, normalised, null, scope)));
    }

    /** Configurations named in the error of {@link #scopeOf}. */
    private static final int CONFIGURATIONS_SHOWN = 5;

    /**
     * The key of the worker configuration {@code configuration} names: a
     * {@code (:KgnWorkerScope)} whose {@code key} is it, else the one whose {@code name} is it.
     *
     * @throws InvalidJobRequestException when none is, or several share that name
     */
    private String scopeOf(String configuration) {
        List<String[]> known = new ArrayList<>();  // key, name
        try (ResourceIterator<Node> scopes = tx.findNodes(AlignmentJobs.WORKER_SCOPE)) {
            scopes.forEachRemaining(s -> known.add(new String[] {
                    String.valueOf(s.getProperty("key", "")), String.valueOf(s.getProperty("name", ""))}));
        }
        known.sort(java.util.Comparator.comparing(k -> k[0]));
        for (String[] k : known) {
            if (k[0].equals(configuration)) {
                return k[0];
            }
        }
        List<String> named = known.stream().filter(k -> k[1].equals(configuration)).map(k -> k[0]).toList();
        if (named.size() == 1) {
            return named.get(0);
        }
        if (named.size() > 1) {
            throw new InvalidJobRequestException(("kgn.requestAlignment: %d worker configurations are named '%s' "
                    + "(keys %s): give the key").formatted(named.size(), configuration, String.join(", ", named)));
        }
        String shown = known.isEmpty()
                ? "none is registered: a kgn-align worker registers its configuration when it starts"
                : "known: " + String.join(", ", known.stream().limit(CONFIGURATIONS_SHOWN)
                        .map(k -> "%s (%s)".formatted(k[0], k[1])).toList())
                  + (known.size() > CONFIGURATIONS_SHOWN ? ", ..." : "");
        throw new InvalidJobRequestException("kgn.requestAlignment: no worker configuration with the key or name '%s' (%s)"
                .formatted(configuration, shown));
    }

    /** Ids of unknown nodes named in the error of {@link #requireNodes}. */
    private static final int UNKNOWN_SHOWN = 3;

    /**
     * Refuses a {@code changed} request naming an element id that is no node of this
     * database (a typo, a relationship's id, an id from another database, a node deleted
     * since): the job would re-align nothing for it and say so only after running. A node's
     * deletion needs no request: change capture queues it, and the worker samples the side
     * again when a side lost nodes.
     */
    private void requireNodes(List<String> ids) {
        List<String> unknown = new ArrayList<>();
        for (String id : ids) {
            try {
                tx.getNodeByElementId(id);
            } catch (NotFoundException | IllegalArgumentException notANode) {
                unknown.add(id);
            }
        }
        if (!unknown.isEmpty()) {
            String shown = String.join(", ", unknown.stream().limit(UNKNOWN_SHOWN).map(id -> "'" + id + "'").toList());
            throw new InvalidJobRequestException(("kgn.requestAlignment: %d of the %d nodeIds name no node of "
                    + "this database: %s%s (element ids, as elementId(n) returns them); nothing queued")
                    .formatted(unknown.size(), ids.size(), shown, unknown.size() > UNKNOWN_SHOWN ? ", ..." : ""));
        }
    }

    /** The statuses a job takes, in the order it passes through them. */
    static final List<String> STATUSES = List.of("queued", "running", "done", "failed");

    /**
     * Lists alignment jobs, newest {@code requestedAt} first.
     *
     * @param status only jobs with this status ({@code 'queued'}, {@code 'running'},
     *               {@code 'done'}, {@code 'failed'}); {@code null} (the default) or {@code ''}
     *               for all
     * @return one row per job; see {@link JobRecord} for the columns
     * @throws InvalidJobRequestException for another status (a typo such as {@code 'finished'}
     *         or {@code 'DONE'} would list nothing)
     */
    @Procedure(name = "kgn.jobs", mode = Mode.READ)
    @Description("kgn.jobs(status = null) - kgn-align alignment jobs, newest first; all, or those with this status.")
    public Stream<JobRecord> jobs(@Name(value = "status", defaultValue = NO_STATUS) String status) {
        boolean all = status == null || status.isEmpty() || NO_STATUS.equals(status);
        if (!all && !STATUSES.contains(status)) {
            throw new InvalidJobRequestException("kgn.jobs: no job status '%s' (statuses: %s; null for all)"
                    .formatted(status, String.join(", ", STATUSES)));
        }
        try (ResourceIterator<Node> nodes = all
                ? tx.findNodes(AlignmentJobs.JOB)
                : tx.findNodes(AlignmentJobs.JOB, "status", status)) {
            List<JobRecord> rows = new ArrayList<>();
            while (nodes.hasNext()) {
                Node job = nodes.next();
                try {
                    rows.add(JobRecord.read(tx, job));
                } catch (NotFoundException deleted) {
                    // pruned by a worker's housekeeping between the index lookup and the lock
                }
            }
            rows.sort(JobRecord.NEWEST_FIRST);
            return rows.stream();
        }
    }

    /**
     * One alignment job.
     *
     * @param jobId the job's {@code id}, as {@code kgn.requestAlignment} yields it
     * @return one row, with the columns of {@code kgn.jobs}
     * @throws InvalidJobRequestException if there is no job with that id
     */
    @Procedure(name = "kgn.job", mode = Mode.READ)
    @Description("kgn.job(jobId) - one kgn-align alignment job, by id; fails if there is none.")
    public Stream<JobRecord> job(@Name("jobId") String jobId) {
        if (jobId != null) {
            try (ResourceIterator<Node> nodes = tx.findNodes(AlignmentJobs.JOB, "id", jobId)) {
                if (nodes.hasNext()) {
                    try {
                        return Stream.of(JobRecord.read(tx, nodes.next()));
                    } catch (NotFoundException deleted) {
                        // pruned meanwhile: there is no such job now
                    }
                }
            }
        }
        throw new InvalidJobRequestException("kgn.job: no alignment job with id '%s'".formatted(jobId));
    }
}
