"""The local stack's services, in the order `up` starts them."""

from __future__ import annotations

from closeloop.stack.layout import Layout
from closeloop.stack.service import Service
from closeloop.stack.services.airflow import AirflowService
from closeloop.stack.services.alertmanager import AlertmanagerService
from closeloop.stack.services.feedback_job import FeedbackJobService
from closeloop.stack.services.flink import FlinkService
from closeloop.stack.services.gateway import GatewayService
from closeloop.stack.services.inference import InferenceService
from closeloop.stack.services.kafka import KafkaService
from closeloop.stack.services.metrics_exporter import MetricsExporterService
from closeloop.stack.services.minio import MinioService
from closeloop.stack.services.mlflow import MlflowService
from closeloop.stack.services.preprocess_job import PreprocessJobService
from closeloop.stack.services.prometheus import PrometheusService
from closeloop.stack.services.statsd_exporter import StatsdExporterService
from closeloop.stack.settings import StackSettings

__all__ = ["SERVICE_TYPES", "build_services"]

#: Adding a service to the stack is a module in services/ and an entry here.
SERVICE_TYPES: tuple[type[Service], ...] = (
    KafkaService,
    MinioService,
    MlflowService,
    StatsdExporterService,
    AirflowService,
    FlinkService,
    FeedbackJobService,
    PreprocessJobService,
    GatewayService,
    InferenceService,
    MetricsExporterService,
    AlertmanagerService,
    PrometheusService,
)


def build_services(settings: StackSettings, layout: Layout) -> list[Service]:
    return [kind(settings, layout) for kind in SERVICE_TYPES]
