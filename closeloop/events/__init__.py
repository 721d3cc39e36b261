"""closeloop's event contracts and their one serializer."""

from closeloop.events.models import (
    AlertEvent,
    DeadLetterEvent,
    Event,
    FeatureDrift,
    FeedbackEvent,
    LatencyQuantiles,
    MetricsEvent,
    ModelUpdateEvent,
    PredictionEvent,
    RawEvent,
    RequestEvent,
    ResultEvent,
    Window,
)
from closeloop.events.serde import EVENT_TYPES, FieldError, InvalidEventError, decode, encode

__all__ = [
    "EVENT_TYPES",
    "AlertEvent",
    "DeadLetterEvent",
    "Event",
    "FeatureDrift",
    "FeedbackEvent",
    "FieldError",
    "InvalidEventError",
    "LatencyQuantiles",
    "MetricsEvent",
    "ModelUpdateEvent",
    "PredictionEvent",
    "RawEvent",
    "RequestEvent",
    "ResultEvent",
    "Window",
    "decode",
    "encode",
]
