package io.closeloop.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;

/**
 * {@code latency_sketch(latency_ms)}: a window's latencies as a {@link LatencySketch}, in bytes;
 * NULL when the window has none.
 *
 * <p>The tumbling windows keep it as a column, so the sliding windows merge the ones they span
 * ({@link MergeLatencySketchesFunction}) instead of sketching every row again, and {@code
 * latency_quantiles} reads p50, p95 and p99 off either. It replaces {@code PERCENTILE}, which keeps
 * every distinct value (a RocksDB map entry each) and so grows with the traffic; this state is a
 * few hundred counts, and merges, so slices are aggregated where they are made.
 */
@FunctionHint(output = @DataTypeHint("BYTES"))
public class LatencySketchFunction extends LatencySketchAggregate {

    public void accumulate(LatencySketch acc, Double latencyMs) {
        if (latencyMs != null) {
            acc.add(latencyMs);
        }
    }
}
