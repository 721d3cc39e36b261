package io.closeloop.flink;

import org.apache.flink.table.functions.ScalarFunction;

/** {@code ts_text(body)}: the event's {@code ts} as a quoted string (see {@link EventTime}). */
public class TsTextFunction extends ScalarFunction {
    public String eval(String body) {
        return EventTime.text(body);
    }
}
