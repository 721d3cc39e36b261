"""Which model-update events make a pool load what: its own alias only, a removed alias re-read."""

from __future__ import annotations

from closeloop.events import ModelUpdateEvent
from closeloop.gateway.reloader import ChampionWatcher


class RecordingPool:
    """A pool that notes what it is asked to load instead of loading it."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.loads: list[tuple[str, str | None]] = []

    def load_in_background(self, name: str, version: str | None = None) -> None:
        self.loads.append((name, version))


def _watcher(pool: RecordingPool) -> ChampionWatcher:
    # Never started: no thread, no connection to the broker.
    return ChampionWatcher(pool, bootstrap="127.0.0.1:1", topic="t", poll_interval_s=60)  # type: ignore[arg-type]


def test_an_event_of_the_pools_alias_loads_its_version_and_others_are_ignored() -> None:
    pool = RecordingPool("canary")
    watcher = _watcher(pool)
    watcher.handle(ModelUpdateEvent(model_name="m", version="4", alias="canary", previous_version="3"))
    watcher.handle(ModelUpdateEvent(model_name="m", version="5", alias="champion", previous_version="3"))
    assert pool.loads == [("m", "4")]


def test_a_removed_alias_makes_the_pool_ask_the_registry_what_serves_now() -> None:
    pool = RecordingPool("canary")
    _watcher(pool).handle(ModelUpdateEvent(model_name="m", version="4", alias="canary", removed=True))
    # Not version 4, which the alias left: the registry says what serves now (for a canary: nothing).
    assert pool.loads == [("m", None)]
