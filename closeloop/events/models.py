"""The events that flow through closeloop, one pydantic model each.

Every event is JSON with a ``schema`` field naming its type and version, so a
consumer can tell what it holds before it parses the rest. The same models
serve the gateway, the Flink job, the DAGs and the tests; schemas/ holds their
JSON Schemas, generated from these classes (``closeloop schemas --write``).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    NonNegativeFloat,
    NonNegativeInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from closeloop.events.types import (
    Identifier,
    ModelName,
    ModelVersion,
    Number,
    Timestamp,
    UseCaseName,
    utc_now,
)
from closeloop.tasks import TaskError, get_task

__all__ = [
    "AlertEvent",
    "DeadLetterEvent",
    "Event",
    "FeatureDrift",
    "FeedbackEvent",
    "LatencyQuantiles",
    "MetricsEvent",
    "ModelUpdateEvent",
    "PredictionEvent",
    "RawEvent",
    "RequestEvent",
    "ResultEvent",
    "Window",
]


class Event(BaseModel):
    """Fields and settings every event shares."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        # NaN and ±Infinity as the tokens Python's json and the Flink job's parser read back
        # (pydantic's default writes null: a NaN feature would come back missing).
        ser_json_inf_nan="constants",
    )

    #: "closeloop.<type>.v<version>", the value of the `schema` field.
    SCHEMA: ClassVar[str]
    #: The field that keys the event on Kafka.
    KEY: ClassVar[str]

    ts: Timestamp = Field(
        default_factory=utc_now, validate_default=True, description="When the event happened, UTC."
    )

    def key(self) -> str:
        return str(getattr(self, self.KEY))


def _known_task(value: str | None) -> str | None:
    if value is not None:
        try:
            get_task(value)
        except TaskError as exc:
            raise PydanticCustomError("unknown_task", str(exc)) from exc
    return value


def _task_value(task: str, value: Any, *, what: str) -> Any:
    """``value`` checked against the task's shape and written in canonical JSON form."""
    plugin = get_task(task)
    try:
        return plugin.to_json(plugin.validate_output(value, what=what))
    except TaskError as exc:
        raise PydanticCustomError("task_shape", str(exc)) from exc


def _schema_field(name: str) -> Any:
    return Field(default=name, alias="schema", description="Event type and version.")


class PredictionEvent(Event):
    """One prediction the gateway served (or failed to serve)."""

    SCHEMA = "closeloop.prediction.v1"
    KEY = "prediction_id"

    schema_: Literal["closeloop.prediction.v1"] = _schema_field(SCHEMA)
    prediction_id: Identifier
    model_name: ModelName
    model_version: ModelVersion
    task: str = Field(description="The task plug-in that gives `output` its shape.")
    # Any, not JsonValue: the same JSON schema, and JsonValue calls Python per value (60 % of a
    # 32-prediction request). Values come from parsed JSON, which holds nothing else.
    inputs: dict[str, Any] = Field(description="The model's input, feature name to value.")
    features: dict[str, Number] | None = Field(
        default=None,
        description="Numbers the model computed from a raw input (an image, a recording) for drift "
        "monitoring; null when the inputs themselves are the numbers.",
    )
    error: str | None = Field(default=None, description="Why the model failed on this input.")
    output: JsonValue = Field(description="The prediction, in the task's shape; null if `error`.")
    scores: dict[str, float] | None = Field(default=None, description="Per-class scores, if any.")
    latency_ms: NonNegativeFloat

    _known_task = field_validator("task")(_known_task)

    @field_validator("output")
    @classmethod
    def _output_has_the_task_shape(cls, value: Any, info: ValidationInfo) -> Any:
        if "task" not in info.data:
            return value  # the task is invalid and reported as such
        if info.data.get("error") is not None:
            if value is not None:
                raise PydanticCustomError("output_with_error", "must be null when error is set")
            return value
        return _task_value(info.data["task"], value, what="output")

    def sibling(
        self,
        prediction_id: str,
        inputs: dict[str, Any],
        output: Any,
        scores: dict[str, float] | None,
        features: dict[str, float] | None = None,
    ) -> PredictionEvent:
        """Another served prediction of the same request: this one's model, task, latency and time.

        Only what differs is checked: the output's task shape (a wrong one raises the
        constructor's ValidationError). The inputs must be a request's, parsed and validated
        as `inputs` already, the features floats, and the id one the gateway made: pydantic's
        second pass over every input value was a third of the work of a 32-prediction request.
        """
        if self.error is not None:
            raise ValueError("sibling() copies a served prediction, not a failed one")
        own = {"prediction_id": prediction_id, "inputs": inputs, "scores": scores, "features": features}
        try:
            checked = _task_value(self.task, output, what="output")
        except PydanticCustomError:
            fields = self.model_dump(exclude={*own, "output"})
            return PredictionEvent(output=output, **own, **fields)
        return self.model_copy(update={**own, "output": checked})

    def monitored(self) -> dict[str, Any]:
        """What drift is measured on: the features the model computed, or else the inputs."""
        return self.inputs if self.features is None else self.features


class FeedbackEvent(Event):
    """What the prediction should have been: a correction or the ground truth."""

    SCHEMA = "closeloop.feedback.v1"
    KEY = "prediction_id"

    schema_: Literal["closeloop.feedback.v1"] = _schema_field(SCHEMA)
    feedback_id: Identifier = Field(default_factory=lambda: uuid.uuid4().hex)
    prediction_id: Identifier
    model_name: ModelName | None = Field(default=None, description="The model that made the prediction.")
    task: str | None = Field(default=None, description="If given, `ground_truth` is checked against it.")
    ground_truth: JsonValue = Field(description="Same shape as the prediction's output.")
    source: str = Field(default="user", max_length=64, description="Who says so: user, labeler, …")

    _known_task = field_validator("task")(_known_task)

    @field_validator("ground_truth")
    @classmethod
    def _ground_truth_has_the_task_shape(cls, value: Any, info: ValidationInfo) -> Any:
        task = info.data.get("task")
        return value if task is None else _task_value(task, value, what="ground_truth")


class Window(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: Timestamp
    end: Timestamp
    kind: Literal["tumbling", "sliding"] = "tumbling"

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self


class LatencyQuantiles(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    p50: NonNegativeFloat
    p95: NonNegativeFloat
    p99: NonNegativeFloat


class FeatureDrift(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    psi: NonNegativeFloat = Field(description="Population stability index against the reference.")
    js: NonNegativeFloat = Field(le=1.0, description="Jensen-Shannon distance (base 2).")


class MetricsEvent(Event):
    """Live quality, latency and drift of one model version over one window."""

    SCHEMA = "closeloop.metrics.v1"
    KEY = "model_name"

    schema_: Literal["closeloop.metrics.v1"] = _schema_field(SCHEMA)
    model_name: ModelName
    model_version: ModelVersion
    task: str
    window: Window
    predictions: NonNegativeInt
    feedback: NonNegativeInt
    labeled: NonNegativeInt = Field(description="Predictions joined with their feedback.")
    errors: NonNegativeInt
    label_coverage: float = Field(ge=0.0, le=1.0)
    error_rate: float = Field(ge=0.0, le=1.0)
    quality: dict[str, float] = Field(default_factory=dict, description="The task's metrics.")
    latency_ms: LatencyQuantiles | None = None
    drift: dict[str, FeatureDrift] = Field(
        default_factory=dict, description="Per input feature, and `__output__`."
    )


AlertKind = Literal["quality", "drift", "latency", "error_rate", "feedback_volume"]


class AlertEvent(Event):
    """A rule fired: something about a model deserves a retrain or a look."""

    SCHEMA = "closeloop.alert.v1"
    KEY = "model_name"

    schema_: Literal["closeloop.alert.v1"] = _schema_field(SCHEMA)
    alert_id: Identifier = Field(description="Stable: a replay of the same window yields the same id.")
    model_name: ModelName
    model_version: ModelVersion
    kind: AlertKind
    rule: str
    metric: str
    value: float
    threshold: float
    window: Window
    since: Timestamp | None = Field(
        default=None,
        description="Start of the first window of the run of windows that broke the rule: the condition "
        "holds since then. None where the source does not know (Prometheus, a drift report).",
    )
    source: Literal["flink", "prometheus", "airflow"] = "flink"
    message: str = ""


class ModelUpdateEvent(Event):
    """An alias moved in the registry: a new champion, a rollback, a canary, or a canary dropped."""

    SCHEMA = "closeloop.model-update.v1"
    KEY = "model_name"

    schema_: Literal["closeloop.model-update.v1"] = _schema_field(SCHEMA)
    model_name: ModelName
    version: ModelVersion
    alias: str = "champion"
    previous_version: ModelVersion | None = None
    reference_profile: str | None = Field(default=None, description="URI of the version's reference profile.")
    run_id: str | None = None
    reason: str | None = None
    removed: bool = Field(
        default=False,
        description="The alias was taken off `version` and points nowhere now (a canary the live gate "
        "dropped): whoever served it as the alias stops.",
    )


class RequestEvent(Event):
    """One model-ready input to predict, from a streaming application or the preprocessing job.

    Stream inference answers it with a prediction event and a result event,
    both carrying ``request_id``: a request delivered twice gets the same
    prediction id, which the streaming job deduplicates.
    """

    SCHEMA = "closeloop.request.v1"
    KEY = "request_id"

    schema_: Literal["closeloop.request.v1"] = _schema_field(SCHEMA)
    request_id: Identifier = Field(description="Chosen by the sender; its result is keyed by it.")
    model_name: ModelName
    inputs: dict[str, Any] = Field(
        description="The model's input, feature name to value, as the gateway takes it."
    )
    source: str | None = Field(
        default=None, max_length=128, description="Who sent it: an application, a job."
    )


class RawEvent(Event):
    """A raw input from a streaming application, before preprocessing: a recording or an image.

    The file travels in ``data`` (base64) or, when too large for Kafka, is in
    MinIO and named by ``uri`` (``s3://bucket/key``): exactly one of the two.
    Any common format: WAV or PCM audio at any rate and channel count, PNG
    or JPEG images of any size; the use case's preprocessing normalizes it.
    """

    SCHEMA = "closeloop.raw.v1"
    KEY = "raw_id"

    schema_: Literal["closeloop.raw.v1"] = _schema_field(SCHEMA)
    raw_id: Identifier = Field(description="Chosen by the sender; the request made of it carries it.")
    use_case: UseCaseName = Field(description="The use case whose model it is for: speech, ocr, shapes, …")
    media: Literal["audio", "image"]
    content_type: str | None = Field(
        default=None, max_length=128, description="audio/wav, image/png, image/jpeg…; else sniffed."
    )
    data: str | None = Field(default=None, description="The file, base64.")
    uri: str | None = Field(
        default=None, pattern=r"^s3://[^/]+/.+", max_length=1024, description="The file in MinIO."
    )
    source: str | None = Field(default=None, max_length=128, description="Who sent it: an app, a device.")

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if not base64.b64decode(value, validate=True):
                    raise ValueError("empty")
            except (binascii.Error, ValueError) as exc:
                raise PydanticCustomError(
                    "base64", "must be a non-empty base64 file: {reason}", {"reason": str(exc)}
                ) from None
        return value

    @model_validator(mode="after")
    def _data_or_uri(self) -> RawEvent:
        if (self.data is None) == (self.uri is None):
            raise ValueError("give the file as data (base64) or as uri (s3://…), one of the two")
        return self


class ResultEvent(Event):
    """A request's answer, for the applications that read results from Kafka."""

    SCHEMA = "closeloop.result.v1"
    KEY = "request_id"

    schema_: Literal["closeloop.result.v1"] = _schema_field(SCHEMA)
    request_id: Identifier
    prediction_id: Identifier | None = Field(
        default=None, description="The prediction event's id, for feedback; null if nothing was predicted."
    )
    model_name: ModelName
    model_version: ModelVersion | None = Field(default=None, description="The version that answered, if any.")
    output: JsonValue = Field(default=None, description="The prediction; null if `error`.")
    scores: dict[str, float] | None = None
    error: str | None = Field(default=None, description="Why there is no prediction: a bad input, no model.")
    latency_ms: NonNegativeFloat = 0.0

    @model_validator(mode="after")
    def _output_or_error(self) -> ResultEvent:
        if self.error is not None and self.output is not None:
            raise ValueError("output must be null when error is set")
        return self


class DeadLetterEvent(Event):
    """An event that did not meet its contract, kept with the reason and its original bytes."""

    SCHEMA = "closeloop.dead-letter.v1"
    KEY = "source_topic"

    schema_: Literal["closeloop.dead-letter.v1"] = _schema_field(SCHEMA)
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    message_key: str | None = Field(default=None, description="The original message key, if any.")
    reason: str = Field(description="What is wrong, naming the field.")
    field: str | None = Field(default=None, description="The first offending field.")
    original_base64: str = Field(description="The original bytes, base64-encoded.")
    original: str | None = Field(default=None, description="The original bytes as text, if UTF-8.")
    rejected_by: str = Field(description="The component that refused it: gateway, flink, …")

    @classmethod
    def wrap(
        cls,
        raw: bytes,
        *,
        reason: str,
        source_topic: str,
        rejected_by: str,
        field: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        key: bytes | str | None = None,
    ) -> DeadLetterEvent:
        try:
            text: str | None = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return cls(
            source_topic=source_topic,
            partition=partition,
            offset=offset,
            message_key=key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
            reason=reason,
            field=field,
            original_base64=base64.b64encode(raw).decode(),
            original=text,
            rejected_by=rejected_by,
        )
