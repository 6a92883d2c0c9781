package io.kgnalign.neo4j;

import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.RelationshipType;
import org.neo4j.graphdb.Transaction;
import org.neo4j.graphdb.event.TransactionData;
import org.neo4j.graphdb.event.TransactionEventListener;
import org.neo4j.logging.Log;

/**
 * After each committed transaction of one database, queues one {@code 'changed'} alignment
 * job listing the nodes it changed (see {@link ChangeSet} for what counts), the replacement
 * for kgn-align's APOC trigger ({@code plugin/apoc_triggers.cypher}).
 *
 * <p>The job is written in its own transaction, on a single background thread: never in the
 * committing transaction, never delaying the client that committed, and a failure there is
 * logged, never reported to that client. Jobs are queued in commit order. The job's own
 * commit is seen again here and ignored (an {@code AlignmentJob} node).
 */
final class ChangeCaptureListener implements TransactionEventListener<Set<String>>, AutoCloseable {

    /** How long {@link #close} waits for jobs still being queued. */
    private static final long DRAIN_SECONDS = 30;

    private final GraphDatabaseService db;
    private final RelationshipType sameAs;
    private final Log log;
    private final ExecutorService executor;

    ChangeCaptureListener(GraphDatabaseService db, RelationshipType sameAs, Log log) {
        this.db = db;
        this.sameAs = sameAs;
        this.log = log;
        this.executor = Executors.newSingleThreadExecutor(task -> {
            Thread thread = new Thread(task, "kgn-align-change-capture-" + db.databaseName());
            thread.setDaemon(true);
            return thread;
        });
    }

    /**
     * The ends of the relationships the transaction deletes (read now: after the commit
     * they are gone), handed to {@link #afterCommit}; never fails the user's transaction.
     */
    @Override
    public Set<String> beforeCommit(TransactionData data, Transaction transaction,
                                    GraphDatabaseService databaseService) {
        try {
            if (isOwnTransaction(data)) {
                return Set.of();
            }
            return ChangeSet.endsOfDeleted(data, sameAs);
        } catch (RuntimeException e) {
            log.error("kgn-align change capture: could not read the relationships transaction %d deletes"
                    .formatted(data.getTransactionId()), e);
            return Set.of();
        }
    }

    /** Transaction metadata key and value that kgn-align's own transactions carry. */
    static final String APP_KEY = "app";
    static final String APP = "kgn-align";

    /**
     * True for transactions kgn-align itself ran (its Python driver tags every transaction
     * with metadata {@code app: 'kgn-align'}): loads, write-back, run state and the sampler
     * must never queue alignment jobs of their own.
     */
    static boolean isOwnTransaction(TransactionData data) {
        try {
            return APP.equals(data.metaData().get(APP_KEY));
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public void afterCommit(TransactionData data, Set<String> deletedEnds, GraphDatabaseService databaseService) {
        try {
            if (isOwnTransaction(data)) {
                return;
            }
            ChangeSet changes = ChangeSet.of(data, deletedEnds == null ? Set.of() : deletedEnds);
            if (!changes.isEmpty()) {
                executor.execute(() -> queueJob(changes));
            }
        } catch (RejectedExecutionException e) {
            log.warn("kgn-align change capture: database %s is stopping; changes of transaction %d not queued",
                    db.databaseName(), data.getTransactionId());
        } catch (RuntimeException e) {
            log.error("kgn-align change capture: could not read the changes of transaction %d"
                    .formatted(data.getTransactionId()), e);
        }
    }

    @Override
    public void afterRollback(TransactionData data, Set<String> state, GraphDatabaseService databaseService) {
        // nothing was changed
    }

    private void queueJob(ChangeSet changes) {
        try (Transaction tx = db.beginTx()) {
            Set<String> nodeIds = changes.resolve(tx, sameAs);
            if (nodeIds.isEmpty()) {
                return;
            }
            String jobId = AlignmentJobs.queue(tx, JobParams.CHANGED, JobParams.changed(nodeIds),
                    AlignmentJobs.CAPTURED_BY);
            tx.commit();
            log.debug("kgn-align change capture: queued job %s for %d changed node(s)", jobId, nodeIds.size());
        } catch (RuntimeException e) {
            log.error("kgn-align change capture: could not queue a 'changed' job for %d change(s)"
                    .formatted(changes.size()), e);
        }
    }

    /** Stops taking changes and waits (up to {@value #DRAIN_SECONDS} s) for the jobs in flight. */
    @Override
    public void close() {
        executor.shutdown();
        try {
            if (!executor.awaitTermination(DRAIN_SECONDS, TimeUnit.SECONDS)) {
                log.warn("kgn-align change capture: gave up waiting for %d s; some 'changed' jobs were not queued",
                        DRAIN_SECONDS);
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
