package io.closeloop.flink;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reference profiles by model version, read again every {@code refreshSeconds}: the JVM side of
 * closeloop.monitoring.profiles.ProfileCache, on the same schedule.
 *
 * <p>So a profile written after the job started (or rewritten) is picked up without a restart,
 * and a version without one is not asked for on every prediction (its absence is cached too). If
 * reading fails, the last profile read stays in use, and the failure is logged once until a read
 * succeeds again. One per function instance: not thread-safe, as Flink calls a function from one
 * thread.
 */
public final class ProfileCache {
    private static final Logger LOG = LoggerFactory.getLogger(ProfileCache.class);

    /** Reads a version's profile text. */
    @FunctionalInterface
    public interface Loader {
        /** The profile's JSON, or null if the version has none. */
        String load(String modelName, String modelVersion) throws IOException;
    }

    private final Loader loader;
    private final long refreshNanos;
    private final LongSupplier clock;
    private final Map<Key, Entry> entries = new HashMap<>();

    public ProfileCache(Loader loader, long refreshSeconds, LongSupplier nanoClock) {
        this.loader = loader;
        this.refreshNanos = Math.max(0, refreshSeconds) * 1_000_000_000L;
        this.clock = nanoClock;
    }

    /** Profiles at {@code <baseUri>/<model_name>/<model_version>.json}, through Flink's file systems. */
    public static ProfileCache at(String baseUri, long refreshSeconds) {
        return new ProfileCache(new FileSystemLoader(baseUri), refreshSeconds, System::nanoTime);
    }

    /** The version's profile, or null if it has none (or none could be read yet). */
    public ReferenceProfile get(String modelName, String modelVersion) {
        Key key = new Key(modelName, modelVersion);
        Entry cached = entries.get(key);
        if (cached != null && clock.getAsLong() - cached.readAt < refreshNanos) {
            return cached.profile;
        }
        ReferenceProfile profile;
        boolean failing = false;
        try {
            String text = loader.load(modelName, modelVersion);
            profile = text == null ? null : ReferenceProfile.parse(text);
        } catch (IOException | RuntimeException e) {
            // The lake being away (or a bad file) must not stop the metrics.
            failing = true;
            profile = cached == null ? null : cached.profile;
            if (cached == null || !cached.failing) {
                LOG.warn("cannot read the reference profile of {} version {}; keeping {}",
                        modelName, modelVersion, profile == null ? "none" : "the last one read", e);
            }
        }
        entries.put(key, new Entry(clock.getAsLong(), profile, failing));
        return profile;
    }

    private record Key(String modelName, String modelVersion) {}

    private record Entry(long readAt, ReferenceProfile profile, boolean failing) {}

    /**
     * Reads {@code <baseUri>/<model>/<version>.json} with Flink's FileSystem (file://, s3://, …,
     * whatever the cluster has plugins for); a missing file is a version without a profile.
     */
    static final class FileSystemLoader implements Loader {
        private final String baseUri;

        FileSystemLoader(String baseUri) {
            // As Python's profile_key, which strips the prefix's slashes.
            String base = baseUri;
            while (base.endsWith("/")) {
                base = base.substring(0, base.length() - 1);
            }
            this.baseUri = base;
        }

        @Override
        public String load(String modelName, String modelVersion) throws IOException {
            org.apache.flink.core.fs.Path path =
                    new org.apache.flink.core.fs.Path(baseUri + "/" + modelName + "/" + modelVersion + ".json");
            try (InputStream in = path.getFileSystem().open(path)) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (FileNotFoundException e) {
                return null;
            }
        }
    }
}
