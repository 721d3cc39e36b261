package io.closeloop.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * {@code latency_quantiles(latency_ms)}: p50, p95 and p99 of a window's latencies, each within
 * 0.5 % of the exact one, from a {@link LatencySketch}.
 *
 * <p>It replaces {@code PERCENTILE}, which keeps every distinct value (a RocksDB map entry each)
 * and so grows with the traffic; this state is a few hundred counts, and merges, so slices are
 * aggregated where they are made.
 */
@FunctionHint(output = @DataTypeHint("ARRAY<DOUBLE>"))
public class LatencyQuantilesFunction extends AggregateFunction<Double[], LatencySketch> {

    private static final double[] QUANTILES = {0.5, 0.95, 0.99};

    @Override
    public LatencySketch createAccumulator() {
        return new LatencySketch();
    }

    public void accumulate(LatencySketch acc, Double latencyMs) {
        if (latencyMs != null) {
            acc.add(latencyMs);
        }
    }

    public void merge(LatencySketch acc, Iterable<LatencySketch> others) {
        for (LatencySketch other : others) {
            acc.merge(other);
        }
    }

    public void resetAccumulator(LatencySketch acc) {
        acc.reset();
    }

    @Override
    public Double[] getValue(LatencySketch acc) {
        return acc.quantiles(QUANTILES);
    }
}
