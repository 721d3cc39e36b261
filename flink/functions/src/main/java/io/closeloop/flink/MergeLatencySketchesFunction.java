package io.closeloop.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * {@code merge_latency_sketches(sketch)}: the sketches of {@code latency_sketch}, merged into one
 * (bytes again; NULL when all are): a sliding window's latencies from its tumbling windows'.
 */
@FunctionHint(output = @DataTypeHint("BYTES"))
public class MergeLatencySketchesFunction extends AggregateFunction<byte[], LatencySketch> {

    @Override
    public LatencySketch createAccumulator() {
        return new LatencySketch();
    }

    public void accumulate(LatencySketch acc, byte[] sketch) {
        if (sketch != null) {
            acc.merge(LatencySketch.fromBytes(sketch));
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
    public byte[] getValue(LatencySketch acc) {
        return acc.count == 0 ? null : acc.toBytes();
    }
}
