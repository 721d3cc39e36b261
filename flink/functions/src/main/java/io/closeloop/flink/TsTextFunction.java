package io.closeloop.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

/** {@code ts_text(body)}: the event's {@code ts} as a quoted string (see {@link EventTime}). */
public class TsTextFunction extends ScalarFunction {
    // The body as Flink holds it: a String would decode all of it, on every call.
    public String eval(@DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData body) {
        return EventTime.text(body);
    }
}
