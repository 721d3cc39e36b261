package io.closeloop.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code event_members(body, 'schema,prediction_id,…', rules, bad_ts)}: an event's members,
 * parsed once (see {@link EventMembers}), and after them the first contract rule the event breaks
 * (see {@link EventContract}), NULL if none. The names and rules are constants of the call site.
 */
public class EventMembersFunction extends ScalarFunction {
    private transient StringData names;
    private transient StringData rules;
    private transient EventMembers members;
    private transient EventContract contract;

    public @DataTypeHint("ARRAY<STRING>") String[] eval(
            // The event's bytes, parsed as they are: as a String, Flink decoded it first.
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData body,
            // The constants as Flink holds them: the same objects each call, compared by
            // reference. As Strings, the rules (a few kB) were decoded anew for every event.
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData names,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData rules,
            Boolean badTs) {
        if ((names != this.names && !names.equals(this.names)) || (rules != this.rules && !rules.equals(this.rules))) {
            this.names = names;
            this.rules = rules;
            members = new EventMembers(names.toString());
            contract = new EventContract(names.toString().split(","), rules.toString());
        }
        String[] parsed = members.parse(body == null ? null : body.toBytes());
        int k = members.size();
        String[] out = new String[2 * k + 1];
        if (parsed != null) {
            System.arraycopy(parsed, 0, out, 0, 2 * k);
        }
        out[2 * k] = contract.firstProblem(parsed, Boolean.TRUE.equals(badTs));
        return out;
    }

    @Override
    public boolean isDeterministic() {
        // Keeps the planner from copying the call into every expression that reads an
        // element of the answer: the event is parsed once.
        return false;
    }
}
