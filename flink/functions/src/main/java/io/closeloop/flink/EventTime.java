package io.closeloop.flink;

import java.time.DateTimeException;

import org.apache.flink.table.api.JsonValueOnEmptyOrError;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.table.data.binary.BinaryStringDataUtil;
import org.apache.flink.table.runtime.functions.SqlJsonUtils;

/**
 * An event's {@code ts}, read from its text before the event is parsed: the source needs it for
 * the watermark.
 *
 * <p>Same answers as the SQL it replaces, by the same means where it matters: the gateway writes
 * {@code ts} first (a prefix test); anything else goes through Flink's own {@code JSON_VALUE} and
 * {@code TRY_CAST(… AS TIMESTAMP(3))}. In SQL the test was a dozen SUBSTR and CHAR_LENGTH calls
 * per event, each counting the characters of the whole body.
 */
final class EventTime {
    private static final String PREFIX = "{\"ts\":\"";

    private EventTime() {}

    /** The member {@code ts} as a quoted string, NULL when absent, null or not a JSON object. */
    static String text(String body) {
        if (body == null) {
            return null;
        }
        // `{"ts":"` + 24 characters + `Z"`: SUBSTR(body, 7, 26) when characters 31-32 are `Z"`.
        if (body.length() >= 32
                && body.startsWith(PREFIX)
                && body.charAt(30) == 'Z'
                && body.charAt(31) == '"'
                && ascii(body, 32)) {
            return body.substring(6, 32);
        }
        Object value;
        try {
            value =
                    SqlJsonUtils.jsonValue(
                            body, "$.ts", JsonValueOnEmptyOrError.NULL, null, JsonValueOnEmptyOrError.NULL, null);
        } catch (RuntimeException e) {
            return null;
        }
        return value == null ? null : '"' + value.toString() + '"';
    }

    /**
     * The time of a quoted ISO-8601 UTC text ({@code "2026-11-22T10:00:00.123Z"}), NULL when it is
     * not one: 22 to 32 characters, a T at the 12th, `Z"` at the end, then Flink's cast.
     */
    static TimestampData parse(String text) {
        if (text == null || !ascii(text, text.length())) {
            return null; // the format is ASCII; a cast of anything else fails
        }
        int n = text.length();
        if (n < 22 || n > 32 || text.charAt(11) != 'T' || text.charAt(n - 2) != 'Z' || text.charAt(n - 1) != '"') {
            return null;
        }
        String local = text.substring(1, n - 2).replace('T', ' ');
        try {
            return BinaryStringDataUtil.toTimestamp(BinaryStringData.fromString(local), 3);
        } catch (DateTimeException | IllegalArgumentException | IndexOutOfBoundsException e) {
            return null;
        }
    }

    private static boolean ascii(String s, int upTo) {
        for (int i = 0; i < upTo; i++) {
            if (s.charAt(i) >= 0x80) {
                return false;
            }
        }
        return true;
    }
}
