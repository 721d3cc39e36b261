package io.closeloop.bench;

import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.metrics.Counter;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.StatementSet;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.util.Collector;

/**
 * The least a Flink job can do of the feedback job's work, written by hand as a DataStream: what
 * bench/flink_ceiling.py sets beside the feedback job and the Python consumer, to tell whether a
 * redesign of the job's graph can reach its targets on this machine.
 *
 * <p>It does: one Kafka source for both topics; each event parsed once, in the deserializer, into
 * a compact object; one keyed step per prediction id with one state value (deduplication, the first
 * feedback as the label, feedback waiting for its prediction, a timer that clears the key); tumbling
 * and sliding window sums (count, correct, latency, per-feature bin counts) kept per subtask and
 * merged per window after one small exchange. It leaves out what the job also does: the contract
 * checks and dead letters, corrections, latency quantiles, PSI, the metrics event, the lake. So its
 * cost is a floor, not a rival: a redesign of the job costs at least this much.
 *
 * <p>With windows "sql", the pairs go into Flink SQL instead, and the windows are window TVF
 * aggregates as in the feedback job (the drift bins by an aggregate function over arrays): what
 * keeping the windows in SQL costs beside hand-written sums.
 *
 * <p>Arguments: bootstrap predictionsTopic feedbackTopic jobName features windowSeconds
 * slidingSeconds labelDelaySeconds [datastream|sql].
 */
public final class Ceiling {
    /** Standard-normal deciles: the bins of the bench's features (generated as N(0, 1)). */
    static final double[] EDGES = {-1.2816, -0.8416, -0.5244, -0.2533, 0, 0.2533, 0.5244, 0.8416, 1.2816};

    private Ceiling() {}

    /** A prediction or a feedback event, as the keyed step needs it. */
    public static final class Event {
        public boolean feedback;
        public String id;
        public long ts;
        public long label; // the prediction's output, or the feedback's ground truth
        public double latencyMs;
        public double[] inputs;

        public Event() {}
    }

    /** What the keyed step keeps per prediction id: one value, read and written once per event. */
    public static final class Slot {
        public Event prediction;
        public Event feedback; // the label, or feedback waiting for its prediction
        public boolean paired;

        public Slot() {}
    }

    /** A labeled prediction: what the windows add up. */
    public static final class Pair {
        public long ts;
        public boolean correct;
        public double latencyMs;
        public double[] inputs; // null: not in the drift sample

        public Pair() {}
    }

    /** One window's sums over some pairs. */
    public static final class Sums {
        public long start;
        public long size;
        public long count;
        public long correct;
        public double latencyMs;
        public long[] bins;

        public Sums() {}

        Sums(long start, long size, int features) {
            this.start = start;
            this.size = size;
            this.bins = new long[features * (EDGES.length + 1)];
        }

        void add(Pair p) {
            count++;
            correct += p.correct ? 1 : 0;
            latencyMs += p.latencyMs;
            if (p.inputs == null) {
                return;
            }
            int width = EDGES.length + 1;
            for (int f = 0; f < p.inputs.length; f++) {
                bins[f * width + bin(p.inputs[f])]++;
            }
        }

        Sums merge(Sums o) {
            count += o.count;
            correct += o.correct;
            latencyMs += o.latencyMs;
            for (int i = 0; i < bins.length; i++) {
                bins[i] += o.bins[i];
            }
            return this;
        }
    }

    static int bin(double x) {
        int lo = 0;
        int hi = EDGES.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (x < EDGES[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    }

    /** Parses each record once, by streaming over its bytes; a record it cannot read is dropped. */
    static final class Deserializer implements KafkaRecordDeserializationSchema<Event> {
        private final String feedbackTopic;
        private final int features;
        private transient JsonFactory json;

        Deserializer(String feedbackTopic, int features) {
            this.feedbackTopic = feedbackTopic;
            this.features = features;
        }

        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Event> out) throws IOException {
            if (json == null) {
                json = new JsonFactory();
            }
            Event e = new Event();
            e.feedback = record.topic().equals(feedbackTopic);
            e.ts = Long.MIN_VALUE;
            try (JsonParser p = json.createParser(record.value())) {
                if (p.nextToken() != JsonToken.START_OBJECT) {
                    return;
                }
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    JsonToken value = p.nextToken();
                    switch (name) {
                        case "ts" -> e.ts = millis(p.getText());
                        case "prediction_id" -> e.id = p.getText();
                        case "output", "ground_truth" -> e.label = p.getLongValue();
                        case "latency_ms" -> e.latencyMs = p.getDoubleValue();
                        case "inputs" -> e.inputs = inputs(p);
                        default -> {
                            if (value.isStructStart()) {
                                p.skipChildren();
                            }
                        }
                    }
                }
            } catch (IOException | RuntimeException malformed) {
                return;
            }
            if (e.id != null && e.ts != Long.MIN_VALUE && (e.feedback || e.inputs != null)) {
                out.collect(e);
            }
        }

        private double[] inputs(JsonParser p) throws IOException {
            double[] x = new double[features];
            int f = 0;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                p.nextToken();
                if (f < features) {
                    x[f++] = p.getDoubleValue();
                }
            }
            return x;
        }

        @Override
        public TypeInformation<Event> getProducedType() {
            return TypeInformation.of(Event.class);
        }
    }

    /** Milliseconds since the epoch of "yyyy-MM-ddTHH:mm:ss.SSSZ", without a formatter. */
    static long millis(String t) {
        if (t.length() != 24 || t.charAt(23) != 'Z') {
            return Long.MIN_VALUE;
        }
        long day = java.time.LocalDate.of(num(t, 0, 4), num(t, 5, 2), num(t, 8, 2)).toEpochDay();
        return ((day * 24 + num(t, 11, 2)) * 60 + num(t, 14, 2)) * 60_000 + num(t, 17, 2) * 1000L + num(t, 20, 3);
    }

    private static int num(String t, int at, int n) {
        int v = 0;
        for (int i = at; i < at + n; i++) {
            v = v * 10 + (t.charAt(i) - '0');
        }
        return v;
    }

    /** Pairs each prediction with its first feedback; one state value per id, cleared by a timer. */
    static final class PairJoin extends KeyedProcessFunction<String, Event, Pair> {
        private final long ttlMs;
        private transient ValueState<Slot> slots;
        private transient Counter pairs;

        PairJoin(long ttlMs) {
            this.ttlMs = ttlMs;
        }

        @Override
        public void open(org.apache.flink.api.common.functions.OpenContext context) {
            slots = getRuntimeContext().getState(new ValueStateDescriptor<>("slot", Slot.class));
            // The bench checks its count against the backlog's: every pair made, none twice.
            pairs = getRuntimeContext().getMetricGroup().counter("pairs");
        }

        @Override
        public void processElement(Event e, Context ctx, Collector<Pair> out) throws IOException {
            Slot slot = slots.value();
            if (slot == null) {
                slot = new Slot();
                ctx.timerService().registerEventTimeTimer(e.ts + ttlMs);
            }
            if (e.feedback) {
                if (slot.feedback != null) {
                    return; // a later feedback: the first is the label
                }
                slot.feedback = e;
            } else {
                if (slot.prediction != null) {
                    return; // a duplicate prediction
                }
                slot.prediction = e;
            }
            if (!slot.paired && slot.prediction != null && slot.feedback != null) {
                slot.paired = true;
                Pair p = new Pair();
                p.ts = slot.prediction.ts;
                p.correct = slot.prediction.label == slot.feedback.label;
                p.latencyMs = slot.prediction.latencyMs;
                // Drift from a 10 % sample of the ids, as the job's and the Python consumer's.
                p.inputs = Math.floorMod(slot.prediction.id.hashCode(), 1000) < 100 ? slot.prediction.inputs : null;
                out.collect(p);
                pairs.inc();
            }
            slots.update(slot);
        }

        @Override
        public void onTimer(long timestamp, OnTimerContext ctx, Collector<Pair> out) {
            slots.clear();
        }
    }

    /**
     * Each subtask's sums of its pairs per window, sent on once the watermark passes the window's
     * end: per window a row per subtask crosses the exchange, not a row per pair.
     */
    static final class LocalWindows extends ProcessFunction<Pair, Sums> {
        private final long tumbleMs;
        private final long slideMs;
        private final long sizeMs;
        private final int features;
        private transient Map<Long, Sums> open;

        LocalWindows(long tumbleMs, long sizeMs, long slideMs, int features) {
            this.tumbleMs = tumbleMs;
            this.sizeMs = sizeMs;
            this.slideMs = slideMs;
            this.features = features;
        }

        @Override
        public void processElement(Pair p, Context ctx, Collector<Sums> out) {
            if (open == null) {
                open = new HashMap<>();
            }
            long tumble = p.ts - Math.floorMod(p.ts, tumbleMs);
            window(tumble, tumbleMs).add(p);
            long last = p.ts - Math.floorMod(p.ts, slideMs);
            for (long start = last; start > p.ts - sizeMs; start -= slideMs) {
                window(start, sizeMs).add(p);
            }
            long watermark = ctx.timerService().currentWatermark();
            for (Iterator<Sums> it = open.values().iterator(); it.hasNext(); ) {
                Sums s = it.next();
                if (s.start + s.size <= watermark) {
                    out.collect(s);
                    it.remove();
                }
            }
        }

        private Sums window(long start, long size) {
            // Tumbling and sliding windows of one start differ in size: both in the key.
            return open.computeIfAbsent(start * 4 + (size == tumbleMs ? 0 : 1), k -> new Sums(start, size, features));
        }
    }

    /** The drift bins' accumulator: one count per feature and bin. */
    public static final class Bins {
        public long[] counts;

        public Bins() {}
    }

    /** Counts each pair's inputs into the bins; it merges, so the planner aggregates locally first. */
    public static final class SumBins extends AggregateFunction<long[], Bins> {
        @Override
        public Bins createAccumulator() {
            return new Bins();
        }

        public void accumulate(Bins acc, @DataTypeHint("ARRAY<DOUBLE NOT NULL>") double[] inputs) {
            if (inputs == null) {
                return;
            }
            int width = EDGES.length + 1;
            if (acc.counts == null) {
                acc.counts = new long[inputs.length * width];
            }
            for (int f = 0; f < inputs.length; f++) {
                acc.counts[f * width + bin(inputs[f])]++;
            }
        }

        public void merge(Bins acc, Iterable<Bins> others) {
            for (Bins other : others) {
                add(acc, other.counts);
            }
        }

        @Override
        public @DataTypeHint("ARRAY<BIGINT NOT NULL>") long[] getValue(Bins acc) {
            return acc.counts;
        }

        static void add(Bins acc, long[] counts) {
            if (counts == null) {
                return;
            }
            if (acc.counts == null) {
                acc.counts = counts.clone();
                return;
            }
            for (int i = 0; i < counts.length; i++) {
                acc.counts[i] += counts[i];
            }
        }
    }

    /** Adds up bin counts: the sliding windows' from the tumbling windows'. */
    public static final class MergeBins extends AggregateFunction<long[], Bins> {
        @Override
        public Bins createAccumulator() {
            return new Bins();
        }

        public void accumulate(Bins acc, @DataTypeHint("ARRAY<BIGINT NOT NULL>") long[] counts) {
            SumBins.add(acc, counts);
        }

        public void merge(Bins acc, Iterable<Bins> others) {
            for (Bins other : others) {
                SumBins.add(acc, other.counts);
            }
        }

        @Override
        public @DataTypeHint("ARRAY<BIGINT NOT NULL>") long[] getValue(Bins acc) {
            return acc.counts;
        }
    }

    /**
     * The windows in Flink SQL, as the feedback job computes them: the pairs as a table, tumbling
     * sums by a window TVF (local, then global), the sliding windows from the tumbling sums.
     */
    static StatementSet sqlWindows(
            StreamExecutionEnvironment env, DataStream<Pair> pairs, String jobName, long windowS, long slidingS) {
        StreamTableEnvironment tEnv = StreamTableEnvironment.create(env);
        tEnv.getConfig().set("pipeline.name", jobName);
        tEnv.getConfig().set("table.optimizer.agg-phase-strategy", "TWO_PHASE");
        tEnv.createTemporarySystemFunction("sum_bins", SumBins.class);
        tEnv.createTemporarySystemFunction("merge_bins", MergeBins.class);
        tEnv.createTemporaryView("pairs", tEnv.fromDataStream(pairs, Schema.newBuilder()
                .columnByExpression("rowtime", "TO_TIMESTAMP_LTZ(ts, 3)")
                .watermark("rowtime", "SOURCE_WATERMARK()")
                .build()));
        tEnv.executeSql("CREATE TEMPORARY VIEW tumbling_sums AS "
                + "SELECT window_start AS tumble_start, window_end AS tumble_end, window_time, COUNT(*) AS n, "
                + "SUM(CASE WHEN correct THEN 1 ELSE 0 END) AS correct, SUM(latencyMs) AS latency, "
                + "sum_bins(inputs) AS bins "
                + "FROM TABLE(TUMBLE(TABLE pairs, DESCRIPTOR(rowtime), INTERVAL '" + windowS + "' SECOND)) "
                + "GROUP BY window_start, window_end, window_time");
        tEnv.executeSql("CREATE TEMPORARY TABLE sink (window_start TIMESTAMP(3), window_end TIMESTAMP(3), "
                + "n BIGINT, correct INT, latency DOUBLE, bins ARRAY<BIGINT NOT NULL>) WITH ('connector' = 'blackhole')");
        StatementSet inserts = tEnv.createStatementSet();
        inserts.addInsertSql("INSERT INTO sink SELECT tumble_start, tumble_end, n, correct, latency, bins "
                + "FROM tumbling_sums");
        inserts.addInsertSql("INSERT INTO sink SELECT window_start, window_end, SUM(n), SUM(correct), SUM(latency), "
                + "merge_bins(bins) FROM TABLE(HOP(TABLE tumbling_sums, DESCRIPTOR(window_time), "
                + "INTERVAL '" + windowS + "' SECOND, INTERVAL '" + slidingS + "' SECOND)) "
                + "GROUP BY window_start, window_end");
        return inserts;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String predictions = args[1];
        String feedback = args[2];
        String jobName = args[3];
        int features = Integer.parseInt(args[4]);
        long windowMs = Long.parseLong(args[5]) * 1000;
        long slidingMs = Long.parseLong(args[6]) * 1000;
        long labelDelayMs = Long.parseLong(args[7]) * 1000;
        String windows = args.length > 8 ? args[8] : "datastream"; // or "sql"

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        KafkaSource<Event> source = KafkaSource.<Event>builder()
                .setBootstrapServers(bootstrap)
                .setTopics(predictions, feedback)
                .setGroupId(jobName)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setDeserializer(new Deserializer(feedback, features))
                .build();
        WatermarkStrategy<Event> watermarks = WatermarkStrategy.<Event>forBoundedOutOfOrderness(Duration.ofSeconds(1))
                .withTimestampAssigner((e, previous) -> e.ts)
                .withIdleness(Duration.ofSeconds(5));
        DataStream<Event> events = env.fromSource(source, watermarks, "Source: predictions and feedback");
        DataStream<Pair> pairs = events.keyBy(e -> e.id).process(new PairJoin(labelDelayMs)).name("pair_join");
        if (windows.equals("sql")) {
            sqlWindows(env, pairs, jobName, windowMs / 1000, slidingMs / 1000).execute();
            return;
        }
        pairs.process(new LocalWindows(windowMs, slidingMs, windowMs, features))
                .name("local window sums")
                .keyBy(s -> s.start * 4 + (s.size == windowMs ? 0 : 1))
                .reduce(Sums::merge)
                .name("window sums")
                .sinkTo(new DiscardingSink<>());
        env.execute(jobName);
    }
}
