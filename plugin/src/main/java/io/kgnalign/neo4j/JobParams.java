package io.kgnalign.neo4j;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Validates and normalises the {@code params} JSON of an alignment job, per job kind.
 *
 * <p>The kinds and their keys (all optional unless stated):
 * <ul>
 *   <li>{@code backfill}: {@code threshold} (number in [0, 1]), {@code policy} ({@code "all"},
 *       {@code "best"} or {@code "one-to-one"}), {@code run_id} (1 to 128 of
 *       {@code A-Z a-z 0-9 _ . : -}, as {@code kgn-align backfill --run-id} takes it),
 *       {@code k} (candidates per source, integer 1 to 1000).</li>
 *   <li>{@code changed}: {@code nodeIds} (required: a non-empty array of at most
 *       {@value #MAX_NODE_IDS} element-id strings), {@code total} (integer &ge; the number of
 *       {@code nodeIds}: how many nodes changed in all, when more than were listed), and
 *       {@code threshold}, {@code policy}, {@code run_id} as for {@code backfill}.</li>
 * </ul>
 * Anything else (another kind, a key not listed, a JSON boolean where a number is expected,
 * malformed JSON, a duplicate key, a top-level value other than an object) is refused with
 * an {@link InvalidJobRequestException} whose message says what is wrong.
 */
public final class JobParams {

    /** The most element ids a {@code changed} job lists. */
    public static final int MAX_NODE_IDS = 10_000;

    /** Job kinds the kgn-align worker handles. */
    public static final String BACKFILL = "backfill";
    public static final String CHANGED = "changed";

    private static final List<String> POLICIES = List.of("all", "best", "one-to-one");

    private static final JsonMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /** Checks the value of one key; throws {@link InvalidJobRequestException} if it is wrong. */
    @FunctionalInterface
    private interface Check {
        void accept(String key, JsonNode value);
    }

    /** Per kind: its keys, in the order the documentation lists them, and their checks. */
    private static final Map<String, Map<String, Check>> KINDS = Map.of(BACKFILL, backfillKeys(), CHANGED, changedKeys());

    private JobParams() {
    }

    /** The kinds {@link #normalise} accepts, sorted. */
    public static List<String> kinds() {
        return KINDS.keySet().stream().sorted().toList();
    }

    /**
     * Checks {@code params} for a job of {@code kind} and returns it as compact JSON.
     *
     * @param kind   the job kind, one of {@link #kinds()}
     * @param params a JSON object as text; {@code null} counts as {@code {}}
     * @return the same object, re-serialised without insignificant whitespace
     * @throws InvalidJobRequestException if the kind is unknown or the params are not valid for it
     */
    public static String normalise(String kind, String params) {
        Map<String, Check> keys = kind == null ? null : KINDS.get(kind);
        if (keys == null) {
            throw invalid(kind == null
                    ? "a job kind is required (known: %s)".formatted(String.join(", ", kinds()))
                    : "unknown job kind '%s' (known: %s)".formatted(kind, String.join(", ", kinds())));
        }
        ObjectNode object = parseObject(params == null ? "{}" : params);
        object.fields().forEachRemaining(field -> {
            Check check = keys.get(field.getKey());
            if (check == null) {
                throw invalid("unknown key '%s' in params of a '%s' job (known: %s)"
                        .formatted(field.getKey(), kind, String.join(", ", keys.keySet())));
            }
            check.accept(field.getKey(), field.getValue());
        });
        if (CHANGED.equals(kind)) {
            checkChanged(object);
        }
        return object.toString();
    }

    /**
     * The params of a {@code changed} job for these changed nodes: the first
     * {@value #MAX_NODE_IDS} ids and how many there are in all.
     *
     * @param nodeIds element ids of the changed nodes, at least one, without duplicates
     */
    public static String changed(Collection<String> nodeIds) {
        if (nodeIds.isEmpty()) {
            throw new IllegalArgumentException("a 'changed' job needs at least one node id");
        }
        ObjectNode object = JsonNodeFactory.instance.objectNode();
        ArrayNode ids = object.putArray("nodeIds");
        nodeIds.stream().limit(MAX_NODE_IDS).forEach(ids::add);
        object.put("total", nodeIds.size());
        return object.toString();
    }

    /**
     * The {@code nodeIds} of a {@code changed} job's params as {@link #normalise} returned them.
     *
     * @param normalised params of a {@code changed} job, already checked
     */
    public static List<String> nodeIdsOf(String normalised) {
        JsonNode ids = parseObject(normalised).get("nodeIds");
        List<String> out = new ArrayList<>(ids.size());
        ids.forEach(id -> out.add(id.asText()));
        return out;
    }

    private static ObjectNode parseObject(String params) {
        JsonNode node;
        try {
            node = MAPPER.readTree(params);
        } catch (JsonProcessingException e) {
            var where = e.getLocation();
            throw invalid("params is not a JSON object: %s%s".formatted(e.getOriginalMessage(),
                    where == null ? "" : " (line %d, column %d)".formatted(where.getLineNr(), where.getColumnNr())));
        }
        if (node == null || node.isMissingNode()) {
            throw invalid("params is not a JSON object: the text is empty");
        }
        if (!node.isObject()) {
            throw invalid("params is not a JSON object: got %s".formatted(describe(node)));
        }
        return (ObjectNode) node;
    }

    private static void checkChanged(ObjectNode object) {
        JsonNode ids = object.get("nodeIds");
        if (ids == null) {
            throw invalid("a 'changed' job needs nodeIds: an array of element ids");
        }
        JsonNode total = object.get("total");
        if (total != null && !(isLong(total) && total.asLong() >= ids.size())) {
            throw invalid("total must be an integer >= the number of nodeIds (%d), got %s"
                    .formatted(ids.size(), total));
        }
    }

    private static void unitInterval(String key, JsonNode value) {
        if (!value.isNumber() || !(value.asDouble() >= 0.0 && value.asDouble() <= 1.0)) {
            throw invalid("%s must be a number between 0 and 1, got %s".formatted(key, value));
        }
    }

    private static void policy(String key, JsonNode value) {
        if (!value.isTextual() || !POLICIES.contains(value.asText())) {
            throw invalid("%s must be one of \"%s\", got %s".formatted(key, String.join("\", \"", POLICIES), value));
        }
    }

    /** A run id as {@code kgn-align backfill --run-id} takes it. */
    private static final java.util.regex.Pattern RUN_ID = java.util.regex.Pattern.compile("[A-Za-z0-9_.:\\-]{1,128}");
    /** At most this many candidates per source. */
    public static final int MAX_K = 1000;

    private static void runId(String key, JsonNode value) {
        if (!value.isTextual() || !RUN_ID.matcher(value.asText()).matches()) {
            throw invalid("%s must be 1 to 128 letters, digits or _ . : -, got %s".formatted(key, abbreviate(value)));
        }
    }

    private static void positiveInteger(String key, JsonNode value) {
        if (!isLong(value) || value.asLong() < 1) {
            throw invalid("%s must be a positive integer, got %s".formatted(key, value));
        }
        if (value.asLong() > MAX_K) {
            throw invalid("%s must be at most %d, got %s".formatted(key, MAX_K, value));
        }
    }

    private static void nodeIds(String key, JsonNode value) {
        if (!value.isArray() || value.isEmpty()) {
            throw invalid("%s must be a non-empty array of element ids, got %s".formatted(key, abbreviate(value)));
        }
        if (value.size() > MAX_NODE_IDS) {
            throw invalid("%s holds %d ids, at most %d are allowed (list the first %d and give the count as total)"
                    .formatted(key, value.size(), MAX_NODE_IDS, MAX_NODE_IDS));
        }
        for (JsonNode id : value) {
            if (!id.isTextual() || id.asText().isEmpty()) {
                throw invalid("%s must hold element ids (non-empty strings), got %s".formatted(key, abbreviate(id)));
            }
        }
    }

    /** An integral JSON number that fits a Java long (Cypher's INTEGER). */
    private static boolean isLong(JsonNode value) {
        return value.isIntegralNumber() && value.canConvertToLong();
    }

    private static String describe(JsonNode node) {
        String text = abbreviate(node);
        return switch (node.getNodeType()) {
            case ARRAY -> "an array: " + text;
            case STRING -> "a string: " + text;
            case NUMBER -> "a number: " + text;
            case BOOLEAN -> "a boolean: " + text;
            default -> text;
        };
    }

    private static String abbreviate(JsonNode value) {
        String text = value.toString();
        return text.length() <= 80 ? text : text.substring(0, 77) + "...";
    }

    private static InvalidJobRequestException invalid(String message) {
        return new InvalidJobRequestException("kgn.requestAlignment: " + message);
    }

    private static Map<String, Check> backfillKeys() {
        Map<String, Check> keys = new LinkedHashMap<>();
        keys.put("threshold", JobParams::unitInterval);
        keys.put("policy", JobParams::policy);
        keys.put("run_id", JobParams::runId);
        keys.put("k", JobParams::positiveInteger);
        return Collections.unmodifiableMap(keys);
    }

    private static Map<String, Check> changedKeys() {
        Map<String, Check> keys = new LinkedHashMap<>();
        keys.put("nodeIds", JobParams::nodeIds);
        keys.put("total", (key, value) -> { /* checked against nodeIds in checkChanged */ });
        // how the re-aligned sources are written: the same options as a backfill's
        keys.put("threshold", JobParams::unitInterval);
        keys.put("policy", JobParams::policy);
        keys.put("run_id", JobParams::runId);
        return Collections.unmodifiableMap(keys);
    }
}
