package io.closeloop.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;

/**
 * {@code merge_latency_sketches(sketch)}: the sketches of {@code latency_sketch}, merged into one
 * (bytes again; NULL when all are): a sliding window's latencies from its tumbling windows'.
 */
@FunctionHint(output = @DataTypeHint("BYTES"))
public class MergeLatencySketchesFunction extends LatencySketchAggregate {

    public void accumulate(LatencySketch acc, byte[] sketch) {
        if (sketch != null) {
            acc.merge(LatencySketch.fromBytes(sketch));
        }
    }
}
