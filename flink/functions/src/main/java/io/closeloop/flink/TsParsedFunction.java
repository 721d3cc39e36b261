package io.closeloop.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.ScalarFunction;

/** {@code ts_parsed(body)}: the event's {@code ts} as a time, NULL if it is not one (see {@link EventTime}). */
public class TsParsedFunction extends ScalarFunction {
    public @DataTypeHint(value = "TIMESTAMP(3)", bridgedTo = TimestampData.class) TimestampData eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData body) {
        return EventTime.parsed(body);
    }
}
