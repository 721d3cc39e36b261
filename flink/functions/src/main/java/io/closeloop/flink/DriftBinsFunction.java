package io.closeloop.flink;

import java.util.Map;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code drift_bins(profiles_uri, refresh_s, model_name, model_version, inputs, output)}: the
 * prediction's bin in each column of its model version's reference profile, as "column#bin" →
 * 1.0, which SUM_MAP adds up per window for the drift of closeloop.streaming.udfs.
 *
 * <pre>{@code
 * drift_bins('s3://lake/profiles', 60, model_name, model_version, inputs,
 *            CASE WHEN error IS NULL THEN output END)
 * }</pre>
 *
 * NULL when the version has no profile (an empty map when it has one but nothing counted). Not
 * deterministic: the profile is read from {@code <profiles_uri>/<model>/<version>.json} and read
 * again every {@code refresh_s} seconds.
 */
public class DriftBinsFunction extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private static final int DEFAULT_REFRESH_SECONDS = 60;

    // Per instance (one per subtask), made on the first call: not serialized with the function.
    private transient ProfileCache cache;
    private transient String cacheUri;
    private transient int cacheRefresh;

    @DataTypeHint("MAP<STRING, DOUBLE>")
    public Map<String, Double> eval(
            String profilesUri,
            Integer refreshSeconds,
            String modelName,
            String modelVersion,
            String inputs,
            String output) {
        if (profilesUri == null || modelName == null || modelVersion == null) {
            return null;
        }
        ReferenceProfile profile = cache(profilesUri, refreshSeconds).get(modelName, modelVersion);
        return profile == null ? null : profile.bins(inputs, output);
    }

    @Override
    public boolean isDeterministic() {
        return false;
    }

    private ProfileCache cache(String profilesUri, Integer refreshSeconds) {
        int refresh = refreshSeconds == null ? DEFAULT_REFRESH_SECONDS : refreshSeconds;
        // The arguments are literals in the job; should they change, so does the cache.
        if (cache == null || refresh != cacheRefresh || !profilesUri.equals(cacheUri)) {
            cache = ProfileCache.at(profilesUri, refresh);
            cacheUri = profilesUri;
            cacheRefresh = refresh;
        }
        return cache;
    }
}
