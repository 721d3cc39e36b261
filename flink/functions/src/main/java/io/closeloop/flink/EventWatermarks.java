package io.closeloop.flink;

import java.time.Duration;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.table.data.RowData;

/**
 * A topic's watermark: the latest event time seen less the out-of-orderness allowed, as SQL's
 * {@code WATERMARK FOR event_ts AS event_ts - INTERVAL …} gives it. (Flink's own bounded
 * out-of-orderness strategy is a millisecond behind that.) An event the source gave the epoch
 * never moves it.
 */
final class EventWatermarks implements WatermarkGenerator<RowData> {
    private final long outOfOrdernessMs;
    private long latest = Long.MIN_VALUE;

    private EventWatermarks(long outOfOrdernessMs) {
        this.outOfOrdernessMs = outOfOrdernessMs;
    }

    /** Per Kafka partition, on the row's event time; idle partitions skipped after {@code idleMs} (0: never). */
    static WatermarkStrategy<RowData> strategy(long outOfOrdernessMs, long idleMs) {
        WatermarkStrategy<RowData> strategy =
                WatermarkStrategy.<RowData>forGenerator(context -> new EventWatermarks(outOfOrdernessMs))
                        .withTimestampAssigner(
                                (row, kafkaTs) -> row.getTimestamp(PairJoin.EVENT_TS, 3).getMillisecond());
        return idleMs > 0 ? strategy.withIdleness(Duration.ofMillis(idleMs)) : strategy;
    }

    @Override
    public void onEvent(RowData event, long eventTimestamp, WatermarkOutput output) {
        latest = Math.max(latest, eventTimestamp);
    }

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {
        if (latest != Long.MIN_VALUE) {
            output.emitWatermark(new Watermark(latest - outOfOrdernessMs));
        }
    }
}
