package io.closeloop.flink;

import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;

import org.apache.flink.table.api.JsonValueOnEmptyOrError;
import org.apache.flink.table.data.StringData;
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
 *
 * <p>The source calls these several times per event (its watermark, its columns), so the
 * gateway's form is read straight off the body's UTF-8 bytes, with {@link IsoTime} for the time:
 * no decoding of the body, no formatter.
 */
final class EventTime {
    private static final String PREFIX = "{\"ts\":\"";

    private EventTime() {}

    /** {@link #text(String)} of a body as Flink holds it. */
    static String text(StringData body) {
        if (body == null) {
            return null;
        }
        byte[] quoted = quotedPrefix(body);
        return quoted != null ? new String(quoted, StandardCharsets.US_ASCII) : text(body.toString());
    }

    /** {@code parse(text(body))}, in one step for the gateway's form. */
    static TimestampData parsed(StringData body) {
        if (body == null) {
            return null;
        }
        byte[] quoted = quotedPrefix(body);
        if (quoted == null) {
            return parse(text(body.toString()));
        }
        long millis = IsoTime.millis(quoted);
        return millis != IsoTime.NONE
                ? TimestampData.fromEpochMillis(millis)
                : parse(new String(quoted, StandardCharsets.US_ASCII));
    }

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

    /**
     * The 26 bytes of the quoted {@code ts} when the body begins as the gateway writes it (the
     * fast case of {@link #text(String)}: its first 32 characters ASCII), else null.
     */
    private static byte[] quotedPrefix(StringData body) {
        if (!(body instanceof BinaryStringData)) {
            return null;
        }
        BinaryStringData s = (BinaryStringData) body;
        if (s.getSizeInBytes() < 32) {
            return null;
        }
        for (int i = 0; i < PREFIX.length(); i++) {
            if (s.byteAt(i) != PREFIX.charAt(i)) {
                return null;
            }
        }
        if (s.byteAt(30) != 'Z' || s.byteAt(31) != '"') {
            return null;
        }
        byte[] quoted = new byte[IsoTime.LENGTH];
        for (int i = 0; i < quoted.length; i++) {
            byte c = s.byteAt(6 + i);
            if (c < 0) {
                return null; // a byte of a multi-byte UTF-8 character: not ASCII
            }
            quoted[i] = c;
        }
        return quoted;
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
