package io.closeloop.flink;

import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Valid events on, invalid ones (their contract broken, or late) to the side output {@link #TAG},
 * as rows of {@link #TYPE} for the dead letters.
 *
 * <p>Late is at or behind the watermark this source has sent: the windows would drop such an
 * event without a word, so it goes to the dead letters instead, and what passes here is on time
 * downstream too. Chained to its source, this sees that source's own watermark.
 */
final class InvalidEvents extends ProcessFunction<RowData, RowData> {
    private static final long serialVersionUID = 1L;

    /** A dead letter's row: {@code problem} is "field TAB reason". */
    static final RowType TYPE =
            PairJoin.rowType(
                    "ROW<message_key STRING, source_topic STRING, problem STRING, body STRING, "
                            + "`partition` INT, `offset` BIGINT>");

    static final OutputTag<RowData> TAG = new OutputTag<>("invalid", InternalTypeInfo.of(TYPE));

    private final String topic;
    private final String lateProblem;
    private final boolean dropOriginal;
    private transient StringData topicData;
    private transient StringData lateData;

    /** {@code dropOriginal}: valid events go on without their key and bytes (predictions: PairJoin never reads them). */
    InvalidEvents(String topic, String lateProblem, boolean dropOriginal) {
        this.topic = topic;
        this.lateProblem = lateProblem;
        this.dropOriginal = dropOriginal;
    }

    @Override
    public void processElement(RowData event, Context ctx, Collector<RowData> out) {
        if (topicData == null) {
            topicData = StringData.fromString(topic);
            lateData = StringData.fromString(lateProblem);
        }
        StringData problem = event.isNullAt(PairJoin.EVENT_ARITY) ? null : event.getString(PairJoin.EVENT_ARITY);
        if (problem == null
                && event.getTimestamp(PairJoin.EVENT_TS, 3).getMillisecond()
                        <= ctx.timerService().currentWatermark()) {
            problem = lateData;
        }
        if (problem == null) {
            if (dropOriginal && event instanceof GenericRowData row) {
                // The key and the original are for dead letters: a valid prediction's are never
                // read, and its body, the whole event, would cross the exchange for nothing.
                row.setField(PairJoin.MESSAGE_KEY, null);
                row.setField(PairJoin.BODY, null);
            }
            out.collect(event);
            return;
        }
        ctx.output(
                TAG,
                GenericRowData.of(
                        event.isNullAt(PairJoin.MESSAGE_KEY) ? null : event.getString(PairJoin.MESSAGE_KEY),
                        topicData,
                        problem,
                        event.isNullAt(PairJoin.BODY) ? null : event.getString(PairJoin.BODY),
                        event.getInt(PairJoin.PARTITION),
                        event.getLong(PairJoin.OFFSET)));
    }
}
