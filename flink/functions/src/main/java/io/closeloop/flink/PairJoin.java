package io.closeloop.flink;

import static org.apache.flink.table.annotation.ArgumentTrait.REQUIRE_ON_TIME;
import static org.apache.flink.table.annotation.ArgumentTrait.SET_SEMANTIC_TABLE;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

/**
 * The feedback job's one keyed step per prediction: deduplicate, join feedback within the label
 * delay, pick the label, and route what breaks the contract to the dead letters.
 *
 * <p>Called over the union of checked predictions and feedback, partitioned by prediction id:
 *
 * <pre>{@code
 * SELECT * FROM pair_join(input => TABLE events PARTITION BY pid,
 *                         on_time => DESCRIPTOR(event_ts), label_delay_ms => 86400000,
 *                         uid => 'pair-join')
 * }</pre>
 *
 * Input rows are valid predictions and feedback ({@code kind}); invalid events, late ones
 * included, go to the dead letters before this step. Output rows have a kind too:
 *
 * <ul>
 *   <li>"prediction": the first copy of a prediction (the gateway delivers at least once, a
 *       retry is an exact copy), at once, at the prediction's time;
 *   <li>"feedback": a feedback event, not seen before, whose prediction is at most the label
 *       delay older; {@code labeled} marks the first such feedback, by time and then by arrival
 *       (partition offset), of a prediction that did not fail, and carries the example's task
 *       statistics ({@code stats}), or why it cannot be scored ({@code field}, {@code reason},
 *       with the original {@code body} for the dead letter);
 *   <li>"dead_letter": feedback without its prediction within the label delay (field
 *       "prediction_id", no reason: the SQL words it).
 * </ul>
 *
 * <p>Rows come in arrival order. Feedback that could still be the label waits in the state until
 * the watermark passes its time (a timer at that time): by then every feedback of an earlier time
 * has arrived, so the choice is the same in a run and in a replay. Everything else is decided as it
 * arrives. State is one small value per prediction id, read and written by point lookups only
 * (handing rows over in time order with ORDER BY instead costs a RocksDB map scan per id and
 * time, four fifths of the step's time). Nothing here holds the watermark back.
 *
 * <p>Whether a feedback joins is decided by event time (its prediction's time plus the label
 * delay), but the state of an id is dropped by the state's time-to-live, {@code
 * table.exec.state.ttl}, which the job sets to the label delay plus a margin of processing
 * time: a cleanup timer per prediction kept every id within the label delay on the heap (a
 * day of predictions, with RocksDB state too), cost a state read when it fired, and an eighth
 * of the TaskManager's time went to collecting that heap.
 *
 * <p>Only unnamed timers, never cleared in bulk: a named timer is a map-state entry per id, and
 * {@code Context.clearAll()} / {@code clearAllTimers()} walk the unnamed timers of every key,
 * moving the current key as they go (Flink 2.3, {@code WritableInternalTimeContext}), which
 * drops other ids' timers and state.
 */
@DataTypeHint(
        "ROW<kind STRING, labeled BOOLEAN, model_name STRING, model_version STRING, task STRING, "
                + "output STRING, error STRING, latency_ms DOUBLE, inputs STRING, ground_truth STRING, "
                + "source STRING, prediction_ts TIMESTAMP(3), stats MAP<STRING, DOUBLE>, "
                + "source_topic STRING, field STRING, "
                + "reason STRING, message_key STRING, body STRING, `partition` INT, `offset` BIGINT>")
public class PairJoin extends ProcessTableFunction<Row> {

    /** Pending feedback in the order it is judged: by time, then by arrival. */
    private static final Comparator<Feedback> BY_TIME_THEN_ARRIVAL =
            Comparator.comparingLong((Feedback f) -> f.ts)
                    .thenComparing(f -> f.partition, Comparator.nullsFirst(Comparator.naturalOrder()))
                    .thenComparing(f -> f.offset, Comparator.nullsFirst(Comparator.naturalOrder()));

    /** What is kept per prediction id. All fields nullable: an empty state is all nulls. */
    public static class Pair {
        public String modelName;
        public String modelVersion;
        public String task;
        /** The prediction's output and inputs, until it is labeled (the label row carries them). */
        public String output;
        public String error;
        public String inputs;
        /** Null until the prediction has arrived. */
        public Long predictionTs;
        /** The latest feedback time that still joins: the prediction's time plus the label delay. */
        public Long deadline;
        public Boolean labeled;
        /** Feedback ids seen, for deduplication: a prediction gets a handful at most. */
        public List<String> feedbackIds;
        /** Feedback that may be the label, each waiting for the watermark to pass its time. */
        public List<Feedback> pending;
    }

    /** A feedback event, as far as this step needs it. */
    public static class Feedback {
        public Long ts;
        public String feedbackId;
        public String groundTruth;
        public String source;
        public String messageKey;
        public String body;
        public Integer partition;
        public Long offset;

        static Feedback of(Row input, long ts) {
            Feedback f = new Feedback();
            f.ts = ts;
            f.feedbackId = input.getFieldAs("feedback_id");
            f.groundTruth = input.getFieldAs("ground_truth");
            f.source = input.getFieldAs("source");
            f.messageKey = input.getFieldAs("message_key");
            f.body = input.getFieldAs("body");
            f.partition = input.getFieldAs("partition");
            f.offset = input.getFieldAs("offset");
            return f;
        }
    }

    public void eval(
            Context ctx,
            @StateHint Pair pair,
            @ArgumentHint({SET_SEMANTIC_TABLE, REQUIRE_ON_TIME}) Row input,
            Long label_delay_ms) {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        String kind = input.getFieldAs("kind");
        if ("prediction".equals(kind)) {
            if (pair.predictionTs != null) {
                return; // a retried delivery
            }
            pair.modelName = input.getFieldAs("model_name");
            pair.modelVersion = input.getFieldAs("model_version");
            pair.task = input.getFieldAs("task");
            pair.output = input.getFieldAs("output");
            pair.error = input.getFieldAs("error");
            pair.inputs = input.getFieldAs("inputs");
            pair.predictionTs = time.time();
            pair.deadline = pair.predictionTs + label_delay_ms;
            collect(
                    Row.of(
                            "prediction", false, pair.modelName, pair.modelVersion, pair.task,
                            pair.output, pair.error, input.getFieldAs("latency_ms"), pair.inputs,
                            null, null, null, null, null, null, null, null, null, null, null));
            return;
        }
        if (!"feedback".equals(kind)) {
            throw new IllegalArgumentException("pair_join: unknown kind " + kind);
        }
        Feedback f = Feedback.of(input, time.time());
        if (pair.feedbackIds == null) {
            pair.feedbackIds = new ArrayList<>(2);
        }
        if (pair.feedbackIds.contains(f.feedbackId)) {
            return; // a retried delivery
        }
        pair.feedbackIds.add(f.feedbackId);
        if (pair.predictionTs != null && !mayLabel(pair, f)) {
            // Its prediction is here and fixed (the first copy wins), so nothing that arrives
            // later changes what this feedback is.
            judge(pair, f);
            return;
        }
        if (pair.pending == null) {
            pair.pending = new ArrayList<>(1);
        }
        pair.pending.add(f);
        time.registerOnTime(f.ts);
    }

    public void onTimer(OnTimerContext ctx, Pair pair) {
        if (pair.pending == null) {
            return;
        }
        // The watermark has passed `now`: every feedback up to it has arrived.
        long now = ctx.timeContext(Long.class).time();
        List<Feedback> due = new ArrayList<>(pair.pending.size());
        List<Feedback> later = new ArrayList<>(0);
        for (Feedback f : pair.pending) {
            (f.ts <= now ? due : later).add(f);
        }
        due.sort(BY_TIME_THEN_ARRIVAL);
        for (Feedback f : due) {
            judge(pair, f);
        }
        pair.pending = later.isEmpty() ? null : later;
        if (pair.predictionTs == null && pair.pending == null) {
            ctx.clearAllState(); // only ids of unmatched feedback: nothing can join them now
        }
        // Later feedback waits for its own time: its prediction may still come.
    }

    /** Whether this feedback may be the prediction's label, so must wait for the watermark. */
    private static boolean mayLabel(Pair pair, Feedback f) {
        return pair.error == null
                && !Boolean.TRUE.equals(pair.labeled)
                && f.ts >= pair.predictionTs
                && f.ts <= pair.deadline;
    }

    /** A feedback whose turn has come: unmatched, joined, or the label if it is the first. */
    private void judge(Pair pair, Feedback f) {
        // No prediction at or before the feedback's time, or one more than the label delay older.
        if (pair.predictionTs == null || f.ts < pair.predictionTs || f.ts > pair.deadline) {
            collect(unmatched(f));
            return;
        }
        boolean label = pair.error == null && !Boolean.TRUE.equals(pair.labeled);
        if (!label) {
            collect(
                    Row.of(
                            "feedback", false, pair.modelName, pair.modelVersion, pair.task, null,
                            pair.error, null, null, null, null, null, null, null, null, null, null,
                            null, null, null));
            return;
        }
        pair.labeled = true;
        // Scored here, once: the windows, the lake and the dead letters all read it.
        TaskStatistics.Result scored = TaskStatistics.of(pair.task, pair.output, f.groundTruth);
        boolean unscorable = scored.problem != null;
        collect(
                Row.of(
                        "feedback", true, pair.modelName, pair.modelVersion, pair.task, pair.output, null,
                        null, pair.inputs, f.groundTruth, f.source, utc(pair.predictionTs), scored.stats,
                        null, unscorable ? "ground_truth" : null, scored.problem, f.messageKey,
                        unscorable ? f.body : null, f.partition, f.offset));
        // Only the label row needs them: what the state keeps from here on is small.
        pair.output = null;
        pair.inputs = null;
    }

    /** A dead letter on field prediction_id; the reason is the SQL's to word: it knows the label delay. */
    private static Row unmatched(Feedback f) {
        return Row.of(
                "dead_letter", false, null, null, null, null, null, null, null, null, null, null,
                null, null, "prediction_id", null, f.messageKey, f.body, f.partition, f.offset);
    }

    private static LocalDateTime utc(long millis) {
        return LocalDateTime.ofEpochSecond(
                Math.floorDiv(millis, 1000), (int) Math.floorMod(millis, 1000) * 1_000_000, ZoneOffset.UTC);
    }
}
