package io.closeloop.flink;

/**
 * The gateway's time format, {@code "2026-11-22T10:00:00.123Z"} (quoted), read without a
 * formatter: the java.time parse behind Flink's cast was half of a source's time.
 *
 * <p>Only a text in exactly that form, every field in range, gets an answer; anything else gets
 * {@link #NONE} and is left to Flink's cast, so the two agree by construction. No Flink class here:
 * the twin tests call it with the jar alone.
 */
final class IsoTime {
    /** No answer: not the gateway's form; Flink's cast decides. */
    static final long NONE = Long.MIN_VALUE;

    /** The length of {@code "yyyy-MM-ddTHH:mm:ss.SSSZ"} with its quotes. */
    static final int LENGTH = 26;

    private static final long MILLIS_PER_DAY = 86_400_000L;

    private IsoTime() {}

    /** Milliseconds since the epoch (UTC) of the quoted text in {@code b[0..26)}, or {@link #NONE}. */
    static long millis(byte[] b) {
        if (b.length != LENGTH
                || b[0] != '"' || b[5] != '-' || b[8] != '-' || b[11] != 'T' || b[14] != ':'
                || b[17] != ':' || b[20] != '.' || b[24] != 'Z' || b[25] != '"') {
            return NONE;
        }
        int year = digits(b, 1, 4);
        int month = digits(b, 6, 2);
        int day = digits(b, 9, 2);
        int hour = digits(b, 12, 2);
        int minute = digits(b, 15, 2);
        int second = digits(b, 18, 2);
        int milli = digits(b, 21, 3);
        // A field that is not all digits reads as -1.
        if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)
                || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59
                || milli < 0) {
            return NONE;
        }
        long seconds = hour * 3600L + minute * 60L + second;
        return epochDay(year, month, day) * MILLIS_PER_DAY + seconds * 1000L + milli;
    }

    /** For the twin tests: {@code [quoted text]} → its milliseconds, or null. */
    static String twin(String[] args) {
        String text = args[0];
        if (text == null) {
            return "null";
        }
        byte[] b = new byte[text.length()];
        for (int i = 0; i < b.length; i++) {
            char c = text.charAt(i);
            if (c >= 0x80) {
                return "null"; // the form is ASCII
            }
            b[i] = (byte) c;
        }
        long millis = millis(b);
        return millis == NONE ? "null" : Long.toString(millis);
    }

    /** The number written in {@code n} ASCII digits from {@code at}, or -1 if one is not a digit. */
    private static int digits(byte[] b, int at, int n) {
        int value = 0;
        for (int i = at; i < at + n; i++) {
            int d = b[i] - '0';
            if (d < 0 || d > 9) {
                return -1;
            }
            value = value * 10 + d;
        }
        return value;
    }

    private static int daysIn(int year, int month) {
        switch (month) {
            case 2:
                return leap(year) ? 29 : 28;
            case 4:
            case 6:
            case 9:
            case 11:
                return 30;
            default:
                return 31;
        }
    }

    private static boolean leap(int year) {
        return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    }

    /** Days since 1970-01-01 of a proleptic Gregorian date (as java.time.LocalDate counts them). */
    private static long epochDay(int year, int month, int day) {
        // Days from civil (H. Hinnant): years begin in March, so February's leap day comes last.
        int y = month <= 2 ? year - 1 : year;
        int era = Math.floorDiv(y, 400);
        int yearOfEra = y - era * 400;
        int dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
        int dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
        return era * 146_097L + dayOfEra - 719_468L;
    }
}
