"""The canary's share of traffic: a stable hash of the request key, sticky per key, set per version."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from closeloop.gateway.canary import SHARE_TAG, CanaryRouter, canary_share, in_canary


@pytest.mark.parametrize("share", [0.01, 0.1, 0.5, 0.9])
def test_the_share_of_keys_in_the_canary_is_the_setting(share: float) -> None:
    keys = [f"client-{i}" for i in range(20_000)]
    chosen = sum(in_canary(key, share) for key in keys) / len(keys)
    # Binomial: 4 standard deviations at most of 20,000 draws is < 0.015 for any share.
    assert abs(chosen - share) < 0.015


def test_a_key_gets_the_same_answer_every_time_and_a_larger_share_keeps_it() -> None:
    keys = [f"k{i}" for i in range(2000)]
    first = [in_canary(k, 0.1) for k in keys]
    assert [in_canary(k, 0.1) for k in keys] == first
    # Raising the share only adds clients to the canary: none that saw it is moved back.
    assert all(in_canary(k, 0.3) for k, was in zip(keys, first, strict=True) if was)


def test_no_share_is_never_and_a_whole_share_is_always() -> None:
    assert not any(in_canary(f"k{i}", 0.0) for i in range(1000))
    assert all(in_canary(f"k{i}", 1.0) for i in range(1000))


def test_a_versions_tag_sets_its_share_and_a_bad_one_is_ignored() -> None:
    assert canary_share({}, 0.1) == 0.1
    assert canary_share({SHARE_TAG: "0.25"}, 0.1) == 0.25
    assert canary_share({SHARE_TAG: "lots"}, 0.1) == 0.1
    assert canary_share({SHARE_TAG: "1.5"}, 0.1) == 0.1


@dataclass
class _Model:
    name: str
    version: str
    tags: dict[str, str] = field(default_factory=dict)


class _Pool:
    def __init__(self, *models: _Model) -> None:
        self._models = {m.name: m for m in models}

    def get(self, name: str) -> _Model | None:
        return self._models.get(name)


def test_the_router_sends_a_share_to_a_loaded_canary_and_everything_else_to_the_champion() -> None:
    champion = _Model("digits", "4")
    router = CanaryRouter(_Pool(_Model("digits", "5", {SHARE_TAG: "0.5"})), default_share=0.1)  # type: ignore[arg-type]
    versions = [router.pick(champion, f"c{i}").version for i in range(2000)]  # type: ignore[arg-type]
    assert 0.45 < versions.count("5") / len(versions) < 0.55
    # A model without a canary, or whose canary is its champion, is all champion.
    assert router.pick(_Model("ocr", "1"), "c1").version == "1"  # type: ignore[arg-type]
    same = CanaryRouter(_Pool(_Model("digits", "4")), default_share=1.0)  # type: ignore[arg-type]
    assert same.pick(champion, "c1") is champion  # type: ignore[arg-type]
