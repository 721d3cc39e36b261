package io.closeloop.flink;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * The additive statistics of one labeled example, as {@link PairJoin} scores a label: the JVM twin of {@code closeloop.tasks}' {@code Task.statistics}.
 *
 * <p>Given the same JSON texts, it returns the same statistics (same keys, same doubles) as
 * {@code get_task(task).statistics(json.loads(output), json.loads(truth))}, and a problem where
 * Python raises: JSON that Python's {@code json} would not read, a value pydantic would not
 * validate as the task's output type, an unknown task. That means copying Python's rules, not
 * Java's: {@code json.loads}' grammar, pydantic's lax float parsing, {@code str.split}'s white
 * space, {@code json.dumps}' escapes, edit distances over code points. The Python twin tests
 * (tests/unit/streaming/test_statistics_twin.py) hold the two together.
 *
 * <p>{@link #twin} is the entry point of those tests ({@link Twin}); nothing here touches Flink.
 */
public final class TaskStatistics {

    /** The statistics of one example, or why it cannot be scored: exactly one is non-null. */
    public static final class Result {
        /** Statistic name → value, as Python's {@code Task.statistics}; null when unscorable. */
        public final Map<String, Double> stats;
        /** Why the example cannot be scored; null when it can. */
        public final String problem;

        private Result(Map<String, Double> stats, String problem) {
            this.stats = stats;
            this.problem = problem;
        }
    }

    // Python's json.loads reads NaN/Infinity and big numbers; PyJson rejects what it reads beyond.
    private static final ObjectMapper JSON =
            JsonMapper.builder(JsonFactory.builder()
                            .streamReadConstraints(StreamReadConstraints.builder()
                                    .maxNumberLength(Integer.MAX_VALUE)
                                    .maxStringLength(Integer.MAX_VALUE)
                                    .build())
                            .build())
                    .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
                    .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                    .build();

    // Non-ASCII escaped so that a lone surrogate reaches Python intact; infinities (a regression
    // error can overflow) as bare Infinity, which json.loads reads back as a float.
    private static final ObjectMapper TWIN_JSON =
            JsonMapper.builder()
                    .enable(JsonWriteFeature.ESCAPE_NON_ASCII)
                    .disable(JsonWriteFeature.WRITE_NAN_AS_STRINGS)
                    .build();

    // The old Python UDF cut its reasons at 1000 characters; a dead letter's reason stays short.
    private static final int MAX_PROBLEM = 1000;

    private static final Map<String, Task> TASKS = new LinkedHashMap<>();

    static {
        TASKS.put("classification", new Classification());
        TASKS.put("detection", new Detection());
        TASKS.put("ocr", new Text());
        TASKS.put("regression", new Regression());
        TASKS.put("speech_to_text", new Text());
    }

    private TaskStatistics() {}

    /**
     * The statistics of a {@code task} model's output (JSON text) against its ground truth (JSON
     * text), or the problem that keeps them from being scored. Never throws.
     */
    public static Result of(String task, String outputJson, String truthJson) {
        try {
            Task scorer = task == null ? null : TASKS.get(task);
            if (scorer == null) {
                throw new Unscorable("unknown task " + (task == null ? "null" : PyJson.dumps(task))
                        + "; known tasks: " + String.join(", ", TASKS.keySet()));
            }
            JsonNode output = PyJson.loads(outputJson, "output");
            JsonNode truth = PyJson.loads(truthJson, "ground_truth");
            return new Result(scorer.statistics(output, truth), null);
        } catch (Unscorable e) {
            String problem = "ground_truth: cannot be scored against the " + task + " output: "
                    + e.getMessage();
            return new Result(null, truncate(problem, MAX_PROBLEM));
        }
    }

    /**
     * {@code [task, outputJson, truthJson]} (each may be null) → {@code {"stats": {...}}} or
     * {@code {"problem": "..."}}, one line of JSON.
     */
    public static String twin(String[] args) {
        Result result = of(arg(args, 0), arg(args, 1), arg(args, 2));
        Map<String, Object> answer = new LinkedHashMap<>();
        if (result.problem != null) {
            answer.put("problem", result.problem);
        } else {
            answer.put("stats", result.stats);
        }
        try {
            return TWIN_JSON.writeValueAsString(answer);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String arg(String[] args, int i) {
        return i < args.length ? args[i] : null;
    }

    private static String truncate(String s, int max) {
        if (s.length() <= max) {
            return s;
        }
        // Not between the halves of a surrogate pair.
        int end = Character.isHighSurrogate(s.charAt(max - 1)) ? max - 1 : max;
        return s.substring(0, end);
    }

    /** Why an example cannot be scored; a control-flow exception, so without a stack trace. */
    private static final class Unscorable extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Unscorable(String message) {
            super(message, null, false, false);
        }
    }

    /** A task plug-in's {@code statistics}: validates both values, then scores them. */
    private interface Task {
        Map<String, Double> statistics(JsonNode output, JsonNode truth);
    }

    // --- the tasks -------------------------------------------------------------------------------

    /** closeloop.tasks.classification: labels are strings or integers, "3" and 3 apart. */
    private static final class Classification implements Task {
        private static final String SHAPE = "a label: a string or an integer";

        @Override
        public Map<String, Double> statistics(JsonNode output, JsonNode truth) {
            Object predicted = Lax.label(output, "output", SHAPE);
            Object actual = Lax.label(truth, "ground_truth", SHAPE);
            double hit = predicted.equals(actual) ? 1.0 : 0.0;
            Map<String, Double> stats = new LinkedHashMap<>();
            stats.put("n", 1.0);
            stats.put("correct", hit);
            stats.put("predicted:" + PyJson.dumps(predicted), 1.0);
            stats.put("hit:" + PyJson.dumps(actual), hit);
            stats.put("actual:" + PyJson.dumps(actual), 1.0);
            return stats;
        }
    }

    /** closeloop.tasks.regression: FiniteFloat, in pydantic's lax mode. */
    private static final class Regression implements Task {
        @Override
        public Map<String, Double> statistics(JsonNode output, JsonNode truth) {
            double error = finite(output, "output") - finite(truth, "ground_truth");
            Map<String, Double> stats = new LinkedHashMap<>();
            stats.put("n", 1.0);
            stats.put("abs_error", Math.abs(error));
            stats.put("squared_error", error * error);
            return stats;
        }

        private static double finite(JsonNode value, String where) {
            double x = Lax.number(value, where, "a finite number");
            if (!Double.isFinite(x)) {
                throw Lax.invalid(where, "a finite number", value, "not finite");
            }
            return x;
        }
    }

    /** closeloop.tasks.text (OCR, speech-to-text): character and word edits of the stripped texts. */
    private static final class Text implements Task {
        @Override
        public Map<String, Double> statistics(JsonNode output, JsonNode truth) {
            int[] hypothesis = PyText.strip(Lax.string(output, "output", "a string"));
            int[] reference = PyText.strip(Lax.string(truth, "ground_truth", "a string"));
            // Words as ids, from one table for both texts: equal words, equal ids.
            Map<String, Integer> ids = new HashMap<>();
            int[] words = PyText.words(reference, ids);
            int[] hypothesisWords = PyText.words(hypothesis, ids);
            Map<String, Double> stats = new LinkedHashMap<>();
            stats.put("n", 1.0);
            stats.put("char_edits", (double) Levenshtein.distance(reference, hypothesis));
            stats.put("char_total", (double) reference.length);
            stats.put("word_edits", (double) Levenshtein.distance(words, hypothesisWords));
            stats.put("word_total", (double) words.length);
            return stats;
        }
    }

    /** closeloop.tasks.detection: lists of boxes, greedily matched per label at IoU ≥ 0.5. */
    private static final class Detection implements Task {
        private static final String SHAPE =
                "a list of boxes {\"box\": [x1, y1, x2, y2], \"label\": …, \"score\": …}";
        private static final double IOU_THRESHOLD = 0.5;
        private static final Set<String> FIELDS = Set.of("box", "label", "score");

        /** A validated Box: corners as floats, a String or BigInteger label, a score in [0, 1]. */
        private static final class Box {
            final double[] box;
            final Object label;
            final double score;

            Box(double[] box, Object label, double score) {
                this.box = box;
                this.label = label;
                this.score = score;
            }
        }

        @Override
        public Map<String, Double> statistics(JsonNode output, JsonNode truth) {
            List<Box> predicted = boxes(output, "output");
            List<Box> actual = boxes(truth, "ground_truth");
            Map<String, Double> stats = new LinkedHashMap<>();
            stats.put("n", 1.0);
            stats.put("true_positives", (double) matchCounts(predicted, actual));
            stats.put("predicted", (double) predicted.size());
            stats.put("actual", (double) actual.size());
            return stats;
        }

        private static List<Box> boxes(JsonNode value, String where) {
            if (!value.isArray()) {
                throw Lax.invalid(where, SHAPE, value, "not a list");
            }
            List<Box> boxes = new ArrayList<>(value.size());
            for (int i = 0; i < value.size(); i++) {
                boxes.add(box(value.get(i), where + "." + i));
            }
            return boxes;
        }

        private static Box box(JsonNode value, String where) {
            if (!value.isObject()) {
                throw Lax.invalid(where, SHAPE, value, "a box must be an object");
            }
            for (Iterator<String> names = value.fieldNames(); names.hasNext(); ) {
                String name = names.next();
                if (!FIELDS.contains(name)) {
                    throw Lax.invalid(where + "." + name, SHAPE, value, "extra fields are not permitted");
                }
            }
            JsonNode corners = value.get("box");
            if (corners == null) {
                throw Lax.invalid(where + ".box", SHAPE, value, "field required");
            }
            if (!corners.isArray() || corners.size() != 4) {
                throw Lax.invalid(where + ".box", SHAPE, corners, "must be 4 numbers [x1, y1, x2, y2]");
            }
            double[] box = new double[4];
            for (int i = 0; i < 4; i++) {
                // Plain float: NaN and infinities pass, as in pydantic.
                box[i] = Lax.number(corners.get(i), where + ".box." + i, SHAPE);
            }
            JsonNode labelNode = value.get("label");
            if (labelNode == null) {
                throw Lax.invalid(where + ".label", SHAPE, value, "field required");
            }
            Object label = Lax.label(labelNode, where + ".label", SHAPE);
            double score = 1.0;
            JsonNode scoreNode = value.get("score");
            if (scoreNode != null) {
                score = Lax.number(scoreNode, where + ".score", SHAPE);
                // Written so that NaN fails, as pydantic's ge/le do.
                if (!(score >= 0.0 && score <= 1.0)) {
                    throw Lax.invalid(where + ".score", SHAPE, scoreNode, "a score must be in [0, 1]");
                }
            }
            if (box[2] < box[0] || box[3] < box[1]) {
                throw Lax.invalid(where, SHAPE, corners, "must be [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2");
            }
            return new Box(box, label, score);
        }

        /** match_counts: how many predicted boxes match a distinct true box of the same label. */
        private static int matchCounts(List<Box> predicted, List<Box> actual) {
            List<Box> byScore = new ArrayList<>(predicted);
            // sorted(key=-score) compares with <: stable, and 0.0 ties -0.0 (Double.compare would not).
            byScore.sort((a, b) -> -a.score < -b.score ? -1 : (-b.score < -a.score ? 1 : 0));
            boolean[] matched = new boolean[actual.size()];
            int count = 0;
            for (Box guess : byScore) {
                int best = -1;
                double bestIou = IOU_THRESHOLD;
                for (int i = 0; i < actual.size(); i++) {
                    Box truth = actual.get(i);
                    if (matched[i] || !truth.label.equals(guess.label)) {
                        continue;
                    }
                    double overlap = iou(guess.box, truth.box);
                    if (overlap >= bestIou) {
                        best = i;
                        bestIou = overlap;
                    }
                }
                if (best >= 0) {
                    matched[best] = true;
                    count++;
                }
            }
            return count;
        }

        /**
         * iou(), operation for operation, Python's min/max included: they differ from Math's on NaN,
         * though a NaN corner makes the union NaN, so the IoU 0, either way.
         */
        private static double iou(double[] a, double[] b) {
            double width = PyText.min(a[2], b[2]) - PyText.max(a[0], b[0]);
            double height = PyText.min(a[3], b[3]) - PyText.max(a[1], b[1]);
            if (width <= 0 || height <= 0) {
                return 0.0;
            }
            double intersection = width * height;
            double union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection;
            return union > 0 ? intersection / union : 0.0;
        }
    }

    // --- Python's rules --------------------------------------------------------------------------

    /** Python's json module: what json.loads reads, and json.dumps of a label. */
    private static final class PyJson {
        // Python's int(str) limit (sys.get_int_max_str_digits), which json.loads hits.
        private static final int MAX_INT_DIGITS = 4300;
        private static final Set<String> NON_FINITE = Set.of("NaN", "Infinity", "-Infinity");
        // json.dumps writes \\uXXXX in lower case.
        private static final char[] HEX = "0123456789abcdef".toCharArray();

        /** json.loads(text); Unscorable where it would raise. */
        static JsonNode loads(String text, String what) {
            if (text == null) {
                throw new Unscorable(what + " is missing");
            }
            try {
                // Jackson reads a little more than Python: "+Infinity", "-INF", ints of any length.
                try (JsonParser parser = JSON.createParser(text)) {
                    for (JsonToken token = parser.nextToken(); token != null; token = parser.nextToken()) {
                        if (token == JsonToken.VALUE_NUMBER_FLOAT) {
                            checkFloat(parser.getText(), what);
                        } else if (token == JsonToken.VALUE_NUMBER_INT) {
                            String digits = parser.getText();
                            int length = digits.length() - (digits.charAt(0) == '-' ? 1 : 0);
                            if (length > MAX_INT_DIGITS) {
                                throw new Unscorable(what + " is not JSON Python reads: an integer of "
                                        + length + " digits, over Python's " + MAX_INT_DIGITS);
                            }
                        }
                    }
                }
                JsonNode node = JSON.readTree(text);
                if (node == null || node.isMissingNode()) {
                    throw new Unscorable(what + " is not JSON: no value");
                }
                return node;
            } catch (JsonProcessingException e) {
                throw new Unscorable(what + " is not JSON: " + e.getOriginalMessage());
            } catch (IOException e) {
                throw new UncheckedIOException(e); // reading a String: cannot happen
            }
        }

        private static void checkFloat(String text, String what) {
            char first = text.charAt(text.charAt(0) == '-' || text.charAt(0) == '+' ? 1 : 0);
            if ((first == 'N' || first == 'I') && !NON_FINITE.contains(text)) {
                throw new Unscorable(what + " is not JSON Python reads: " + text
                        + " (only NaN, Infinity and -Infinity)");
            }
        }

        /** json.dumps of a validated label: a BigInteger's digits, or a string, ensure_ascii. */
        static String dumps(Object label) {
            if (label instanceof BigInteger) {
                return label.toString();
            }
            String s = (String) label;
            StringBuilder out = new StringBuilder(s.length() + 2).append('"');
            // By UTF-16 unit: an astral character becomes its surrogate pair, as in Python.
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    case '\b' -> out.append("\\b");
                    case '\f' -> out.append("\\f");
                    default -> {
                        if (c < 0x20 || c > 0x7e) {
                            out.append("\\u").append(HEX[c >> 12]).append(HEX[(c >> 8) & 0xf])
                                    .append(HEX[(c >> 4) & 0xf]).append(HEX[c & 0xf]);
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            return out.append('"').toString();
        }
    }

    /** pydantic's validation of json.loads values, in lax mode (validate_python). */
    private static final class Lax {
        // Unicode White_Space, which Rust's str::trim strips: Python's isspace() without U+001C–1F.
        private static final int[] RUST_SPACE = {
            0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
            0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
        };

        static Unscorable invalid(String where, String shape, JsonNode value, String reason) {
            String got = value.toString();
            if (got.length() > 80) {
                got = truncate(got, 77) + "...";
            }
            return new Unscorable(where + " must be " + shape + ", got " + got + ": " + reason);
        }

        /** StrictStr | StrictInt: a String or a BigInteger (no floats, no booleans). */
        static Object label(JsonNode value, String where, String shape) {
            if (value.isTextual()) {
                return value.textValue();
            }
            if (value.isIntegralNumber()) {
                return value.bigIntegerValue();
            }
            throw invalid(where, shape, value, "not a string or an integer");
        }

        /** StrictStr. */
        static String string(JsonNode value, String where, String shape) {
            if (!value.isTextual()) {
                throw invalid(where, shape, value, "not a string");
            }
            return value.textValue();
        }

        /**
         * float, lax: floats as they are (NaN and infinities too), ints rounded (unless they
         * overflow), booleans as 1.0/0.0, strings parsed as pydantic-core does.
         */
        static double number(JsonNode value, String where, String shape) {
            if (value.isFloatingPointNumber()) {
                return value.doubleValue();
            }
            if (value.isIntegralNumber()) {
                // Correctly rounded, like Python's float(int); past the largest double Python
                // raises OverflowError and pydantic rejects the value.
                double x = value.canConvertToLong() ? (double) value.longValue() : value.bigIntegerValue().doubleValue();
                if (Double.isInfinite(x)) {
                    throw invalid(where, shape, value, "an integer too large for a float");
                }
                return x;
            }
            if (value.isBoolean()) {
                return value.booleanValue() ? 1.0 : 0.0;
            }
            if (value.isTextual()) {
                Double x = parse(value.textValue());
                if (x == null) {
                    throw invalid(where, shape, value, "unable to parse string as a number");
                }
                return x;
            }
            throw invalid(where, shape, value, "not a number");
        }

        /**
         * pydantic-core's str_as_float: Rust's f64 parse of the trimmed string, else of the
         * untrimmed string without its underscores (when they sit between characters, singly).
         */
        private static Double parse(String s) {
            for (int i = 0; i < s.length(); i++) {
                // A lone surrogate is not UTF-8: pydantic cannot read the string at all.
                char c = s.charAt(i);
                if (Character.isSurrogate(c)) {
                    if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                        i++;
                    } else {
                        return null;
                    }
                }
            }
            Double x = rustFloat(rustTrim(s));
            if (x == null && s.indexOf('_') >= 0 && !s.startsWith("_") && !s.endsWith("_") && !s.contains("__")) {
                x = rustFloat(s.replace("_", ""));
            }
            return x;
        }

        private static String rustTrim(String s) {
            int start = 0;
            int end = s.length();
            while (start < end && isRustSpace(s.codePointAt(start))) {
                start += Character.charCount(s.codePointAt(start));
            }
            while (end > start && isRustSpace(s.codePointBefore(end))) {
                end -= Character.charCount(s.codePointBefore(end));
            }
            return s.substring(start, end);
        }

        private static boolean isRustSpace(int c) {
            return Arrays.binarySearch(RUST_SPACE, c) >= 0;
        }

        /**
         * Rust's {@code f64::from_str}: {@code [+-]? (inf | infinity | nan | digits)}, the words in
         * any ASCII case, digits {@code D+ | D+ . D* | D* . D+} with an optional {@code [eE][+-]?D+}.
         * Java's own parser reads more (hex, "1d", white space), so the syntax is checked first;
         * both round correctly, so the value is Java's.
         */
        private static Double rustFloat(String s) {
            int n = s.length();
            int i = 0;
            boolean negative = false;
            if (i < n && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
                negative = s.charAt(i) == '-';
                i++;
            }
            String word = asciiLower(s.substring(i));
            if (word.equals("inf") || word.equals("infinity")) {
                return negative ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
            }
            if (word.equals("nan")) {
                return Double.NaN;
            }
            int digits = 0;
            while (i < n && isDigit(s.charAt(i))) {
                i++;
                digits++;
            }
            if (i < n && s.charAt(i) == '.') {
                i++;
                while (i < n && isDigit(s.charAt(i))) {
                    i++;
                    digits++;
                }
            }
            if (digits == 0) {
                return null;
            }
            if (i < n && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
                i++;
                if (i < n && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
                    i++;
                }
                int exponent = 0;
                while (i < n && isDigit(s.charAt(i))) {
                    i++;
                    exponent++;
                }
                if (exponent == 0) {
                    return null;
                }
            }
            return i == n ? Double.parseDouble(s) : null;
        }

        private static boolean isDigit(char c) {
            return c >= '0' && c <= '9';
        }

        // Not String.toLowerCase: "ınf" (dotless i) is no "inf" to Rust.
        private static String asciiLower(String s) {
            StringBuilder out = new StringBuilder(s.length());
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                out.append(c >= 'A' && c <= 'Z' ? (char) (c + 32) : c);
            }
            return out.toString();
        }
    }

    /** Python's str.strip/str.split (its white space is not Java's) and min/max, on code points. */
    private static final class PyText {
        // [c for c in range(0x110000) if chr(c).isspace()], sorted.
        private static final int[] SPACE = {
            0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000,
            0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
            0x2029, 0x202f, 0x205f, 0x3000,
        };

        static boolean isSpace(int c) {
            return Arrays.binarySearch(SPACE, c) >= 0;
        }

        /** s.strip(), as code points (a lone surrogate is one, as in a Python str). */
        static int[] strip(String s) {
            int[] cps = s.codePoints().toArray();
            int start = 0;
            int end = cps.length;
            while (start < end && isSpace(cps[start])) {
                start++;
            }
            while (end > start && isSpace(cps[end - 1])) {
                end--;
            }
            return Arrays.copyOfRange(cps, start, end);
        }

        /** s.split() of a text, each word as its id in {@code ids} (added if new). */
        static int[] words(int[] text, Map<String, Integer> ids) {
            List<String> tokens = new ArrayList<>();
            int i = 0;
            while (i < text.length) {
                while (i < text.length && isSpace(text[i])) {
                    i++;
                }
                int start = i;
                while (i < text.length && !isSpace(text[i])) {
                    i++;
                }
                if (i > start) {
                    tokens.add(new String(text, start, i - start));
                }
            }
            int[] result = new int[tokens.size()];
            for (int k = 0; k < result.length; k++) {
                Integer id = ids.putIfAbsent(tokens.get(k), ids.size());
                result[k] = id == null ? ids.size() - 1 : id;
            }
            return result;
        }

        /** Python's min(a, b): b only if b < a (so NaN handling follows argument order). */
        static double min(double a, double b) {
            return b < a ? b : a;
        }

        /** Python's max(a, b): b only if b > a. */
        static double max(double a, double b) {
            return b > a ? b : a;
        }
    }

    /** rapidfuzz's Levenshtein.distance with unit weights, on code points or word ids. */
    private static final class Levenshtein {
        static int distance(int[] a, int[] b) {
            // Common prefix and suffix cost nothing: only the middle needs the table.
            int start = 0;
            while (start < a.length && start < b.length && a[start] == b[start]) {
                start++;
            }
            int endA = a.length;
            int endB = b.length;
            while (endA > start && endB > start && a[endA - 1] == b[endB - 1]) {
                endA--;
                endB--;
            }
            int n = endA - start;
            int m = endB - start;
            if (n == 0 || m == 0) {
                return n + m;
            }
            int[] row = new int[m + 1];
            for (int j = 0; j <= m; j++) {
                row[j] = j;
            }
            for (int i = 1; i <= n; i++) {
                int diagonal = row[0];
                row[0] = i;
                int ai = a[start + i - 1];
                for (int j = 1; j <= m; j++) {
                    int above = row[j];
                    int cost = ai == b[start + j - 1] ? 0 : 1;
                    row[j] = Math.min(Math.min(above + 1, row[j - 1] + 1), diagonal + cost);
                    diagonal = above;
                }
            }
            return row[m];
        }
    }
}
