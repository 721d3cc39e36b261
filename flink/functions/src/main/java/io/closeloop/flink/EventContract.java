package io.closeloop.flink;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * An event contract's checks, run on the members {@link EventMembers} parsed out: the first broken
 * rule as {@code "field<TAB>reason"}, or null when every rule holds.
 *
 * <p>The rules are generated from the pydantic models (closeloop.streaming.stages.checks), in the
 * order pydantic reports errors, as a JSON array of {@code {"kind", "member", "arg", "other",
 * "field", "reason"}}. A member reads as JSON text ({@code j}: a string keeps its quotes) or as text
 * ({@code t}: a string unquoted); a JSON null is absent. Each kind says when the rule is broken:
 *
 * <ul>
 *   <li>{@code not_json_object}: the event is not one JSON object (no members at all);
 *   <li>{@code absent}: the member is absent;
 *   <li>{@code not_equal}: present, and its JSON text is not {@code arg};
 *   <li>{@code not_string}, {@code not_dict}: present, and not a JSON string, object;
 *   <li>{@code not_number_map}: a JSON object with a value that is not a number (NaN and
 *       ±Infinity are numbers, as Python's json reads them);
 *   <li>{@code too_short}, {@code too_long}: its text has fewer, more than {@code arg} characters
 *       (code points, as Python counts them);
 *   <li>{@code no_match}: its text has no match of the regular expression {@code arg};
 *   <li>{@code not_number_at_least}: absent, not a JSON number, or less than {@code arg} (NaN too);
 *   <li>{@code not_one_of}: present, and its JSON text is none of {@code arg} (an array);
 *   <li>{@code bad_ts}: the event's {@code ts} is present and not a time (the caller says, from the
 *       source's own parse of it);
 *   <li>{@code neither}, {@code both}: {@code member} and {@code other} are both absent, present.
 * </ul>
 *
 * <p>In SQL these were a CASE of some 25 conditions per event, each reading array elements and
 * calling CHAR_LENGTH or REGEXP (a pattern cache lookup per call): ~8 % of the job's CPU.
 */
final class EventContract {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper PYTHON_JSON =
            JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    /** One check on the members ({@code j} at i, {@code t} at k + i). */
    private interface Rule {
        boolean broken(String[] members, int k, boolean badTs);
    }

    private final Rule[] rules;
    private final String[] problems;
    private final String notObject;

    EventContract(String[] names, String rulesJson) {
        JsonNode array;
        try {
            array = JSON.readTree(rulesJson);
        } catch (IOException e) {
            throw new IllegalArgumentException("contract rules are not JSON: " + e.getMessage(), e);
        }
        List<Rule> built = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        String notObjectProblem = null;
        for (JsonNode node : array) {
            String kind = node.get("kind").asText();
            String problem = node.get("field").asText() + '\t' + node.get("reason").asText();
            if (kind.equals("not_json_object")) {
                notObjectProblem = problem;
                continue;
            }
            built.add(rule(kind, names, node));
            texts.add(problem);
        }
        if (notObjectProblem == null) {
            throw new IllegalArgumentException("contract has no not_json_object rule");
        }
        rules = built.toArray(new Rule[0]);
        problems = texts.toArray(new String[0]);
        notObject = notObjectProblem;
    }

    /** The first broken rule's {@code "field<TAB>reason"}; null: every rule holds. */
    String firstProblem(String[] members, boolean badTs) {
        if (members == null) {
            return notObject;
        }
        int k = members.length / 2;
        for (int r = 0; r < rules.length; r++) {
            if (rules[r].broken(members, k, badTs)) {
                return problems[r];
            }
        }
        return null;
    }

    private static Rule rule(String kind, String[] names, JsonNode node) {
        JsonNode arg = node.get("arg");
        if (kind.equals("bad_ts")) {
            return (m, k, badTs) -> badTs;
        }
        int i = index(names, node.get("member").asText());
        switch (kind) {
            case "absent":
                return (m, k, badTs) -> m[i] == null;
            case "not_equal":
                String expected = arg.asText();
                return (m, k, badTs) -> m[i] != null && !m[i].equals(expected);
            case "not_string":
                return (m, k, badTs) -> m[i] != null && m[i].charAt(0) != '"';
            case "not_dict":
                return (m, k, badTs) -> m[i] != null && m[i].charAt(0) != '{';
            case "not_number_map":
                return (m, k, badTs) -> m[i] != null && m[i].charAt(0) == '{' && !allNumbers(m[i]);
            case "too_short":
                int low = arg.asInt();
                return (m, k, badTs) -> m[k + i] != null && length(m[k + i]) < low;
            case "too_long":
                int high = arg.asInt();
                return (m, k, badTs) -> m[k + i] != null && length(m[k + i]) > high;
            case "no_match":
                // pydantic's patterns run on Rust's regex: \w as Unicode, (?U) here, and $ as the
                // end of the text, where Java's $ also matches before a final line break.
                String regex = arg.asText();
                if (regex.endsWith("$") && !regex.endsWith("\\$")) {
                    regex = regex.substring(0, regex.length() - 1) + "\\z";
                }
                Pattern pattern = Pattern.compile("(?U)" + regex);
                return (m, k, badTs) -> m[k + i] != null && !pattern.matcher(m[k + i]).find();
            case "not_number_at_least":
                double least = arg.asDouble();
                return (m, k, badTs) -> !atLeast(m[i], least);
            case "not_one_of":
                Set<String> allowed = new HashSet<>();
                arg.forEach(value -> allowed.add(value.asText()));
                return (m, k, badTs) -> m[i] != null && !allowed.contains(m[i]);
            case "neither":
                int o = index(names, node.get("other").asText());
                return (m, k, badTs) -> m[i] == null && m[o] == null;
            case "both":
                int p = index(names, node.get("other").asText());
                return (m, k, badTs) -> m[i] != null && m[p] != null;
            default:
                throw new IllegalArgumentException("unknown contract rule " + kind);
        }
    }

    private static int index(String[] names, String member) {
        for (int i = 0; i < names.length; i++) {
            if (names[i].equals(member)) {
                return i;
            }
        }
        throw new IllegalArgumentException("contract rule on " + member + ", which is not parsed out");
    }

    private static int length(String text) {
        return text.codePointCount(0, text.length());
    }

    /** Whether every value of the JSON object is a number. */
    private static boolean allNumbers(String json) {
        try {
            for (JsonNode value : PYTHON_JSON.readTree(json)) {
                if (!value.isNumber()) {
                    return false;
                }
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Whether the JSON text is a number at least {@code least}; NaN is not. */
    private static boolean atLeast(String json, double least) {
        if (json == null || json.isEmpty()) {
            return false;
        }
        char c = json.charAt(0);
        if (c != '-' && c != 'N' && c != 'I' && (c < '0' || c > '9')) {
            return false; // a string, an object, an array, true or false
        }
        try {
            return Double.parseDouble(json) >= least;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** For the twin test: {@code [names, rules, body, badTs]} → the problem as a JSON string, or null. */
    static String twin(String[] args) throws IOException {
        String[] names = args[0].split(",");
        String[] members = new EventMembers(args[0]).parse(args[2]);
        String problem = new EventContract(names, args[1]).firstProblem(members, Boolean.parseBoolean(args[3]));
        return JSON.writeValueAsString(problem);
    }
}
