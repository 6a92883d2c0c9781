package io.kgnalign.neo4j;

import java.util.Locale;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.graphdb.RelationshipType;
import org.neo4j.kernel.extension.ExtensionFactory;
import org.neo4j.kernel.extension.ExtensionType;
import org.neo4j.kernel.extension.context.ExtensionContext;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.kernel.lifecycle.Lifecycle;
import org.neo4j.kernel.lifecycle.LifecycleAdapter;
import org.neo4j.logging.Log;
import org.neo4j.logging.internal.LogService;

/**
 * Installs kgn-align's change capture ({@link ChangeCaptureListener}) in every user database:
 * one instance per database ({@link ExtensionType#DATABASE}), which registers the listener
 * when the database starts and removes it when the database stops. The {@code system}
 * database is left alone.
 *
 * <p>Settings, read when a database starts, from a JVM system property or else the
 * environment variable of the same name:
 * <ul>
 *   <li>{@value #ENABLED_SETTING}: {@code false} turns change capture off (default on);</li>
 *   <li>{@value #SAME_AS_SETTING}: the relationship type kgn-align writes, whose creation is
 *       not a change (default {@code SAME_AS}; kgn-align's {@code same_as_type}).</li>
 * </ul>
 *
 * <p>Registered in {@code META-INF/services/org.neo4j.kernel.extension.ExtensionFactory}.
 */
public final class ChangeCaptureExtensionFactory extends ExtensionFactory<ChangeCaptureExtensionFactory.Dependencies> {

    public static final String ENABLED_SETTING = "KGN_CHANGE_CAPTURE";
    public static final String SAME_AS_SETTING = "KGN_SAME_AS_TYPE";
    private static final String SYSTEM_DATABASE = "system";

    /** What Neo4j hands each instance; resolved by type. */
    public interface Dependencies {
        GraphDatabaseAPI graphDatabaseAPI();

        DatabaseManagementService databaseManagementService();

        LogService logService();
    }

    public ChangeCaptureExtensionFactory() {
        super(ExtensionType.DATABASE, "kgn-align-change-capture");
    }

    @Override
    public Lifecycle newInstance(ExtensionContext context, Dependencies dependencies) {
        return new ChangeCapture(dependencies.graphDatabaseAPI(), dependencies.databaseManagementService(),
                dependencies.logService().getUserLog(ChangeCaptureListener.class));
    }

    /** The setting {@code name}: the system property if set, else the environment variable. */
    static String setting(String name, String fallback) {
        String value = System.getProperty(name);
        if (value == null) {
            value = System.getenv(name);
        }
        return value == null || value.isBlank() ? fallback : value.trim();
    }

    /** Registers the listener while its database runs. */
    private static final class ChangeCapture extends LifecycleAdapter {
        private final GraphDatabaseAPI db;
        private final DatabaseManagementService dbms;
        private final Log log;
        private ChangeCaptureListener listener;

        ChangeCapture(GraphDatabaseAPI db, DatabaseManagementService dbms, Log log) {
            this.db = db;
            this.dbms = dbms;
            this.log = log;
        }

        @Override
        public void start() {
            String name = db.databaseName();
            if (SYSTEM_DATABASE.equals(name)) {
                return;
            }
            if ("false".equals(setting(ENABLED_SETTING, "true").toLowerCase(Locale.ROOT))) {
                log.info("kgn-align change capture is off for database %s (%s=false)", name, ENABLED_SETTING);
                return;
            }
            RelationshipType sameAs = RelationshipType.withName(setting(SAME_AS_SETTING, "SAME_AS"));
            listener = new ChangeCaptureListener(db, sameAs, log);
            dbms.registerTransactionEventListener(name, listener);
            log.info("kgn-align change capture is on for database %s: changes queue 'changed' alignment jobs "
                    + "(ignoring %s relationships; %s=false turns it off)", name, sameAs.name(), ENABLED_SETTING);
        }

        @Override
        public void stop() {
            if (listener == null) {
                return;
            }
            try {
                dbms.unregisterTransactionEventListener(db.databaseName(), listener);
            } catch (RuntimeException e) {
                log.warn("kgn-align change capture: could not unregister from database %s: %s",
                        db.databaseName(), e.getMessage());
            } finally {
                listener.close();
                listener = null;
            }
        }
    }
}
