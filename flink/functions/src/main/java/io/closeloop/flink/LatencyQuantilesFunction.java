package io.closeloop.flink;

import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code latency_quantiles(sketch)}: p50, p95 and p99 of a window's latencies, each within 0.5 %
 * of the exact one, from the bytes of a {@link LatencySketch}; NULL for none.
 */
public class LatencyQuantilesFunction extends ScalarFunction {

    private static final double[] QUANTILES = {0.5, 0.95, 0.99};

    public Double[] eval(byte[] sketch) {
        return sketch == null ? null : LatencySketch.fromBytes(sketch).quantiles(QUANTILES);
    }
}
