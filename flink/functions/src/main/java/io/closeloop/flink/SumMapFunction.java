package io.closeloop.flink;

import java.util.HashMap;
import java.util.Map;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * Sums maps key by key: a window's task statistics ("correct", "predicted:3", …) or its drift bin
 * counts ("x0#2", …), from one small map per row.
 *
 * <p>It merges, so the planner can aggregate each slice locally and ship partial sums, not rows;
 * its state is one entry per key, whatever the traffic.
 */
@FunctionHint(output = @DataTypeHint("MAP<STRING, DOUBLE>"))
public class SumMapFunction extends AggregateFunction<Map<String, Double>, SumMapFunction.Totals> {

    /** The running sums. */
    public static class Totals {
        public Map<String, Double> totals = new HashMap<>();
    }

    @Override
    public Totals createAccumulator() {
        return new Totals();
    }

    public void accumulate(Totals acc, @DataTypeHint("MAP<STRING, DOUBLE>") Map<String, Double> values) {
        if (values != null) {
            add(acc, values);
        }
    }

    public void merge(Totals acc, Iterable<Totals> others) {
        for (Totals other : others) {
            add(acc, other.totals);
        }
    }

    public void resetAccumulator(Totals acc) {
        acc.totals = new HashMap<>();
    }

    @Override
    public Map<String, Double> getValue(Totals acc) {
        return acc.totals.isEmpty() ? null : new HashMap<>(acc.totals);
    }

    private static void add(Totals acc, Map<String, Double> values) {
        for (Map.Entry<String, Double> e : values.entrySet()) {
            if (e.getValue() != null) {
                acc.totals.merge(e.getKey(), e.getValue(), Double::sum);
            }
        }
    }
}
