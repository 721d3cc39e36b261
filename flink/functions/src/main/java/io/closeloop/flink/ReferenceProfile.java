package io.closeloop.flink;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonReadFeature;

/**
 * A model version's reference profile (closeloop.monitoring.profiles.ReferenceProfile), and the
 * bin of one prediction in each of its columns, exactly as the Python twin computes them
 * ({@code window_counts} of a one-row window).
 *
 * <p>Parsed once per profile read; {@link #bins} then costs one streaming pass over the inputs
 * and one over the output. No Flink here: the Python twin tests run it without Flink's classes.
 * Immutable, so safe to share.
 */
public final class ReferenceProfile {
    /** The predictions' column, as Python names it (profiles.OUTPUT). */
    public static final String OUTPUT = "__output__";

    private static final Double ONE = 1.0;
    private static final Set<String> PROFILE_FIELDS =
            Set.of("model_name", "model_version", "rows", "features", "output");
    private static final Set<String> BINS_FIELDS = Set.of("kind", "cuts", "categories", "proportions");

    private final String modelName;
    private final String modelVersion;
    private final String[] featureNames;
    private final Bins[] featureBins;
    private final Map<String, Integer> featureIndex;
    private final Bins output;
    /** The feature named like the output column, which Python's output counts replace; or -1. */
    private final int shadowedFeature;
    private final boolean categoricalFeatures;

    private ReferenceProfile(String modelName, String modelVersion, Map<String, Bins> features, Bins output) {
        this.modelName = modelName;
        this.modelVersion = modelVersion;
        this.featureNames = features.keySet().toArray(new String[0]);
        this.featureBins = features.values().toArray(new Bins[0]);
        this.featureIndex = new HashMap<>(features.size() * 2);
        for (int i = 0; i < featureNames.length; i++) {
            featureIndex.put(featureNames[i], i);
        }
        this.output = output;
        Integer shadowed = output == null ? null : featureIndex.get(OUTPUT);
        this.shadowedFeature = shadowed == null ? -1 : shadowed;
        boolean categorical = false;
        for (Bins bins : featureBins) {
            categorical |= bins.cuts == null;
        }
        this.categoricalFeatures = categorical;
    }

    public String modelName() {
        return modelName;
    }

    public String modelVersion() {
        return modelVersion;
    }

    /**
     * Reads a profile as {@code ReferenceProfile.model_validate_json} would accept it.
     *
     * @throws IllegalArgumentException if Python would reject it
     */
    public static ReferenceProfile parse(String json) {
        Object root;
        try {
            root = PythonJson.loads(json);
        } catch (IOException e) {
            throw new IllegalArgumentException("the profile is not JSON: " + e.getMessage(), e);
        }
        Map<String, Object> fields = object(root, "the profile", PROFILE_FIELDS);
        String modelName = string(required(fields, "model_name"), "model_name");
        String modelVersion = string(required(fields, "model_version"), "model_version");
        required(fields, "rows"); // only validated by Python; the bins do not need it
        Map<String, Object> features = object(required(fields, "features"), "features", null);
        Map<String, Bins> bins = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : features.entrySet()) {
            bins.put(e.getKey(), Bins.parse(e.getValue(), e.getKey()));
        }
        Object output = fields.get("output");
        return new ReferenceProfile(
                modelName,
                modelVersion,
                bins,
                output == null || output == PythonJson.Null.NULL ? null : Bins.parse(output, OUTPUT));
    }

    /**
     * The bin of one prediction in each column it counts in, as "column#bin" → 1.0.
     *
     * <p>A feature counts if its value is a Python {@code int | float} (booleans too; not an int
     * too large for a float, which numpy refuses, unless the feature is categorical); the output
     * counts if the profile bins it and {@code outputJson} is not null, numeric bins only for a
     * number (Python would coerce or raise; a non-number is skipped here). Inputs that are not a
     * JSON object as {@code json.loads} reads it count for nothing, output included. Never throws.
     *
     * @param inputsJson the prediction's inputs, a JSON object
     * @param outputJson the prediction's output as JSON, or null when it failed
     */
    public Map<String, Double> bins(String inputsJson, String outputJson) {
        Map<String, Double> result = new HashMap<>();
        if (inputsJson == null) {
            return result;
        }
        double[] values = new double[featureNames.length];
        boolean[] counted = new boolean[featureNames.length];
        // Only for categorical features (Python allows them; build_profile makes none).
        Object[] categories = categoricalFeatures ? new Object[featureNames.length] : null;
        try (JsonParser p = PythonJson.FACTORY.createParser(inputsJson)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return result;
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                Integer i = featureIndex.get(p.currentName());
                JsonToken value = p.nextToken();
                // A repeated name: json.loads keeps the last value, so this one decides.
                if (i == null) {
                    PythonJson.skip(p, value);
                } else if (featureBins[i].cuts != null) {
                    counted[i] = PythonJson.readFloat(p, value, values, i);
                } else {
                    categories[i] = PythonJson.read(p, value);
                    counted[i] = PythonJson.isNumber(categories[i]);
                }
            }
            PythonJson.end(p);
        } catch (IOException | IllegalArgumentException e) {
            return result;
        }
        boolean outputGiven = output != null && outputJson != null;
        for (int i = 0; i < featureNames.length; i++) {
            if (counted[i] && !(outputGiven && i == shadowedFeature)) {
                Bins bins = featureBins[i];
                int bin = bins.cuts != null ? bins.numericIndex(values[i]) : bins.categoryIndex(categories[i]);
                result.put(bins.keys[bin], ONE);
            }
        }
        if (outputGiven) {
            int bin = output.indexOfJson(outputJson);
            if (bin >= 0) {
                result.put(output.keys[bin], ONE);
            }
        }
        return result;
    }

    private static Object required(Map<String, Object> fields, String name) {
        Object value = fields.get(name);
        if (value == null) {
            throw new IllegalArgumentException("the profile has no " + name);
        }
        return value;
    }

    private static Map<String, Object> object(Object value, String what, Set<String> allowed) {
        if (!(value instanceof PythonJson.Dict)) {
            throw new IllegalArgumentException(what + " is not an object");
        }
        Map<String, Object> entries = ((PythonJson.Dict) value).entries;
        if (allowed != null) {
            for (String name : entries.keySet()) {
                // extra="forbid" in Python: a profile it rejects is not used here either.
                if (!allowed.contains(name)) {
                    throw new IllegalArgumentException(what + " has an unknown field " + name);
                }
            }
        }
        return entries;
    }

    private static String string(Object value, String what) {
        if (!(value instanceof String)) {
            throw new IllegalArgumentException(what + " is not a string");
        }
        return (String) value;
    }

    private static double number(Object value, String what) {
        double x;
        if (value instanceof Double) {
            x = (Double) value;
        } else if (value instanceof Long) {
            x = (Long) value;
        } else if (value instanceof BigInteger) {
            x = ((BigInteger) value).doubleValue();
            if (Double.isInfinite(x)) {
                throw new IllegalArgumentException(what + " is too large for a float");
            }
        } else {
            throw new IllegalArgumentException(what + " holds a non-number");
        }
        return x;
    }

    /**
     * One column's bins (profiles.Bins): numeric cuts, or categories (JSON texts) and "other".
     */
    static final class Bins {
        final double[] cuts;
        /** Each category's value, as {@link PythonJson#loads} reads it, to its bin. */
        final Map<Object, Integer> categories;
        final int categoryCount;
        /** "column#bin" of each bin, built once. */
        final String[] keys;

        private Bins(double[] cuts, Map<Object, Integer> categories, int categoryCount, String column) {
            this.cuts = cuts;
            this.categories = categories;
            this.categoryCount = categoryCount;
            int size = cuts != null ? cuts.length + 1 : categoryCount + 1;
            this.keys = new String[size];
            for (int i = 0; i < size; i++) {
                keys[i] = column + "#" + i;
            }
        }

        static Bins parse(Object value, String column) {
            String what = "the bins of " + column;
            Map<String, Object> fields = object(value, what, BINS_FIELDS);
            Object kind = fields.get("kind");
            boolean numeric = "numeric".equals(kind);
            if (!numeric && !"categorical".equals(kind)) {
                throw new IllegalArgumentException(what + " are neither numeric nor categorical");
            }
            double[] cuts = floats(fields.getOrDefault("cuts", List.of()), what + ": cuts");
            List<?> categories = list(fields.getOrDefault("categories", List.of()), what + ": categories");
            double[] proportions = floats(required(fields, "proportions"), what + ": proportions");
            int expected = numeric ? cuts.length + 1 : categories.size() + 1;
            if (proportions.length != expected) {
                throw new IllegalArgumentException(what + " need " + expected + " proportions");
            }
            for (int i = 1; i < cuts.length; i++) {
                // As Python's `b <= a`: NaN passes.
                if (numeric && cuts[i] <= cuts[i - 1]) {
                    throw new IllegalArgumentException(what + ": cuts must increase strictly");
                }
            }
            double sum = 0.0; // left to right, as Python 3.11's sum() of floats
            for (double x : proportions) {
                sum += x;
            }
            if (Math.abs(sum - 1.0) > 1e-6) {
                throw new IllegalArgumentException(what + ": proportions sum to " + sum + ", not 1");
            }
            if (numeric) {
                return new Bins(cuts, null, 0, column);
            }
            Map<Object, Integer> index = new HashMap<>(categories.size() * 2);
            for (int i = 0; i < categories.size(); i++) {
                String text = string(categories.get(i), what + ": a category");
                Object category = canonical(text);
                if (category != null) {
                    index.put(category, i); // a repeated text: Python's dict keeps the last index
                }
            }
            return new Bins(null, index, categories.size(), column);
        }

        /**
         * The value a category text names, or null if no output can have it: Python compares
         * {@code json.dumps(output)} with the text, so a text that is not json.dumps's own
         * (say "1e2", or "[1,2]") never matches, although it parses.
         */
        private static Object canonical(String text) {
            try {
                Object value = PythonJson.loads(text);
                return PythonJson.dumps(value).equals(text) ? value : null;
            } catch (IOException e) {
                return null;
            }
        }

        /** {@code np.searchsorted(cuts, x, side="right")}, NaN ordered last as numpy does. */
        int numericIndex(double x) {
            // numpy's binary search, step for step: with NaN among the cuts (a hand-written
            // profile can have one) the result depends on it.
            int min = 0;
            int max = cuts.length;
            while (min < max) {
                int mid = min + ((max - min) >> 1);
                if (numpyLess(x, cuts[mid])) {
                    max = mid;
                } else {
                    min = mid + 1;
                }
            }
            return min;
        }

        /** The bin of a value read by {@link PythonJson#read}: its category's, or "other". */
        int categoryIndex(Object value) {
            Integer i = categories.get(value);
            return i == null ? categoryCount : i;
        }

        /** The bin of an output, or -1 if it does not count. */
        int indexOfJson(String json) {
            if (cuts == null) {
                try {
                    return categoryIndex(PythonJson.loads(json));
                } catch (IOException | IllegalArgumentException e) {
                    return -1;
                }
            }
            double[] value = new double[1];
            try (JsonParser p = PythonJson.FACTORY.createParser(json)) {
                boolean number = PythonJson.readFloat(p, p.nextToken(), value, 0);
                PythonJson.end(p);
                return number ? numericIndex(value[0]) : -1;
            } catch (IOException | IllegalArgumentException e) {
                return -1;
            }
        }

        private static boolean numpyLess(double a, double b) {
            return a < b || (b != b && a == a);
        }

        private static List<?> list(Object value, String what) {
            if (!(value instanceof List)) {
                throw new IllegalArgumentException(what + " is not a list");
            }
            return (List<?>) value;
        }

        private static double[] floats(Object value, String what) {
            List<?> items = list(value, what);
            double[] result = new double[items.size()];
            for (int i = 0; i < result.length; i++) {
                result[i] = number(items.get(i), what);
            }
            return result;
        }
    }

    /**
     * JSON as Python's {@code json.loads} reads it and {@code json.dumps} (default arguments)
     * writes it, on top of Jackson's streaming parser.
     *
     * <p>Values: {@link Null#NULL}, Boolean, Long (or BigInteger beyond a long), Double, String,
     * List and {@link Dict}. Their {@code equals} is json.dumps's text equality: Double compares
     * bits (so -0.0 ≠ 0.0 and NaN = NaN), 1, 1.0, "1" and true all differ, a Dict's key order
     * counts.
     */
    static final class PythonJson {
        /** Python's default sys.get_int_max_str_digits(): json.loads refuses longer ints. */
        static final int MAX_INT_DIGITS = 4300;

        /**
         * NaN, Infinity and -Infinity as json.loads takes them (Jackson's extra spellings are
         * refused in {@link #checkFloat}); numbers of any length, as Python's.
         */
        static final JsonFactory FACTORY = JsonFactory.builder()
                .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
                .streamReadConstraints(
                        StreamReadConstraints.builder().maxNumberLength(Integer.MAX_VALUE).build())
                .build();

        /** JSON null. */
        enum Null {
            NULL
        }

        /** A JSON object: a Python dict, the last of repeated keys winning in the first's place. */
        static final class Dict {
            final LinkedHashMap<String, Object> entries;

            Dict(LinkedHashMap<String, Object> entries) {
                this.entries = entries;
            }

            @Override
            public boolean equals(Object other) {
                if (!(other instanceof Dict) || ((Dict) other).entries.size() != entries.size()) {
                    return false;
                }
                // In order: json.dumps writes a dict's keys as they came.
                Iterator<Map.Entry<String, Object>> theirs = ((Dict) other).entries.entrySet().iterator();
                for (Map.Entry<String, Object> mine : entries.entrySet()) {
                    if (!mine.equals(theirs.next())) {
                        return false;
                    }
                }
                return true;
            }

            @Override
            public int hashCode() {
                return entries.hashCode();
            }
        }

        private PythonJson() {}

        /** {@code json.loads(text)}. */
        static Object loads(String text) throws IOException {
            try (JsonParser p = FACTORY.createParser(text)) {
                Object value = read(p, p.nextToken());
                end(p);
                return value;
            }
        }

        /** Fails unless the document ends here: json.loads refuses "extra data". */
        static void end(JsonParser p) throws IOException {
            if (p.nextToken() != null) {
                throw new JsonParseException(p, "extra data after the value");
            }
        }

        static Object read(JsonParser p, JsonToken token) throws IOException {
            if (token == null) {
                throw new JsonParseException(p, "expecting a value");
            }
            switch (token) {
                case START_OBJECT:
                    LinkedHashMap<String, Object> entries = new LinkedHashMap<>();
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String name = p.currentName();
                        entries.put(name, read(p, p.nextToken()));
                    }
                    return new Dict(entries);
                case START_ARRAY:
                    List<Object> items = new ArrayList<>();
                    JsonToken item;
                    while ((item = p.nextToken()) != JsonToken.END_ARRAY) {
                        items.add(read(p, item));
                    }
                    return items;
                case VALUE_STRING:
                    return p.getText();
                case VALUE_NUMBER_INT:
                    checkInt(p);
                    return p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                            ? p.getBigIntegerValue()
                            : (Object) p.getLongValue();
                case VALUE_NUMBER_FLOAT:
                    checkFloat(p);
                    return p.getDoubleValue();
                case VALUE_TRUE:
                    return Boolean.TRUE;
                case VALUE_FALSE:
                    return Boolean.FALSE;
                case VALUE_NULL:
                    return Null.NULL;
                default:
                    throw new JsonParseException(p, "unexpected " + token);
            }
        }

        /** Python's {@code isinstance(value, int | float)}: bool is an int. */
        static boolean isNumber(Object value) {
            return value instanceof Double || value instanceof Long || value instanceof Boolean
                    || value instanceof BigInteger;
        }

        /** Skips a value, refusing whatever json.loads would refuse in it. */
        static void skip(JsonParser p, JsonToken token) throws IOException {
            int depth = 0;
            do {
                if (token == null) {
                    throw new JsonParseException(p, "expecting a value");
                }
                switch (token) {
                    case START_OBJECT:
                    case START_ARRAY:
                        depth++;
                        break;
                    case END_OBJECT:
                    case END_ARRAY:
                        depth--;
                        break;
                    case VALUE_NUMBER_INT:
                        checkInt(p);
                        break;
                    case VALUE_NUMBER_FLOAT:
                        checkFloat(p);
                        break;
                    default:
                        break;
                }
                if (depth > 0) {
                    token = p.nextToken();
                }
            } while (depth > 0);
        }

        /**
         * If the value at {@code token} is a Python {@code int | float} (bool included) that
         * {@code np.asarray(dtype=float64)} can take, stores it as that float and returns true;
         * otherwise skips it and returns false (an int beyond a float: numpy raises
         * OverflowError).
         */
        static boolean readFloat(JsonParser p, JsonToken token, double[] into, int at) throws IOException {
            if (token == null) {
                throw new JsonParseException(p, "expecting a value");
            }
            switch (token) {
                case VALUE_NUMBER_FLOAT:
                    checkFloat(p);
                    into[at] = p.getDoubleValue();
                    return true;
                case VALUE_NUMBER_INT:
                    checkInt(p);
                    // Both conversions round to nearest, even on ties: Python's float(int).
                    double x = p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                            ? p.getBigIntegerValue().doubleValue()
                            : (double) p.getLongValue();
                    into[at] = x;
                    return !Double.isInfinite(x);
                case VALUE_TRUE:
                    into[at] = 1.0;
                    return true;
                case VALUE_FALSE:
                    into[at] = 0.0;
                    return true;
                default:
                    skip(p, token);
                    return false;
            }
        }

        private static void checkInt(JsonParser p) throws IOException {
            int digits = p.getTextLength();
            if (digits > MAX_INT_DIGITS && p.getTextCharacters()[p.getTextOffset()] == '-') {
                digits--;
            }
            if (digits > MAX_INT_DIGITS) {
                throw new JsonParseException(p, "an int of more than " + MAX_INT_DIGITS + " digits");
            }
        }

        private static void checkFloat(JsonParser p) throws IOException {
            if (p.isNaN()) {
                String text = p.getText();
                if (!text.equals("NaN") && !text.equals("Infinity") && !text.equals("-Infinity")) {
                    throw new JsonParseException(p, "json.loads does not take " + text);
                }
            }
        }

        /** {@code json.dumps(value)}: ensure_ascii, separators ", " and ": ". */
        static String dumps(Object value) {
            StringBuilder out = new StringBuilder();
            dump(value, out);
            return out.toString();
        }

        private static void dump(Object value, StringBuilder out) {
            if (value instanceof String) {
                string((String) value, out);
            } else if (value instanceof Double) {
                out.append(floatRepr((Double) value));
            } else if (value instanceof Long || value instanceof BigInteger) {
                out.append(value);
            } else if (value instanceof Boolean) {
                out.append((Boolean) value ? "true" : "false");
            } else if (value == Null.NULL) {
                out.append("null");
            } else if (value instanceof List) {
                out.append('[');
                String separator = "";
                for (Object item : (List<?>) value) {
                    out.append(separator);
                    dump(item, out);
                    separator = ", ";
                }
                out.append(']');
            } else if (value instanceof Dict) {
                out.append('{');
                String separator = "";
                for (Map.Entry<String, Object> e : ((Dict) value).entries.entrySet()) {
                    out.append(separator);
                    string(e.getKey(), out);
                    out.append(": ");
                    dump(e.getValue(), out);
                    separator = ", ";
                }
                out.append('}');
            } else {
                throw new IllegalArgumentException("not a JSON value: " + value);
            }
        }

        private static void string(String s, StringBuilder out) {
            out.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': out.append("\\\""); break;
                    case '\\': out.append("\\\\"); break;
                    case '\n': out.append("\\n"); break;
                    case '\r': out.append("\\r"); break;
                    case '\t': out.append("\\t"); break;
                    case '\b': out.append("\\b"); break;
                    case '\f': out.append("\\f"); break;
                    default:
                        if (c < ' ' || c > '~') {
                            // UTF-16 units: a code point beyond the BMP comes out as its
                            // surrogate pair, lower-case hex, as Python writes it.
                            String hex = Integer.toHexString(c);
                            out.append("\\u");
                            for (int pad = hex.length(); pad < 4; pad++) {
                                out.append('0');
                            }
                            out.append(hex);
                        } else {
                            out.append(c);
                        }
                }
            }
            out.append('"');
        }

        /**
         * A float as json.dumps writes it: {@code repr(x)} (the shortest digits that read back
         * as x, the nearest of them on a choice), or NaN / Infinity / -Infinity. Java 17's
         * Double.toString is not always shortest, hence the search.
         */
        static String floatRepr(double x) {
            if (Double.isNaN(x)) {
                return "NaN";
            }
            if (Double.isInfinite(x)) {
                return x > 0 ? "Infinity" : "-Infinity";
            }
            boolean negative = Double.doubleToRawLongBits(x) < 0;
            if (x == 0.0) {
                return negative ? "-0.0" : "0.0";
            }
            double magnitude = Math.abs(x);
            BigDecimal exact = new BigDecimal(magnitude);
            BigDecimal shortest = null;
            for (int precision = 1; shortest == null; precision++) {
                BigDecimal near = exact.round(new MathContext(precision, RoundingMode.HALF_EVEN));
                if (readsBack(near, magnitude)) {
                    shortest = near;
                } else {
                    // The rounding interval can be lopsided (at a power of two): the other
                    // neighbour at this precision may still read back.
                    RoundingMode away = near.compareTo(exact) > 0 ? RoundingMode.DOWN : RoundingMode.UP;
                    BigDecimal far = exact.round(new MathContext(precision, away));
                    if (readsBack(far, magnitude)) {
                        shortest = far;
                    }
                }
            }
            BigDecimal stripped = shortest.stripTrailingZeros();
            String digits = stripped.unscaledValue().toString();
            int n = digits.length();
            int point = n - stripped.scale(); // x = 0.digits × 10^point
            StringBuilder out = new StringBuilder(24);
            if (negative) {
                out.append('-');
            }
            if (point <= -4 || point > 16) {
                out.append(digits.charAt(0));
                if (n > 1) {
                    out.append('.').append(digits, 1, n);
                }
                int exponent = point - 1;
                out.append(exponent < 0 ? "e-" : "e+");
                if (Math.abs(exponent) < 10) {
                    out.append('0');
                }
                out.append(Math.abs(exponent));
            } else if (point <= 0) {
                out.append("0.");
                for (int i = point; i < 0; i++) {
                    out.append('0');
                }
                out.append(digits);
            } else if (point >= n) {
                out.append(digits);
                for (int i = n; i < point; i++) {
                    out.append('0');
                }
                out.append(".0");
            } else {
                out.append(digits, 0, point).append('.').append(digits, point, n);
            }
            return out.toString();
        }

        private static boolean readsBack(BigDecimal decimal, double x) {
            return Double.parseDouble(decimal.toString()) == x;
        }
    }
}
