package io.kgnalign.neo4j;

import org.neo4j.kernel.api.exceptions.Status;

/**
 * A job request that kgn-align refuses: unknown kind, params that are not a JSON object,
 * unknown keys, values of the wrong type or out of range, or a job id that does not exist.
 *
 * <p>Thrown out of a procedure, it fails the caller's statement (and so its transaction)
 * before anything is written, with status {@code Neo.ClientError.Procedure.ProcedureCallFailed}
 * and this message.
 */
public final class InvalidJobRequestException extends IllegalArgumentException implements Status.HasStatus {

    private static final long serialVersionUID = 1L;

    public InvalidJobRequestException(String message) {
        super(message);
    }

    @Override
    public Status status() {
        return Status.Procedure.ProcedureCallFailed;
    }
}
