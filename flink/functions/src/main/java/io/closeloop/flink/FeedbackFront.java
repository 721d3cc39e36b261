package io.closeloop.flink;

import java.io.IOException;
import java.util.List;
import java.util.Properties;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.data.RowData;

/**
 * The feedback job's front, as a DataStream: both topics read, each event parsed and checked
 * once, and the keyed step per prediction id. Its two streams become the tables the job's SQL
 * starts from ({@code flink/feedback_job.py}):
 *
 * <pre>
 *   predictions ─ source ─ checks ─┐                 ┌─ paired  (PairJoin#PAIRED, rowtime)
 *                                  ├─ keyBy(pid) ─ PairJoin
 *   feedback ──── source ─ checks ─┘
 *                            └─ invalid (InvalidEvents#TYPE): broken contract, late
 * </pre>
 *
 * <p>Each source is parsed into Flink's internal rows, which the SQL after it takes as they are.
 * The settings come from Python as one JSON object ({@link Settings}), built by {@code
 * closeloop.streaming.stages.front} from closeloop's settings and the event contracts.
 */
public final class FeedbackFront {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final DataStream<RowData> paired;
    private final DataStream<RowData> invalid;

    private FeedbackFront(DataStream<RowData> paired, DataStream<RowData> invalid) {
        this.paired = paired;
        this.invalid = invalid;
    }

    /** What the front needs to know, as {@code closeloop.streaming.stages.front} writes it. */
    @JsonIgnoreProperties(ignoreUnknown = false)
    public static final class Settings {
        @JsonProperty public String bootstrap;
        @JsonProperty("label_delay_ms") public long labelDelayMs;
        @JsonProperty("state_ttl_ms") public long stateTtlMs;
        @JsonProperty("max_clock_skew_ms") public long maxClockSkewMs;
        @JsonProperty("out_of_orderness_ms") public long outOfOrdernessMs;
        @JsonProperty("idle_timeout_ms") public long idleTimeoutMs;
        /** Start at this time in every partition; null: at the group's offsets, else the earliest. */
        @JsonProperty("start_from_ms") public Long startFromMs;
        @JsonProperty("future_problem") public String futureProblem;
        @JsonProperty("late_problem") public String lateProblem;
        @JsonProperty public Side predictions;
        @JsonProperty public Side feedback;
    }

    /** One topic: its consumer group, the members parsed and the contract's rules. */
    public static final class Side {
        @JsonProperty public String topic;
        @JsonProperty public String group;
        @JsonProperty public List<String> members;
        /** The contract's rules ({@link EventContract}), in the order they are checked. */
        @JsonProperty public JsonNode rules;
    }

    /** Adds the front to {@code env}; {@code settingsJson} is a {@link Settings}. */
    public static FeedbackFront build(StreamExecutionEnvironment env, String settingsJson) throws IOException {
        Settings s = JSON.readValue(settingsJson, Settings.class);
        SingleOutputStreamOperator<RowData> predictions = checked(env, s, "prediction", s.predictions);
        SingleOutputStreamOperator<RowData> feedback = checked(env, s, "feedback", s.feedback);
        DataStream<RowData> paired =
                predictions
                        .union(feedback)
                        // The id as a Java string: the heap's timers keep the key they are set
                        // for, and the input row's bytes are reused for the next row.
                        .keyBy(row -> row.getString(PairJoin.PID).toString())
                        .process(new PairJoin(s.labelDelayMs, s.stateTtlMs), PairJoin.PAIRED_TYPE)
                        .name("pair_join")
                        .uid("pair-join");
        DataStream<RowData> invalid =
                predictions.getSideOutput(InvalidEvents.TAG).union(feedback.getSideOutput(InvalidEvents.TAG));
        return new FeedbackFront(paired, invalid);
    }

    /** A topic's events, parsed and checked; the invalid ones in the side output {@link InvalidEvents#TAG}. */
    private static SingleOutputStreamOperator<RowData> checked(
            StreamExecutionEnvironment env, Settings s, String kind, Side side) {
        Properties properties = new Properties();
        // Only what the gateway's and the job's transactions committed.
        properties.setProperty("isolation.level", "read_committed");
        OffsetsInitializer start =
                s.startFromMs == null
                        ? OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST)
                        : OffsetsInitializer.timestamp(s.startFromMs);
        KafkaSource<RowData> source =
                KafkaSource.<RowData>builder()
                        .setBootstrapServers(s.bootstrap)
                        .setTopics(side.topic)
                        .setGroupId(side.group)
                        .setProperties(properties)
                        .setStartingOffsets(start)
                        .setDeserializer(
                                new EventDeserializer(
                                        kind, side.members, side.rules.toString(), s.maxClockSkewMs, s.futureProblem))
                        .build();
        String name = kind + "_source";
        return env.fromSource(source, EventWatermarks.strategy(s.outOfOrdernessMs, s.idleTimeoutMs), name)
                .uid(kind + "-source")
                .process(new InvalidEvents(side.topic, s.lateProblem, kind.equals("prediction")), PairJoin.CHECKED_TYPE)
                .name(kind + "_checks")
                .uid(kind + "-checks");
    }

    /** Valid events' pairs and their dead letters, on their event time ({@link PairJoin#PAIRED}). */
    public DataStream<RowData> paired() {
        return paired;
    }

    /** Events that broke their contract, or came late, for the dead letters ({@link InvalidEvents#TYPE}). */
    public DataStream<RowData> invalid() {
        return invalid;
    }
}
