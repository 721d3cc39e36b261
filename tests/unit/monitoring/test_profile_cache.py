"""Reference profiles are re-read on a schedule: a new one needs no restart of the job."""

from __future__ import annotations

from closeloop.monitoring.profiles import ProfileCache, ReferenceProfile, build_profile


class Lake:
    """Profiles by (model, version), counting reads; ``down`` makes reading fail."""

    def __init__(self) -> None:
        self.profiles: dict[tuple[str, str], ReferenceProfile] = {}
        self.reads = 0
        self.down = False

    def load(self, name: str, version: str) -> ReferenceProfile | None:
        self.reads += 1
        if self.down:
            raise ConnectionError("lake unreachable")
        return self.profiles.get((name, version))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def profile(version: str) -> ReferenceProfile:
    return build_profile("digits", version, {"x": [0.0, 1.0, 2.0, 3.0]}, bins=2)


def test_a_profile_written_later_is_picked_up_after_the_refresh() -> None:
    lake, clock = Lake(), Clock()
    cache = ProfileCache(lake.load, refresh_s=60, clock=clock)
    assert cache.get("digits", "2") is None
    lake.profiles["digits", "2"] = profile("2")
    clock.now = 59
    assert cache.get("digits", "2") is None  # not asked again on every window
    assert lake.reads == 1
    clock.now = 60
    assert cache.get("digits", "2") == profile("2")
    assert lake.reads == 2


def test_the_last_profile_stays_while_the_lake_is_away() -> None:
    lake, clock = Lake(), Clock()
    lake.profiles["digits", "2"] = profile("2")
    cache = ProfileCache(lake.load, refresh_s=10, clock=clock)
    assert cache.get("digits", "2") == profile("2")
    lake.down, clock.now = True, 30
    assert cache.get("digits", "2") == profile("2")
    assert cache.get("digits", "3") is None
