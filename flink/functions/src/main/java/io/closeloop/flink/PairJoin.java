package io.closeloop.flink;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.operators.TimestampedCollector;
import org.apache.flink.table.data.GenericMapData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.utils.LogicalTypeParser;
import org.apache.flink.util.Collector;

/**
 * The feedback job's one keyed step per prediction: deduplicate, join feedback within the label
 * delay, pick the label, and route what breaks the contract to the dead letters.
 *
 * <p>Runs over the union of valid predictions and feedback ({@link #EVENTS}, from {@link
 * EventDeserializer}), keyed by prediction id, in arrival order; invalid events, late ones
 * included, went to the dead letters before this step ({@link InvalidEvents}). Its rows ({@link
 * #PAIRED}) go on into the job's SQL as the table {@code paired}, with their event time as the
 * rowtime. Output rows have a kind:
 *
 * <ul>
 *   <li>"prediction": the first copy of a prediction (the gateway delivers at least once, a
 *       retry is an exact copy), at once, at the prediction's time, with the numbers its model
 *       computed from a raw input ({@code features}: drift's, never kept in the state);
 *   <li>"feedback": a feedback event, not seen before, whose prediction is at most the label
 *       delay older; {@code labeled} marks the first such feedback, by time and then by arrival
 *       (partition offset), of a prediction that did not fail, and carries the example's task
 *       statistics ({@code stats}), or why it cannot be scored ({@code field}, {@code reason},
 *       with the original {@code body} for the dead letter);
 *   <li>"dead_letter": feedback without its prediction within the label delay (field
 *       "prediction_id", no reason: the SQL words it);
 *   <li>"retraction": a label taken back, at its own time, with its statistics negated: a
 *       feedback of an earlier time (or of the same time, arrived earlier) came after it.
 * </ul>
 *
 * <p>A feedback whose prediction is here is judged at once: if no label is given yet, it is the
 * label, and the windows count it without waiting. Feedback out of order, of an earlier time than
 * the label given, becomes the label when it arrives, and the old label is taken back by a timer
 * at its time, so that the retraction lands in the windows the label went to (the watermark has
 * passed neither time yet). The label is then the same in a run and in a replay, and a timer is
 * set only on that rare path. Feedback that comes before its prediction waits in the state, with
 * a timer at its time: it is judged when its prediction comes, or, if the watermark passes its
 * time first, it is unmatched. State is one small value
 * per prediction id, read and written by point lookups only. Nothing here holds the watermark
 * back.
 *
 * <p>The prediction's output and inputs stay in the state after the label, as long as the
 * state does: a label given later, out of order, needs them for its row. The lake keeps both
 * labels' rows, and {@code closeloop.lake} reads the one of the earlier time: the gateway keys
 * feedback by prediction id, so a prediction's feedback arrives in offset order, and a label is
 * taken back only for one of a strictly earlier time (feedback that waits for its prediction
 * keeps any feedback after it waiting too).
 *
 * <p>Whether a feedback joins is decided by event time (its prediction's time plus the label
 * delay), but the state of an id is dropped by its time-to-live, the label delay plus a margin
 * of processing time: a cleanup timer per prediction kept every id within the label delay on the
 * heap (a day of predictions, with RocksDB state too), cost a state read when it fired, and an
 * eighth of the TaskManager's time went to collecting that heap.
 *
 * <p>The state is one byte array per id, written and read here ({@link Pair#read}, {@link
 * Pair#write}): as a structured type with lists of feedback, converting it to and from rows and
 * hashing it cost a tenth of the TaskManager's time.
 *
 * <p>Rows in and out are Flink's internal rows, their strings UTF-8 bytes throughout, read by
 * position; the rows it sends reuse the input's strings, which the next operator, chained, reads
 * before the next input.
 */
public final class PairJoin extends KeyedProcessFunction<String, RowData, RowData> {
    private static final long serialVersionUID = 2L;

    /** The input's columns: a valid event of either topic, as {@link EventDeserializer} makes it. */
    static final String EVENTS =
            "ROW<pid STRING, kind STRING, message_key STRING, body STRING, `partition` INT, `offset` BIGINT, "
                    + "model_name STRING, model_version STRING, task STRING, output STRING, error STRING, "
                    + "latency_ms DOUBLE, inputs STRING, features STRING, feedback_id STRING, "
                    + "ground_truth STRING, source STRING, event_ts TIMESTAMP(3)>";

    /** The output's columns: the prediction id, then what the kinds above carry. */
    static final String PAIRED =
            "ROW<pid STRING, kind STRING, labeled BOOLEAN, model_name STRING, model_version STRING, "
                    + "task STRING, output STRING, error STRING, latency_ms DOUBLE, inputs STRING, "
                    + "ground_truth STRING, source STRING, prediction_ts TIMESTAMP(3), "
                    + "stats MAP<STRING, DOUBLE>, source_topic STRING, field STRING, reason STRING, "
                    + "message_key STRING, body STRING, `partition` INT, `offset` BIGINT, features STRING>";

    static final int PID = 0;
    static final int KIND = 1;
    static final int MESSAGE_KEY = 2;
    static final int BODY = 3;
    static final int PARTITION = 4;
    static final int OFFSET = 5;
    static final int MODEL_NAME = 6;
    static final int MODEL_VERSION = 7;
    static final int TASK = 8;
    static final int OUTPUT = 9;
    static final int ERROR = 10;
    static final int LATENCY_MS = 11;
    static final int INPUTS = 12;
    static final int FEATURES = 13;
    static final int FEEDBACK_ID = 14;
    static final int GROUND_TRUTH = 15;
    static final int SOURCE = 16;
    static final int EVENT_TS = 17;
    /** How many columns {@link #EVENTS} has; a checked event has its problem after them. */
    static final int EVENT_ARITY = 18;

    /** A parsed and checked event: {@link #EVENTS} and the first rule it breaks, "field TAB reason". */
    static final TypeInformation<RowData> CHECKED_TYPE =
            InternalTypeInfo.of(rowType(EVENTS.substring(0, EVENTS.length() - 1) + ", problem STRING>"));

    static final TypeInformation<RowData> PAIRED_TYPE = InternalTypeInfo.of(rowType(PAIRED));

    static RowType rowType(String declaration) {
        return (RowType) LogicalTypeParser.parse(declaration, PairJoin.class.getClassLoader());
    }

    private static final StringData PREDICTION = StringData.fromString("prediction");
    private static final StringData FEEDBACK = StringData.fromString("feedback");
    private static final StringData DEAD_LETTER = StringData.fromString("dead_letter");
    private static final StringData RETRACTION = StringData.fromString("retraction");
    private static final StringData PREDICTION_ID = StringData.fromString("prediction_id");
    private static final StringData GROUND_TRUTH_FIELD = StringData.fromString("ground_truth");

    private final long labelDelayMs;
    private final long stateTtlMs;

    private transient ValueState<byte[]> state;
    /** The id whose rows are being sent, and where to: set per input and per timer. */
    private transient StringData pid;
    private transient Collector<RowData> out;

    /**
     * @param labelDelayMs how much later than its prediction a feedback still joins
     * @param stateTtlMs how long an id's state lives after its last write, in processing time
     */
    public PairJoin(long labelDelayMs, long stateTtlMs) {
        this.labelDelayMs = labelDelayMs;
        this.stateTtlMs = stateTtlMs;
    }

    @Override
    public void open(OpenContext context) {
        ValueStateDescriptor<byte[]> descriptor =
                new ValueStateDescriptor<>("state", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
        descriptor.enableTimeToLive(
                StateTtlConfig.newBuilder(Duration.ofMillis(stateTtlMs))
                        .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                        .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                        .build());
        state = getRuntimeContext().getState(descriptor);
    }

    /** Pending feedback in the order it is judged: by time, then by arrival. */
    private static final Comparator<Feedback> BY_TIME_THEN_ARRIVAL =
            (a, b) -> byTimeThenArrival(a.ts, a.partition, a.offset, b.ts, b.partition, b.offset);

    private static final Comparator<Integer> PARTITIONS = Comparator.nullsFirst(Comparator.naturalOrder());
    private static final Comparator<Long> OFFSETS = Comparator.nullsFirst(Comparator.naturalOrder());

    /** The order feedback is judged in, for feedback and for the label given alike. */
    private static int byTimeThenArrival(
            long ts, Integer partition, Long offset, long otherTs, Integer otherPartition, Long otherOffset) {
        int byTime = Long.compare(ts, otherTs);
        if (byTime != 0) {
            return byTime;
        }
        int byPartition = PARTITIONS.compare(partition, otherPartition);
        return byPartition != 0 ? byPartition : OFFSETS.compare(offset, otherOffset);
    }

    /** What is kept per prediction id, decoded. All fields nullable: an empty state is all nulls. */
    static final class Pair {
        // Strings as UTF-8, null when absent.
        byte[] modelName;
        byte[] modelVersion;
        byte[] task;
        /** The prediction's output and inputs, until it is labeled (the label row carries them). */
        byte[] output;
        byte[] error;
        byte[] inputs;
        /** Null until the prediction has arrived. */
        Long predictionTs;
        /** The latest feedback time that still joins: the prediction's time plus the label delay. */
        Long deadline;
        boolean labeled;
        /** The label given, to judge feedback that comes before it: null in state of older builds. */
        Label label;
        /** Feedback ids seen, for deduplication: a prediction gets a handful at most. */
        List<byte[]> feedbackIds = new ArrayList<>(2);
        /** Feedback that came before its prediction, each waiting for the watermark to pass its time. */
        List<Feedback> pending = new ArrayList<>(1);
        /** Labels given and then taken back, each waiting for a timer at its own time. */
        List<Label> retracted = new ArrayList<>(0);

        static Pair read(byte[] bytes) {
            Pair pair = new Pair();
            if (bytes == null) {
                return pair;
            }
            // Flink's own buffers, not java.io's streams: those lock on every byte.
            DataInputDeserializer in = new DataInputDeserializer(bytes);
            try {
                pair.modelName = readString(in);
                pair.modelVersion = readString(in);
                pair.task = readString(in);
                pair.output = readString(in);
                pair.error = readString(in);
                pair.inputs = readString(in);
                pair.predictionTs = readLong(in);
                pair.deadline = readLong(in);
                pair.labeled = in.readBoolean();
                for (int i = in.readInt(); i > 0; i--) {
                    pair.feedbackIds.add(readString(in));
                }
                for (int i = in.readInt(); i > 0; i--) {
                    pair.pending.add(Feedback.read(in));
                }
                // Appended later: state written by older builds ends here.
                if (in.available() > 0) {
                    pair.label = in.readBoolean() ? Label.read(in) : null;
                    for (int i = in.readInt(); i > 0; i--) {
                        pair.retracted.add(Label.read(in));
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("pair_join: unreadable state", e);
            }
            return pair;
        }

        byte[] write() {
            DataOutputSerializer out = new DataOutputSerializer(256);
            try {
                writeString(out, modelName);
                writeString(out, modelVersion);
                writeString(out, task);
                writeString(out, output);
                writeString(out, error);
                writeString(out, inputs);
                writeLong(out, predictionTs);
                writeLong(out, deadline);
                out.writeBoolean(labeled);
                out.writeInt(feedbackIds.size());
                for (byte[] id : feedbackIds) {
                    writeString(out, id);
                }
                out.writeInt(pending.size());
                for (Feedback f : pending) {
                    f.write(out);
                }
                out.writeBoolean(label != null);
                if (label != null) {
                    label.write(out);
                }
                out.writeInt(retracted.size());
                for (Label l : retracted) {
                    l.write(out);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return out.getCopyOfBuffer();
        }
    }

    /** A feedback event, as far as this step needs it. */
    static final class Feedback {
        long ts;
        byte[] feedbackId;
        byte[] groundTruth;
        byte[] source;
        byte[] messageKey;
        byte[] body;
        Integer partition;
        Long offset;

        static Feedback of(RowData input, long ts) {
            Feedback f = new Feedback();
            f.ts = ts;
            f.feedbackId = bytes(input, FEEDBACK_ID);
            f.groundTruth = bytes(input, GROUND_TRUTH);
            f.source = bytes(input, SOURCE);
            f.messageKey = bytes(input, MESSAGE_KEY);
            f.body = bytes(input, BODY);
            f.partition = input.isNullAt(PARTITION) ? null : input.getInt(PARTITION);
            f.offset = input.isNullAt(OFFSET) ? null : input.getLong(OFFSET);
            return f;
        }

        static Feedback read(DataInput in) throws IOException {
            Feedback f = new Feedback();
            f.ts = in.readLong();
            f.feedbackId = readString(in);
            f.groundTruth = readString(in);
            f.source = readString(in);
            f.messageKey = readString(in);
            f.body = readString(in);
            f.partition = in.readBoolean() ? in.readInt() : null;
            f.offset = readLong(in);
            return f;
        }

        void write(DataOutput out) throws IOException {
            out.writeLong(ts);
            writeString(out, feedbackId);
            writeString(out, groundTruth);
            writeString(out, source);
            writeString(out, messageKey);
            writeString(out, body);
            out.writeBoolean(partition != null);
            if (partition != null) {
                out.writeInt(partition);
            }
            writeLong(out, offset);
        }
    }

    /** A label given: its feedback's place in the order, and what it was scored on. */
    static final class Label {
        long ts;
        Integer partition;
        Long offset;
        byte[] groundTruth;

        static Label of(Feedback f) {
            Label l = new Label();
            l.ts = f.ts;
            l.partition = f.partition;
            l.offset = f.offset;
            l.groundTruth = f.groundTruth;
            return l;
        }

        static Label read(DataInput in) throws IOException {
            Label l = new Label();
            l.ts = in.readLong();
            l.partition = in.readBoolean() ? in.readInt() : null;
            l.offset = readLong(in);
            l.groundTruth = readString(in);
            return l;
        }

        void write(DataOutput out) throws IOException {
            out.writeLong(ts);
            out.writeBoolean(partition != null);
            if (partition != null) {
                out.writeInt(partition);
            }
            writeLong(out, offset);
            writeString(out, groundTruth);
        }

        /** Whether feedback {@code f} comes before this label: by time, then by arrival. */
        boolean after(Feedback f) {
            return byTimeThenArrival(f.ts, f.partition, f.offset, ts, partition, offset) < 0;
        }
    }

    // UTF-8 with a length in front (-1: null); DataOutput's own writeUTF stops at 64 KB.
    private static void writeString(DataOutput out, byte[] utf8) throws IOException {
        if (utf8 == null) {
            out.writeInt(-1);
            return;
        }
        out.writeInt(utf8.length);
        out.write(utf8);
    }

    private static byte[] readString(DataInput in) throws IOException {
        int length = in.readInt();
        if (length < 0) {
            return null;
        }
        byte[] utf8 = new byte[length];
        in.readFully(utf8);
        return utf8;
    }

    /** A string column's UTF-8 bytes, copied: the input row is reused for the next one. */
    private static byte[] bytes(RowData row, int pos) {
        return row.isNullAt(pos) ? null : row.getString(pos).toBytes();
    }

    /** A string column as it is; a null's slot holds no string to read. */
    private static StringData string(RowData row, int pos) {
        return row.isNullAt(pos) ? null : row.getString(pos);
    }

    private static StringData text(byte[] utf8) {
        return utf8 == null ? null : StringData.fromBytes(utf8);
    }

    private static String decoded(byte[] utf8) {
        return utf8 == null ? null : StringData.fromBytes(utf8).toString();
    }

    private static void writeLong(DataOutput out, Long value) throws IOException {
        out.writeBoolean(value != null);
        if (value != null) {
            out.writeLong(value);
        }
    }

    private static Long readLong(DataInput in) throws IOException {
        return in.readBoolean() ? in.readLong() : null;
    }

    @Override
    public void processElement(RowData input, Context ctx, Collector<RowData> out) throws IOException {
        this.pid = input.getString(PID);
        // KeyedProcessOperator's collector, which stamps each row: with the input's time, unless
        // told another (judgePending).
        this.out = out;
        Pair pair = Pair.read(state.value());
        if (process(ctx.timestamp(), ctx.timerService(), pair, input)) {
            state.update(pair.write());
        }
    }

    /** One input row against its id's state; whether the state changed. */
    private boolean process(long now, TimerService timers, Pair pair, RowData input) {
        StringData kind = string(input, KIND);
        if (PREDICTION.equals(kind)) {
            if (pair.predictionTs != null) {
                return false; // a retried delivery
            }
            pair.modelName = bytes(input, MODEL_NAME);
            pair.modelVersion = bytes(input, MODEL_VERSION);
            pair.task = bytes(input, TASK);
            pair.output = bytes(input, OUTPUT);
            pair.error = bytes(input, ERROR);
            pair.inputs = bytes(input, INPUTS);
            pair.predictionTs = now;
            pair.deadline = pair.predictionTs + labelDelayMs;
            // The input's own strings: the rows after this step use them before the next input.
            collect(
                    PREDICTION, false, string(input, MODEL_NAME), string(input, MODEL_VERSION),
                    string(input, TASK), string(input, OUTPUT), string(input, ERROR),
                    input.isNullAt(LATENCY_MS) ? null : input.getDouble(LATENCY_MS),
                    string(input, INPUTS), null, null, null, null, null, null, null, null, null,
                    null, null, string(input, FEATURES));
            judgePending(timers, pair);
            return true;
        }
        if (!FEEDBACK.equals(kind)) {
            throw new IllegalArgumentException("pair_join: unknown kind " + kind);
        }
        Feedback f = Feedback.of(input, now);
        for (byte[] seen : pair.feedbackIds) {
            if (Arrays.equals(seen, f.feedbackId)) {
                return false; // a retried delivery
            }
        }
        pair.feedbackIds.add(f.feedbackId);
        if (pair.predictionTs != null) {
            // Its prediction is here and fixed (the first copy wins): judged at once.
            judge(timers, pair, f);
            return true;
        }
        // Its prediction may still come, up to the watermark passing this feedback's time.
        pair.pending.add(f);
        timers.registerEventTimeTimer(f.ts);
        return true;
    }

    /**
     * The feedback that came before its prediction, judged as the prediction arrives, by time
     * and then by arrival, each at its own time: the watermark has passed none of them (their
     * timers have not fired), so their rows land in the windows they would have at their timers,
     * which are deleted. Waiting for those timers instead cost a third state read and write per
     * such pair: with the two topics read by two sources, feedback often runs ahead.
     */
    private void judgePending(TimerService timers, Pair pair) {
        if (pair.pending.isEmpty()) {
            return;
        }
        List<Feedback> due = pair.pending;
        pair.pending = new ArrayList<>(0);
        due.sort(BY_TIME_THEN_ARRIVAL);
        TimestampedCollector<RowData> at = (TimestampedCollector<RowData>) out;
        for (Feedback f : due) {
            timers.deleteEventTimeTimer(f.ts);
            at.setAbsoluteTimestamp(f.ts);
            judge(timers, pair, f);
        }
    }

    @Override
    public void onTimer(long now, OnTimerContext ctx, Collector<RowData> out) throws IOException {
        Pair pair = Pair.read(state.value());
        if (pair.pending.isEmpty() && pair.retracted.isEmpty()) {
            return;
        }
        this.pid = StringData.fromString(ctx.getCurrentKey());
        this.out = out;
        // The watermark has passed `now`: every feedback up to it has arrived.
        List<Feedback> due = new ArrayList<>(pair.pending.size());
        List<Feedback> later = new ArrayList<>(0);
        for (Feedback f : pair.pending) {
            (f.ts <= now ? due : later).add(f);
        }
        due.sort(BY_TIME_THEN_ARRIVAL);
        pair.pending = later;
        for (Feedback f : due) {
            judge(ctx.timerService(), pair, f);
        }
        // After the judging: a label it takes back may be of this very time.
        List<Label> notYet = new ArrayList<>(0);
        for (Label l : pair.retracted) {
            if (l.ts <= now) {
                retract(pair, l);
            } else {
                notYet.add(l);
            }
        }
        pair.retracted = notYet;
        if (pair.predictionTs == null && pair.pending.isEmpty()) {
            state.clear(); // only ids of unmatched feedback: nothing can join them now
            return;
        }
        // Later feedback waits for its own time: its prediction may still come.
        state.update(pair.write());
    }

    /**
     * A feedback whose prediction is here, or whose time has come: unmatched, joined, or the
     * label if nothing before it, by time and then by arrival, is.
     */
    private void judge(TimerService timers, Pair pair, Feedback f) {
        // No prediction at or before the feedback's time, or one more than the label delay older.
        if (pair.predictionTs == null || f.ts < pair.predictionTs || f.ts > pair.deadline) {
            // A dead letter on field prediction_id; the reason is the SQL's to word: it knows the label delay.
            collect(
                    DEAD_LETTER, false, null, null, null, null, null, null, null, null, null, null, null,
                    null, PREDICTION_ID, null, text(f.messageKey), text(f.body), f.partition, f.offset, null);
            return;
        }
        if (pair.error != null || (pair.labeled && (pair.label == null || !pair.label.after(f)))) {
            collect(
                    FEEDBACK, false, text(pair.modelName), text(pair.modelVersion), text(pair.task),
                    null, text(pair.error), null, null, null, null, null, null, null, null, null,
                    null, null, null, null, null);
            return;
        }
        if (pair.labeled) {
            // Feedback out of order: it comes before the label given, so it is the label, and
            // that one is taken back in its own windows, at its own time. The watermark has not
            // passed this feedback's time, so neither has it passed that one's.
            pair.retracted.add(pair.label);
            timers.registerEventTimeTimer(pair.label.ts);
        }
        pair.labeled = true;
        pair.label = Label.of(f);
        // Scored here, once: the windows, the lake and the dead letters all read it.
        TaskStatistics.Result scored =
                TaskStatistics.of(decoded(pair.task), decoded(pair.output), decoded(f.groundTruth));
        boolean unscorable = scored.problem != null;
        collect(
                FEEDBACK, true, text(pair.modelName), text(pair.modelVersion), text(pair.task),
                text(pair.output), null, null, text(pair.inputs), text(f.groundTruth), text(f.source),
                TimestampData.fromEpochMillis(pair.predictionTs), internal(scored.stats, 1), null,
                unscorable ? GROUND_TRUTH_FIELD : null,
                scored.problem == null ? null : StringData.fromString(scored.problem),
                text(f.messageKey), unscorable ? text(f.body) : null, f.partition, f.offset, null);
    }

    /** A label taken back: its count and its statistics, negated, for the windows it went to. */
    private void retract(Pair pair, Label l) {
        TaskStatistics.Result scored =
                TaskStatistics.of(decoded(pair.task), decoded(pair.output), decoded(l.groundTruth));
        collect(
                RETRACTION, false, text(pair.modelName), text(pair.modelVersion), text(pair.task),
                null, null, null, null, null, null, null, internal(scored.stats, -1), null, null, null,
                null, null, null, null, null);
    }

    /** A row of {@link #PAIRED}: the current id, then {@code fields}. */
    private void collect(Object... fields) {
        GenericRowData row = new GenericRowData(fields.length + 1);
        row.setField(PID, pid);
        for (int i = 0; i < fields.length; i++) {
            row.setField(i + 1, fields[i]);
        }
        out.collect(row);
    }

    private static GenericMapData internal(Map<String, Double> stats, int sign) {
        if (stats == null) {
            return null;
        }
        Map<StringData, Double> map = new HashMap<>(stats.size() * 2);
        stats.forEach((key, value) -> map.put(StringData.fromString(key), sign * value));
        return new GenericMapData(map);
    }
}
