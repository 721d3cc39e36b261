package io.closeloop.flink;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A window's latencies as counts per logarithmic bucket, mergeable, with quantiles within 0.5 %:
 * the accumulator of {@link LatencyQuantilesFunction}. The twin of closeloop.monitoring.latency,
 * whose docstring gives the construction; the two must give the same quantiles.
 *
 * <p>Public fields, so that Flink stores it as a structured type. Buckets are dense from {@code
 * offset}: a window's latencies span a few hundred buckets, and one array serializes faster than a
 * map of boxed entries.
 */
public class LatencySketch {
    public static final double RELATIVE_ACCURACY = 0.005;
    private static final double GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
    private static final double LN_GAMMA = Math.log(GAMMA);
    /** Below this a latency counts as zero. */
    private static final double SMALLEST = 1e-9;

    private static final ObjectMapper JSON = new ObjectMapper();

    public long count;
    public long zeros;
    public double low = Double.POSITIVE_INFINITY;
    public double high = Double.NEGATIVE_INFINITY;
    /** The index of {@code counts[0]}. */
    public int offset;
    /** Counts per bucket index from {@code offset}; null while no value is above zero. */
    public long[] counts;

    public void add(double value) {
        count++;
        low = Math.min(low, value);
        high = Math.max(high, value);
        if (value < SMALLEST) {
            zeros++;
            return;
        }
        int i = (int) Math.ceil(Math.log(value) / LN_GAMMA);
        reserve(i, i);
        counts[i - offset]++;
    }

    public void merge(LatencySketch other) {
        count += other.count;
        zeros += other.zeros;
        low = Math.min(low, other.low);
        high = Math.max(high, other.high);
        if (other.counts == null) {
            return;
        }
        reserve(other.offset, other.offset + other.counts.length - 1);
        for (int j = 0; j < other.counts.length; j++) {
            counts[other.offset + j - offset] += other.counts[j];
        }
    }

    /**
     * The sketch as bytes, for a column: the tumbling windows hand their sketches to the sliding
     * windows that merge them ({@link LatencySketchFunction}).
     */
    public byte[] toBytes() {
        int buckets = counts == null ? 0 : counts.length;
        ByteBuffer out = ByteBuffer.allocate(8 + 8 + 8 + 8 + 4 + 4 + 8 * buckets);
        out.putLong(count).putLong(zeros).putDouble(low).putDouble(high).putInt(offset);
        out.putInt(counts == null ? -1 : buckets);
        for (int j = 0; j < buckets; j++) {
            out.putLong(counts[j]);
        }
        return out.array();
    }

    /** The sketch {@link #toBytes} wrote. */
    public static LatencySketch fromBytes(byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        LatencySketch sketch = new LatencySketch();
        sketch.count = in.getLong();
        sketch.zeros = in.getLong();
        sketch.low = in.getDouble();
        sketch.high = in.getDouble();
        sketch.offset = in.getInt();
        int buckets = in.getInt();
        if (buckets >= 0) {
            sketch.counts = new long[buckets];
            for (int j = 0; j < buckets; j++) {
                sketch.counts[j] = in.getLong();
            }
        }
        return sketch;
    }

    public void reset() {
        count = 0;
        zeros = 0;
        low = Double.POSITIVE_INFINITY;
        high = Double.NEGATIVE_INFINITY;
        offset = 0;
        counts = null;
    }

    /** The values at the quantiles {@code qs} (0 to 1), or null for an empty sketch. */
    public Double[] quantiles(double... qs) {
        if (count == 0) {
            return null;
        }
        Double[] out = new Double[qs.length];
        for (int j = 0; j < qs.length; j++) {
            double rank = qs[j] * (count - 1);
            long lo = (long) Math.floor(rank);
            long hi = (long) Math.ceil(rank);
            double atLo = atRank(lo);
            double atHi = hi == lo ? atLo : atRank(hi);
            out[j] = atLo + (rank - lo) * (atHi - atLo);
        }
        return out;
    }

    /** The estimate of the k-th smallest value (0-based). */
    private double atRank(long k) {
        if (k == 0) {
            return low;
        }
        if (k == count - 1) {
            return high;
        }
        long seen = zeros;
        if (k < seen) {
            return low;
        }
        for (int j = 0; j < counts.length; j++) {
            seen += counts[j];
            if (k < seen) {
                double estimate = 2 * Math.pow(GAMMA, offset + j) / (GAMMA + 1);
                return Math.min(Math.max(estimate, low), high);
            }
        }
        throw new IllegalStateException("rank " + k + " beyond the count " + count);
    }

    /** Grows {@code counts} to cover bucket indexes {@code from..to}. */
    private void reserve(int from, int to) {
        if (counts == null) {
            offset = from;
            counts = new long[to - from + 1];
            return;
        }
        int end = offset + counts.length - 1;
        if (from >= offset && to <= end) {
            return;
        }
        int newOffset = Math.min(from, offset);
        int newEnd = Math.max(to, end);
        // Room to grow on the side that grew, so a drifting latency does not copy on every value.
        int slack = Math.max(8, counts.length / 4);
        if (from < offset) {
            newOffset -= slack;
        }
        if (to > end) {
            newEnd += slack;
        }
        long[] grown = new long[newEnd - newOffset + 1];
        System.arraycopy(counts, 0, grown, offset - newOffset, counts.length);
        counts = grown;
        offset = newOffset;
    }

    /**
     * {@code [partsJson, qsJson]}: a JSON list of lists of latencies, each part sketched on its
     * own, passed through its bytes as a window's column is, and then merged in order, and the
     * quantiles → the JSON list of values, or null.
     */
    public static String twin(String[] args) {
        try {
            LatencySketch total = new LatencySketch();
            for (JsonNode part : JSON.readTree(args[0])) {
                LatencySketch sketch = new LatencySketch();
                for (JsonNode v : part) {
                    sketch.add(v.asDouble());
                }
                total.merge(fromBytes(sketch.toBytes()));
            }
            List<Double> qs = new ArrayList<>();
            for (JsonNode q : JSON.readTree(args[1])) {
                qs.add(q.asDouble());
            }
            Double[] out = total.quantiles(qs.stream().mapToDouble(Double::doubleValue).toArray());
            return JSON.writeValueAsString(out);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }
}
