package io.closeloop.flink;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Runs the functions' pure logic on one case a line, for the Python twin tests.
 *
 * <p>Each input line is a JSON array {@code [function, arg, ...]} of strings (or nulls); each
 * output line is the JSON the function's {@code twin} method returns. No Flink on the class path
 * but for "event" (the front's deserializer): only the logic behind the Flink functions is called.
 */
public final class Twin {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Twin() {}

    public static void main(String[] argv) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        String line;
        while ((line = in.readLine()) != null) {
            JsonNode call = JSON.readTree(line);
            String[] args = new String[call.size() - 1];
            for (int i = 1; i < call.size(); i++) {
                args[i - 1] = call.get(i).isNull() ? null : call.get(i).asText();
            }
            String answer;
            switch (call.get(0).asText()) {
                case "statistics":
                    answer = TaskStatistics.twin(args);
                    break;
                case "bins":
                    answer = DriftBins.twin(args);
                    break;
                case "iso_millis":
                    answer = IsoTime.twin(args);
                    break;
                case "latency":
                    answer = LatencySketch.twin(args);
                    break;
                case "members":
                    answer = EventMembers.twin(args);
                    break;
                case "members_utf8":
                    answer = EventMembers.twinUtf8(args);
                    break;
                case "utf8_well_formed":
                    answer = Boolean.toString(EventMembers.wellFormed(Base64.getDecoder().decode(args[0])));
                    break;
                case "contract":
                    answer = EventContract.twin(args);
                    break;
                case "event":
                    answer = EventDeserializer.twin(args);
                    break;
                default:
                    throw new IllegalArgumentException("unknown function " + call.get(0));
            }
            out.println(answer);
            out.flush();
        }
    }
}
