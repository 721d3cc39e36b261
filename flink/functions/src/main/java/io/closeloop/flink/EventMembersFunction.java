package io.closeloop.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code event_members(body, 'schema,prediction_id,…')}: an event's members, parsed once (see
 * {@link EventMembers}); the names are a constant of the call site.
 */
public class EventMembersFunction extends ScalarFunction {
    private transient String names;
    private transient EventMembers members;

    public @DataTypeHint("ARRAY<STRING>") String[] eval(String body, String names) {
        if (!names.equals(this.names)) {
            this.names = names;
            members = new EventMembers(names);
        }
        return members.parse(body);
    }

    @Override
    public boolean isDeterministic() {
        // Keeps the planner from copying the call into every expression that reads an
        // element of the answer: the event is parsed once.
        return false;
    }
}
