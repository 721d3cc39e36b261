"""The job's alert stage: metrics events in, alert events out, rules' state kept by Flink.

Keyed by model name, so that one model's windows arrive in order. The rule
logic is closeloop.monitoring.alerts; this is the Flink plumbing around it.
Needs PyFlink: imported only in the Flink environment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from closeloop.events import InvalidEventError, MetricsEvent, decode, encode
from closeloop.monitoring.alerts import AlertRule, RuleState, evaluate

__all__ = ["EvaluateAlertRules"]

_log = logging.getLogger(__name__)


class EvaluateAlertRules(KeyedProcessFunction):
    """(model_name, metrics event JSON) -> (model_name, alert event JSON) for each rule that fires."""

    def __init__(self, rules: list[AlertRule], window_s: int) -> None:
        self._rules = [rule.model_dump() for rule in rules]  # plain data pickles anywhere
        self._window_s = window_s

    def open(self, runtime_context: RuntimeContext) -> None:
        self.rules = [AlertRule.model_validate(rule) for rule in self._rules]
        self.state = runtime_context.get_map_state(
            MapStateDescriptor("rule-state", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
        )

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        try:
            event = decode(value[1] or b"", MetricsEvent)
        except InvalidEventError as exc:
            _log.warning("skipping an invalid metrics event: %s", exc)
            return
        for rule in self.rules:
            state = self.state.get(rule.name) or RuleState()
            state, alert = evaluate(rule, state, event, window_s=self._window_s)
            self.state.put(rule.name, state)
            if alert is not None:
                yield Row(alert.model_name, encode(alert).decode())
