package io.closeloop.flink;

import org.apache.flink.table.functions.AggregateFunction;

/**
 * What {@code latency_sketch} and {@code merge_latency_sketches} share: a {@link LatencySketch}
 * as the accumulator, merged across slices, and its bytes as the answer (NULL when it holds no
 * latency). Each adds its own {@code accumulate}.
 */
public abstract class LatencySketchAggregate extends AggregateFunction<byte[], LatencySketch> {

    @Override
    public LatencySketch createAccumulator() {
        return new LatencySketch();
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
