package io.closeloop.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code event_time(value, kafka_ts, max_skew_ms)}: a Kafka record's event time, for its source's
 * watermark, in one call (see {@link EventTime#of}). Its SQL was a CASE over {@code ts_text} and
 * {@code ts_parsed}, which the planner copies into every expression that reads the time: a dozen
 * calls per event.
 */
public class EventTimeFunction extends ScalarFunction {
    public @DataTypeHint(value = "TIMESTAMP(3)", bridgedTo = TimestampData.class) TimestampData eval(
            byte[] value,
            @DataTypeHint(value = "TIMESTAMP_LTZ(3)", bridgedTo = TimestampData.class) TimestampData kafkaTs,
            long maxSkewMs) {
        return EventTime.of(value, kafkaTs, maxSkewMs);
    }
}
