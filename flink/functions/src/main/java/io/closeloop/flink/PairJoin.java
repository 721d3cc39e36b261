package io.closeloop.flink;

import static org.apache.flink.table.annotation.ArgumentTrait.REQUIRE_ON_TIME;
import static org.apache.flink.table.annotation.ArgumentTrait.SET_SEMANTIC_TABLE;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
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
 * <p>Called over the union of checked predictions and feedback, partitioned by prediction id and
 * ordered by event time, so that Flink hands each id's rows over in time order (ties in arrival
 * order) once the watermark has passed them:
 *
 * <pre>{@code
 * SELECT * FROM pair_join(input => TABLE events PARTITION BY pid ORDER BY event_ts,
 *                         on_time => DESCRIPTOR(event_ts), label_delay_ms => 86400000,
 *                         uid => 'pair-join')
 * }</pre>
 *
 * Input rows are valid predictions and feedback ({@code kind}); invalid events go to the dead
 * letters before this step. Output rows have a kind too:
 *
 * <ul>
 *   <li>"prediction": the first copy of a prediction (the gateway delivers at least once, a
 *       retry is an exact copy), at the prediction's time;
 *   <li>"feedback": a feedback event, not seen before, whose prediction is at most the label
 *       delay older (a prediction sent after its feedback still joins: rows come in time order);
 *       {@code labeled} marks the first such feedback, by time and then by arrival, of a
 *       prediction that did not fail, and carries the example's
 *       task statistics ({@code stats}), or why it cannot be scored ({@code field}, {@code
 *       reason}, with the original {@code body} for the dead letter);
 *   <li>"dead_letter": feedback without its prediction within the label delay (field
 *       "prediction_id", no reason: the SQL words it).
 * </ul>
 *
 * <p>State is one small value per prediction id, read and written with point lookups only; it is
 * cleared by a timer once the label delay has passed, so nothing here holds the watermark back.
 */
@DataTypeHint(
        "ROW<kind STRING, labeled BOOLEAN, model_name STRING, model_version STRING, task STRING, "
                + "output STRING, error STRING, latency_ms DOUBLE, inputs STRING, ground_truth STRING, "
                + "source STRING, prediction_ts TIMESTAMP(3), stats MAP<STRING, DOUBLE>, "
                + "source_topic STRING, field STRING, "
                + "reason STRING, message_key STRING, body STRING, `partition` INT, `offset` BIGINT>")
public class PairJoin extends ProcessTableFunction<Row> {

    private static final String CLEANUP = "cleanup";
    private static final String EARLY = "early";

    /** What is kept per prediction id. All fields nullable: an empty state is all nulls. */
    public static class Pair {
        public String modelName;
        public String modelVersion;
        public String task;
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
        /**
         * Feedback that came before any prediction, kept until the watermark passes its time: rows
         * of one time come in arrival order, so its prediction may be next.
         */
        public Feedback early;
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
            @StateHint(ttl = "0") Pair pair,
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
            // No feedback can join after this: it would be past the label delay, or late.
            time.registerOnTime(CLEANUP, pair.deadline + 1);
            if (pair.early != null) {
                // Its feedback came first at the same time (rows of one time come in arrival order).
                Feedback early = pair.early;
                pair.early = null;
                time.clearTimer(EARLY);
                feedback(pair, early);
            }
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
        if (pair.predictionTs == null) {
            if (pair.early != null) {
                collect(unmatched(f)); // a second feedback before any prediction
                return;
            }
            pair.early = f;
            time.registerOnTime(EARLY, f.ts + 1);
            return;
        }
        feedback(pair, f);
    }

    public void onTimer(OnTimerContext ctx, Pair pair) {
        if (EARLY.equals(ctx.currentTimer())) {
            if (pair.early != null) {
                collect(unmatched(pair.early)); // no prediction at or before the feedback's time
            }
            if (pair.predictionTs != null) {
                pair.early = null;
                return;
            }
        }
        ctx.clearAll(); // nothing more can join: no prediction, or the label delay has passed
    }

    /** Feedback for a prediction that has arrived: joined, and the label if it is the first. */
    private void feedback(Pair pair, Feedback f) {
        if (f.ts < pair.predictionTs || f.ts > pair.deadline) {
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
    }

    /** The reason is the SQL's to word: it knows the label delay and the topic. */
    private static Row unmatched(Feedback f) {
        return deadLetter(null, "prediction_id", null, f.messageKey, f.body, f.partition, f.offset);
    }

    private static Row deadLetter(
            String sourceTopic, String field, String reason, String key, String body, Integer partition,
            Long offset) {
        return Row.of(
                "dead_letter", false, null, null, null, null, null, null, null, null, null, null,
                null, sourceTopic, field, reason, key, body, partition, offset);
    }

    private static LocalDateTime utc(long millis) {
        return LocalDateTime.ofEpochSecond(
                Math.floorDiv(millis, 1000), (int) Math.floorMod(millis, 1000) * 1_000_000, ZoneOffset.UTC);
    }
}
