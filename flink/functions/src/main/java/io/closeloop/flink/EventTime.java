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
 * <p>The job calls {@link #of} three times per event (the source's watermark, its column, the
 * checks' flag), so the gateway's form is read straight off the event's UTF-8 bytes, with {@link
 * IsoTime} for the time: no decoding of the body, no formatter. {@link #text(StringData)} and
 * {@link #parsed(StringData)} say why an event got no time; the checks call them only then.
 */
final class EventTime {
    private static final String PREFIX = "{\"ts\":\"";

    /** The time of an event that must not move the watermark: it goes to the dead letters. */
    static final TimestampData EPOCH = TimestampData.fromEpochMillis(0);

    private EventTime() {}

    /**
     * The event time of a Kafka record's value: its {@code ts}; Kafka's timestamp where it has
     * none (the contract's default: now); the epoch where the value is not a JSON object, or its
     * {@code ts} is not a time or is more than {@code maxSkewMs} after Kafka's timestamp.
     *
     * <p>Times are UTC: the job's local time zone, in which {@code kafkaTs} (a TIMESTAMP_LTZ)
     * reads as the same instant.
     */
    static TimestampData of(byte[] value, TimestampData kafkaTs, long maxSkewMs) {
        if (value == null) {
            return EPOCH;
        }
        byte[] quoted = quotedPrefix(value);
        if (quoted != null) {
            return within(time(quoted), kafkaTs, maxSkewMs);
        }
        // Not the gateway's form: decoded as the raw format would (malformed bytes replaced).
        String body = new String(value, StandardCharsets.UTF_8);
        String text = text(body);
        if (text == null) {
            return SqlJsonUtils.isJsonObject(body) ? kafkaTs : EPOCH;
        }
        return within(parse(text), kafkaTs, maxSkewMs);
    }

    private static TimestampData within(TimestampData ts, TimestampData kafkaTs, long maxSkewMs) {
        if (ts == null || kafkaTs == null || ts.getMillisecond() > kafkaTs.getMillisecond() + maxSkewMs) {
            return EPOCH;
        }
        return ts;
    }

    /** {@link #text(String)} of a body as Flink holds it. */
    static String text(StringData body) {
        if (body == null) {
            return null;
        }
        byte[] quoted = quotedPrefix(body.toBytes());
        return quoted != null ? new String(quoted, StandardCharsets.US_ASCII) : text(body.toString());
    }

    /** {@code parse(text(body))}, in one step for the gateway's form. */
    static TimestampData parsed(StringData body) {
        if (body == null) {
            return null;
        }
        byte[] quoted = quotedPrefix(body.toBytes());
        return quoted != null ? time(quoted) : parse(text(body.toString()));
    }

    /** The time of the gateway's quoted {@code ts}: {@link IsoTime} first, Flink's cast if not. */
    private static TimestampData time(byte[] quoted) {
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
     * The 26 bytes of the quoted {@code ts} when the UTF-8 {@code body} begins as the gateway
     * writes it (the fast case of {@link #text(String)}: its first 32 characters ASCII), else null.
     */
    private static byte[] quotedPrefix(byte[] body) {
        if (body.length < 32) {
            return null;
        }
        for (int i = 0; i < PREFIX.length(); i++) {
            if (body[i] != PREFIX.charAt(i)) {
                return null;
            }
        }
        if (body[30] != 'Z' || body[31] != '"') {
            return null;
        }
        byte[] quoted = new byte[IsoTime.LENGTH];
        for (int i = 0; i < quoted.length; i++) {
            byte c = body[6 + i];
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
