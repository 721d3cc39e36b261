package io.closeloop.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code utf8(value)}: a Kafka record's value as a string, its UTF-8 bytes as they are.
 *
 * <p>Flink's raw format (and a CAST of BYTES) decodes a STRING value to a Java String, so every
 * reader of its bytes (the event time, the Parquet and Kafka writers) encoded it again: 3 % of
 * the TaskManager's time. Bytes that are not UTF-8 read as the decoder reads them, each bad
 * sequence one U+FFFD, and {@code TO_BASE64} still gives the record's own bytes.
 */
public class Utf8Function extends ScalarFunction {
    public @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData eval(byte[] value) {
        return value == null ? null : StringData.fromBytes(value);
    }
}
