package io.closeloop.flink;

import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * Drift bins of one prediction against its model version's reference profile, the work behind
 * {@link DriftBinsFunction}: {@link ReferenceProfile#bins} does the binning, a
 * {@link ProfileCache} (in the cluster) finds the profile.
 *
 * <p>{@link #twin} is the entry point of the Python twin tests ({@link Twin}); it touches no
 * Flink class, since Twin runs with the jar alone.
 */
public final class DriftBins {
    /** Non-ASCII escaped, so that even a lone surrogate in a name reaches Python intact. */
    private static final ObjectMapper JSON =
            JsonMapper.builder().enable(JsonWriteFeature.ESCAPE_NON_ASCII).build();

    private DriftBins() {}

    /**
     * {@code [profileJson, inputsJson, outputJson]} (each may be null) → {@code {"bins": {...}}},
     * or {@code {"error": "..."}} if the profile cannot be read.
     */
    public static String twin(String[] args) {
        Map<String, Object> answer = new LinkedHashMap<>();
        ReferenceProfile profile = null;
        try {
            profile = ReferenceProfile.parse(args[0]);
        } catch (IllegalArgumentException | NullPointerException e) {
            answer.put("error", String.valueOf(e.getMessage()));
        }
        if (profile != null) {
            answer.put("bins", profile.bins(arg(args, 1), arg(args, 2)));
        }
        try {
            return JSON.writeValueAsString(answer);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String arg(String[] args, int i) {
        return i < args.length ? args[i] : null;
    }
}
