package io.kgnalign.neo4j;

import java.lang.reflect.Array;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.util.Comparator;
import java.util.Map;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Transaction;

/**
 * One row of {@code kgn.jobs} and {@code kgn.job}: an {@code AlignmentJob} node's properties.
 * A property the node lacks is {@code null}. Text properties of another type are given as
 * text; the times are given as stored (a {@code DATETIME} when Cypher's {@code datetime()} or
 * this plugin wrote them).
 */
public final class JobRecord {

    /** Newest {@code requestedAt} first; jobs without a date-time there last; then by id. */
    static final Comparator<JobRecord> NEWEST_FIRST = Comparator
            .comparing((JobRecord r) -> instantOf(r.requestedAt),
                    Comparator.nullsLast(Comparator.<Instant>reverseOrder()))
            .thenComparing(r -> r.jobId, Comparator.nullsLast(Comparator.<String>naturalOrder()));

    public final String jobId;
    public final String kind;
    public final String status;
    /** The job's options, a JSON object as text. */
    public final String params;
    /** How many times a worker has claimed the job. */
    public final Long attempts;
    public final Object requestedAt;
    public final Object startedAt;
    public final Object finishedAt;
    /** Name of the worker that claimed the job last. */
    public final String worker;
    public final String error;
    /** What the job did, a JSON object as text (set by the worker when it finishes). */
    public final String result;
    /**
     * The worker configuration the job is for (a hash of its two sides), set when a worker of
     * it adopts the job or queues a copy of it; {@code null} while no worker has looked.
     */
    public final String scope;
    /** For a copy queued for another worker configuration: the id of the job it copies. */
    public final String copyOf;

    /**
     * The job's properties as one committed state: takes a shared lock on the node first (held
     * to the end of the transaction), so that a worker's write in flight (a status and its
     * {@code finishedAt} set together) is waited for rather than read half-way.
     *
     * @throws org.neo4j.graphdb.NotFoundException if the node was deleted meanwhile
     */
    static JobRecord read(Transaction tx, Node job) {
        tx.acquireReadLock(job);
        return new JobRecord(job.getAllProperties());
    }

    private JobRecord(Map<String, Object> job) {
        jobId = text(job.get("id"));
        kind = text(job.get("kind"));
        status = text(job.get("status"));
        params = text(job.get("params"));
        attempts = job.get("attempts") instanceof Number n ? n.longValue() : null;
        requestedAt = job.get("requestedAt");
        startedAt = job.get("startedAt");
        finishedAt = job.get("finishedAt");
        worker = text(job.get("worker"));
        error = text(job.get("error"));
        result = text(job.get("result"));
        scope = text(job.get("scope"));
        copyOf = text(job.get("copyOf"));
    }

    private static String text(Object value) {
        if (value == null || value instanceof String) {
            return (String) value;
        }
        if (value.getClass().isArray()) {
            StringBuilder out = new StringBuilder("[");
            for (int i = 0; i < Array.getLength(value); i++) {
                out.append(i == 0 ? "" : ", ").append(Array.get(value, i));
            }
            return out.append(']').toString();
        }
        return value.toString();
    }

    private static Instant instantOf(Object value) {
        if (value instanceof ZonedDateTime z) {
            return z.toInstant();
        }
        if (value instanceof OffsetDateTime o) {
            return o.toInstant();
        }
        return null;
    }
}
