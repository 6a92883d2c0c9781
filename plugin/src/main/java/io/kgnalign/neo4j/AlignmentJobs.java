package io.kgnalign.neo4j;

import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.UUID;
import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Transaction;

/**
 * The {@code AlignmentJob} node, as the kgn-align worker consumes it (see
 * {@code plugin/request_job.cypher} and {@code cypher/worker_claim.cypher}).
 */
public final class AlignmentJobs {

    /** Label of job nodes. */
    public static final Label JOB = Label.label("AlignmentJob");
    /** Label of the backfill's bookkeeping nodes. */
    public static final Label BACKFILL_RUN = Label.label("KgnBackfillRun");
    /** Label of a worker configuration's node ({@code cypher/worker_scope_register.cypher}). */
    public static final Label WORKER_SCOPE = Label.label("KgnWorkerScope");
    /** Status of a job no worker has claimed yet. */
    public static final String QUEUED = "queued";
    /** What {@code capturedBy} says on jobs queued by the plugin's change capture. */
    public static final String CAPTURED_BY = "kgn-plugin";

    private AlignmentJobs() {
    }

    /**
     * Creates {@code (:AlignmentJob {id, kind, status: 'queued', params, requestedAt, attempts: 0})}
     * in {@code tx}. The caller has validated {@code kind} and {@code params}.
     *
     * @return the new job's id, a random UUID
     */
    public static String queue(Transaction tx, String kind, String params) {
        return queue(tx, kind, params, null);
    }

    /**
     * As {@link #queue(Transaction, String, String)}, and records who queued it in
     * {@code capturedBy} when not null ({@link #CAPTURED_BY} for change capture; the APOC
     * trigger writes {@code 'apoc-trigger'}).
     */
    public static String queue(Transaction tx, String kind, String params, String capturedBy) {
        return queue(tx, kind, params, capturedBy, null);
    }

    /**
     * As {@link #queue(Transaction, String, String, String)}, for the workers of one
     * configuration when {@code scope} (a {@code KgnWorkerScope}'s key) is not null: no other
     * configuration's worker adopts or copies it ({@code cypher/worker_adopt.cypher}).
     */
    public static String queue(Transaction tx, String kind, String params, String capturedBy, String scope) {
        String id = UUID.randomUUID().toString();
        Node job = tx.createNode(JOB);
        job.setProperty("id", id);
        job.setProperty("kind", kind);
        job.setProperty("status", QUEUED);
        job.setProperty("params", params);
        job.setProperty("requestedAt", ZonedDateTime.now(ZoneOffset.UTC));
        job.setProperty("attempts", 0L);
        if (capturedBy != null) {
            job.setProperty("capturedBy", capturedBy);
        }
        if (scope != null) {
            job.setProperty("scope", scope);
        }
        return id;
    }

}
