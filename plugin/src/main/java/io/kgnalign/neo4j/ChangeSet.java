package io.kgnalign.neo4j;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.NotFoundException;
import org.neo4j.graphdb.Relationship;
import org.neo4j.graphdb.RelationshipType;
import org.neo4j.graphdb.Transaction;
import org.neo4j.graphdb.event.LabelEntry;
import org.neo4j.graphdb.event.PropertyEntry;
import org.neo4j.graphdb.event.TransactionData;

/**
 * What one committed transaction changed that can move an alignment, in two steps.
 *
 * <p>{@link #of} runs in {@code afterCommit}, when the committed transaction is closed: it
 * only takes what {@link TransactionData} holds by itself (element ids, label names,
 * property keys), never reading the graph. {@link #resolve} then reads, in a new
 * transaction, what that cannot tell: the type and ends of each created relationship and
 * the labels of each node, skipping what has been deleted since.
 *
 * <p>Counted: nodes created, nodes with a property set or removed (except keys starting
 * with {@code kgn}, such as the sampler's {@code kgnHash}), nodes given a label, and both
 * ends of each relationship created or deleted (except {@code SAME_AS}, kgn-align's own
 * output): a link gained or lost changes both neighbourhoods. A person's verdict on a
 * {@code SAME_AS} edge counts too: both ends of one whose {@code review} property is set,
 * changed or removed (or that is deleted with one), since a rejected pair frees its source
 * for its next candidate and its target for other sources, and an accepted one takes both
 * out of the matching. Never counted: {@code AlignmentJob}, {@code KgnBackfillRun} and
 * {@code KgnWorkerScope} nodes, kgn-align's bookkeeping.
 *
 * <p>A deleted relationship's ends can only be read while the deleting transaction is open:
 * {@link #endsOfDeleted} runs in {@code beforeCommit} and its ids join the set here.
 */
final class ChangeSet {

    /** Labels of kgn-align's own nodes. */
    private static final List<Label> IGNORED_LABELS = List.of(AlignmentJobs.JOB, AlignmentJobs.BACKFILL_RUN,
            AlignmentJobs.WORKER_SCOPE);
    /** Property keys starting with this belong to kgn-align (e.g. {@code kgnHash}). */
    static final String OWN_PROPERTY_PREFIX = "kgn";
    /** The {@code SAME_AS} property holding a person's verdict ({@code 'accepted'} / {@code 'rejected'}). */
    static final String REVIEW = "review";

    private final Set<String> nodeIds = new LinkedHashSet<>();
    private final Set<String> ignoredNodeIds = new LinkedHashSet<>();
    private final List<String> relationshipIds = new ArrayList<>();
    private final List<String> reviewedIds = new ArrayList<>();

    private ChangeSet() {
    }

    /**
     * The element ids of both ends of each relationship {@code data} deletes, except
     * {@code sameAs} ones without a review; run in {@code beforeCommit}, while they can still
     * be read (the snapshot keeps a deleted relationship's type and ends).
     */
    static Set<String> endsOfDeleted(TransactionData data, RelationshipType sameAs) {
        Set<String> reviewed = new HashSet<>();
        for (PropertyEntry<Relationship> entry : data.removedRelationshipProperties()) {
            if (REVIEW.equals(entry.key())) {
                reviewed.add(entry.entity().getElementId());
            }
        }
        Set<String> ends = new LinkedHashSet<>();
        for (Relationship relationship : data.deletedRelationships()) {
            if (!relationship.isType(sameAs) || reviewed.contains(relationship.getElementId())) {
                ends.add(relationship.getStartNode().getElementId());
                ends.add(relationship.getEndNode().getElementId());
            }
        }
        return ends;
    }

    /**
     * The changes in {@code data}, as ids, plus {@code deletedEnds} (from
     * {@link #endsOfDeleted}); reads nothing from the (closed) transaction.
     */
    static ChangeSet of(TransactionData data, Set<String> deletedEnds) {
        ChangeSet changes = new ChangeSet();
        changes.nodeIds.addAll(deletedEnds);
        for (Node node : data.createdNodes()) {
            changes.nodeIds.add(node.getElementId());
        }
        for (PropertyEntry<Node> entry : data.assignedNodeProperties()) {
            if (!entry.key().startsWith(OWN_PROPERTY_PREFIX)) {
                changes.nodeIds.add(entry.entity().getElementId());
            }
        }
        for (PropertyEntry<Node> entry : data.removedNodeProperties()) {
            if (!entry.key().startsWith(OWN_PROPERTY_PREFIX)) {
                changes.nodeIds.add(entry.entity().getElementId());
            }
        }
        for (LabelEntry entry : data.assignedLabels()) {
            String id = entry.node().getElementId();
            if (isIgnored(entry.label())) {
                changes.ignoredNodeIds.add(id);
            } else {
                changes.nodeIds.add(id);
            }
        }
        for (Relationship relationship : data.createdRelationships()) {
            changes.relationshipIds.add(relationship.getElementId());
        }
        for (PropertyEntry<Relationship> entry : data.assignedRelationshipProperties()) {
            if (REVIEW.equals(entry.key())) {
                changes.reviewedIds.add(entry.entity().getElementId());
            }
        }
        for (PropertyEntry<Relationship> entry : data.removedRelationshipProperties()) {
            if (REVIEW.equals(entry.key())) {
                changes.reviewedIds.add(entry.entity().getElementId());
            }
        }
        changes.nodeIds.removeAll(changes.ignoredNodeIds);
        return changes;
    }

    /** True if there is nothing to look at (e.g. the transaction only queued a job). */
    boolean isEmpty() {
        return nodeIds.isEmpty() && relationshipIds.isEmpty() && reviewedIds.isEmpty();
    }

    /** How many ids this holds: a hint for log messages. */
    int size() {
        return nodeIds.size() + relationshipIds.size() + reviewedIds.size();
    }

    /**
     * The element ids of the changed nodes that still exist and are not kgn-align's own,
     * without duplicates, in the order the changes were listed.
     *
     * @param tx      a transaction opened after the change committed
     * @param sameAs  the relationship type whose creation is ignored
     */
    Set<String> resolve(Transaction tx, RelationshipType sameAs) {
        Set<String> changed = new LinkedHashSet<>();
        for (String id : nodeIds) {
            try {
                if (counts(tx.getNodeByElementId(id))) {
                    changed.add(id);
                }
            } catch (NotFoundException deletedSince) {
                // deleted by a later transaction: nothing left to align
            }
        }
        for (String id : relationshipIds) {
            try {
                Relationship relationship = tx.getRelationshipByElementId(id);
                if (relationship.isType(sameAs)) {
                    continue;
                }
                for (Node end : relationship.getNodes()) {
                    String endId = end.getElementId();
                    if (!ignoredNodeIds.contains(endId) && counts(end)) {
                        changed.add(endId);
                    }
                }
            } catch (NotFoundException deletedSince) {
                // the relationship or one of its ends is gone again
            }
        }
        for (String id : reviewedIds) {
            try {
                Relationship relationship = tx.getRelationshipByElementId(id);
                if (!relationship.isType(sameAs)) {
                    continue;  // a 'review' on another type is the user's own business
                }
                for (Node end : relationship.getNodes()) {
                    if (counts(end)) {
                        changed.add(end.getElementId());
                    }
                }
            } catch (NotFoundException deletedSince) {
                // deleted since (a deletion with its review is seen in beforeCommit)
            }
        }
        return changed;
    }

    private static boolean counts(Node node) {
        for (Label label : IGNORED_LABELS) {
            if (node.hasLabel(label)) {
                return false;
            }
        }
        return true;
    }

    private static boolean isIgnored(Label label) {
        return IGNORED_LABELS.stream().anyMatch(ignored -> ignored.name().equals(label.name()));
    }
}
