package io.closeloop.flink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.api.common.functions.util.ListCollector;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.record.TimestampType;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.util.Collector;

/**
 * A Kafka record of one topic, parsed once and checked against its contract, as a row of {@link
 * PairJoin#EVENTS} with the first broken rule last ({@code problem}, "field TAB reason", null when
 * the event is valid).
 *
 * <p>The event time is the event's {@code ts} ({@link EventTime#of}): the epoch for an event
 * that cannot be placed, which then breaks a rule, so that it never moves the watermark. The
 * checks are those of the contract ({@link EventContract}), then a {@code ts} too far ahead of
 * Kafka's time; whether an event is late is for {@link InvalidEvents}, which sees the watermark.
 */
final class EventDeserializer implements KafkaRecordDeserializationSchema<RowData> {
    private static final long serialVersionUID = 1L;

    private final String kind;
    private final String names;
    private final String rules;
    private final long maxSkewMs;
    private final String futureProblem;

    private transient StringData kindData;
    private transient boolean isPrediction;
    private transient EventMembers members;
    private transient EventContract contract;
    private transient int[] at;

    /**
     * @param kind "prediction" or "feedback": the topic's events
     * @param names the members parsed, in the order of the rules' indexes ({@code
     *     closeloop.streaming.stages.checks.members})
     * @param rules the contract's rules as JSON ({@link EventContract})
     * @param futureProblem the problem of a {@code ts} more than {@code maxSkewMs} after Kafka's time
     */
    EventDeserializer(String kind, List<String> names, String rules, long maxSkewMs, String futureProblem) {
        this.kind = kind;
        this.names = String.join(",", names);
        this.rules = rules;
        this.maxSkewMs = maxSkewMs;
        this.futureProblem = futureProblem;
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) {
        kindData = StringData.fromString(kind);
        isPrediction = kind.equals("prediction");
        members = new EventMembers(names);
        String[] split = names.split(",");
        contract = new EventContract(split, rules);
        at = new int[Member.values().length];
        for (Member m : Member.values()) {
            at[m.ordinal()] = List.of(split).indexOf(m.json);
        }
    }

    /** The members the row carries; a side's events lack some (index -1). */
    private enum Member {
        PREDICTION_ID("prediction_id"),
        MODEL_NAME("model_name"),
        MODEL_VERSION("model_version"),
        TASK("task"),
        OUTPUT("output"),
        ERROR("error"),
        LATENCY_MS("latency_ms"),
        INPUTS("inputs"),
        FEATURES("features"),
        FEEDBACK_ID("feedback_id"),
        GROUND_TRUTH("ground_truth"),
        SOURCE("source");

        final String json;

        Member(String json) {
            this.json = json;
        }
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<RowData> out) throws IOException {
        byte[] value = record.value();
        TimestampData kafkaTs = TimestampData.fromEpochMillis(record.timestamp());
        TimestampData eventTs = EventTime.of(value, kafkaTs, maxSkewMs);
        StringData body = value == null ? null : StringData.fromBytes(value);
        String[] parsed = members.parse(value);
        String problem = contract.firstProblem(parsed, badTs(eventTs, body));
        if (problem == null && eventTs.equals(EventTime.EPOCH)) {
            TimestampData ts = EventTime.parsed(body);
            if (ts != null && ts.getMillisecond() > kafkaTs.getMillisecond() + maxSkewMs) {
                problem = futureProblem;
            }
        }
        GenericRowData row = new GenericRowData(PairJoin.EVENT_ARITY + 1);
        row.setField(PairJoin.KIND, kindData);
        row.setField(PairJoin.MESSAGE_KEY, record.key() == null ? null : StringData.fromBytes(record.key()));
        row.setField(PairJoin.BODY, body);
        row.setField(PairJoin.PARTITION, record.partition());
        row.setField(PairJoin.OFFSET, record.offset());
        row.setField(PairJoin.EVENT_TS, eventTs);
        row.setField(PairJoin.EVENT_ARITY, problem == null ? null : StringData.fromString(problem));
        if (problem == null) {
            fill(row, parsed, value);
        }
        out.collect(row);
    }

    /** The contract's rule bad_ts: {@code ts} present and not a time (the source gave the epoch). */
    private static boolean badTs(TimestampData eventTs, StringData body) {
        return eventTs.equals(EventTime.EPOCH) && EventTime.text(body) != null && EventTime.parsed(body) == null;
    }

    /** A valid event's members, as the job's SQL used to select them. */
    private void fill(GenericRowData row, String[] parsed, byte[] value) {
        row.setField(PairJoin.PID, text(parsed, Member.PREDICTION_ID));
        row.setField(PairJoin.MODEL_NAME, text(parsed, Member.MODEL_NAME));
        row.setField(PairJoin.MODEL_VERSION, text(parsed, Member.MODEL_VERSION));
        row.setField(PairJoin.TASK, text(parsed, Member.TASK));
        row.setField(PairJoin.OUTPUT, json(parsed, Member.OUTPUT));
        row.setField(PairJoin.ERROR, text(parsed, Member.ERROR));
        row.setField(PairJoin.LATENCY_MS, number(parsed, Member.LATENCY_MS));
        row.setField(PairJoin.INPUTS, json(parsed, Member.INPUTS));
        row.setField(PairJoin.FEATURES, json(parsed, Member.FEATURES));
        StringData feedbackId = text(parsed, Member.FEEDBACK_ID);
        if (feedbackId == null && !isPrediction) {
            // Feedback without an id is deduplicated by its whole body.
            feedbackId = StringData.fromString(Base64.getEncoder().encodeToString(value));
        }
        row.setField(PairJoin.FEEDBACK_ID, feedbackId);
        row.setField(PairJoin.GROUND_TRUTH, json(parsed, Member.GROUND_TRUTH));
        row.setField(PairJoin.SOURCE, text(parsed, Member.SOURCE));
    }

    /** The member as JSON text (a string keeps its quotes); null when absent, JSON null or not parsed. */
    private StringData json(String[] parsed, Member m) {
        int i = at[m.ordinal()];
        return i < 0 || parsed[i] == null ? null : StringData.fromString(parsed[i]);
    }

    /** The member as text: a string unquoted and unescaped. */
    private StringData text(String[] parsed, Member m) {
        int i = at[m.ordinal()];
        return i < 0 || parsed[members.size() + i] == null ? null : StringData.fromString(parsed[members.size() + i]);
    }

    /** The member as a number, null if it is not one (SQL's TRY_CAST of its JSON text). */
    private Double number(String[] parsed, Member m) {
        int i = at[m.ordinal()];
        if (i < 0 || parsed[i] == null) {
            return null;
        }
        try {
            return Double.valueOf(parsed[i].trim());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /**
     * For the Python twin test: args are kind, members (comma-separated), rules, max skew (ms),
     * the future problem, the value (base64, null: none), Kafka's time (ms) and the key. Answers
     * the row as a JSON object, its columns by name; needs Flink on the class path.
     */
    static String twin(String[] args) throws IOException {
        EventDeserializer parse =
                new EventDeserializer(args[0], List.of(args[1].split(",")), args[2], Long.parseLong(args[3]), args[4]);
        parse.open(null);
        byte[] value = args[5] == null ? null : Base64.getDecoder().decode(args[5]);
        byte[] key = args[7] == null ? null : args[7].getBytes(StandardCharsets.UTF_8);
        ConsumerRecord<byte[], byte[]> record =
                new ConsumerRecord<>(
                        "topic", 1, 42L, Long.parseLong(args[6]), TimestampType.CREATE_TIME, 0, 0, key, value,
                        new RecordHeaders(), Optional.empty());
        List<RowData> rows = new ArrayList<>();
        parse.deserialize(record, new ListCollector<>(rows));
        RowData row = rows.get(0);
        RowType type = (RowType) ((InternalTypeInfo<RowData>) PairJoin.CHECKED_TYPE).toLogicalType();
        Map<String, Object> answer = new LinkedHashMap<>();
        for (int i = 0; i < type.getFieldCount(); i++) {
            Object field = RowData.createFieldGetter(type.getTypeAt(i), i).getFieldOrNull(row);
            if (field instanceof TimestampData ts) {
                field = ts.getMillisecond();
            } else if (field != null && !(field instanceof Number)) {
                field = field.toString();
            }
            answer.put(type.getFieldNames().get(i), field);
        }
        return new ObjectMapper().writeValueAsString(answer);
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return PairJoin.CHECKED_TYPE;
    }
}
