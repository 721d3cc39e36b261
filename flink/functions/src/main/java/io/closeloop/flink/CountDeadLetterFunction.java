package io.closeloop.flink;

import java.util.HashMap;
import java.util.Map;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * Passes a dead letter through, counting it by source topic and field.
 *
 * <p>Flink reports the counts as the operator metric {@code dead_letters}, with the Prometheus
 * labels {@code source_topic} and {@code field}: unknown or expired predictions, broken events,
 * late ones, unscorable labels.
 */
public class CountDeadLetterFunction extends ScalarFunction {
    private transient MetricGroup group;
    private transient Map<String, Counter> counters;

    @Override
    public void open(FunctionContext context) {
        group = context.getMetricGroup();
        counters = new HashMap<>();
    }

    public String eval(String sourceTopic, String field, String letter) {
        counters.computeIfAbsent(
                        sourceTopic + '\t' + field,
                        k -> group.addGroup("source_topic", sourceTopic).addGroup("field", field).counter("dead_letters"))
                .inc();
        return letter;
    }

    @Override
    public boolean isDeterministic() {
        return false; // counting is a side effect: the call must run once per letter
    }
}
