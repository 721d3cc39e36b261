"""The models page's sources on the real stack: the champion from MLflow, its newest window from
Prometheus (closeloop.metrics → the metrics exporter's gauges → a scrape)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from closeloop_airflow.models_view.overview import LiveWindow
from closeloop_airflow.models_view.sources import Prometheus, read_champions
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.events import FeatureDrift, LatencyQuantiles, MetricsEvent, Window
from closeloop.kafka.publish import publish_events
from closeloop.stack.manager import LocalStack
from tests.integration.training.conftest import register_clean_champion
from tests.waiting import NotYet, eventually
from training.usecases import get_use_case

DIGITS = get_use_case("digits")


def test_the_champion_comes_from_mlflow_and_its_newest_window_from_prometheus(
    settings: Settings, stack: LocalStack
) -> None:
    version = register_clean_champion(settings, "digits")
    champions = read_champions(MlflowClient(settings.mlflow_tracking_uri))
    [champion] = [c for c in champions if c.model_name == DIGITS.model_name]
    assert (champion.version, champion.task) == (version, "classification")
    assert champion.reason == "test: clean champion"

    end = datetime.now(UTC).replace(microsecond=0)
    window = MetricsEvent(
        model_name=DIGITS.model_name,
        model_version=version,
        task="classification",
        window=Window(start=end - timedelta(seconds=60), end=end),
        predictions=200,
        feedback=80,
        labeled=80,
        errors=2,
        label_coverage=0.4,
        error_rate=0.01,
        quality={"accuracy": 0.875, "macro_f1": 0.86},
        latency_ms=LatencyQuantiles(p50=1.0, p95=2.0, p99=4.5),
        drift={"pixel_3": FeatureDrift(psi=0.02, js=0.01), "pixel_9": FeatureDrift(psi=0.4, js=0.2)},
    )
    publish_events(settings.kafka_bootstrap, settings.topics.metrics, [window])
    prometheus = Prometheus(stack.services["prometheus"].url)

    @eventually(timeout=90, interval=2)
    def scraped() -> LiveWindow:
        for live in prometheus.live():
            if (live.model_name, live.model_version, live.end) == (DIGITS.model_name, version, end):
                return live
        raise NotYet("Prometheus has not scraped the window yet")

    live = scraped()
    assert live.quality == {"accuracy": 0.875, "macro_f1": 0.86}
    assert (live.label_coverage, live.error_rate, live.p99_ms) == (0.4, 0.01, 4.5)
    assert (live.max_drift, live.max_drift_feature) == (0.4, "pixel_9")
    history = prometheus.history({DIGITS.model_name: "accuracy"}, hours=0.5)
    assert history[(DIGITS.model_name, version)][-1][1] == 0.875
