"""The promotion gate's rules, one at a time."""

from __future__ import annotations

import pytest

from training.gate import GatePolicy, Scores, decide

POLICY = GatePolicy(margin=0.01, tolerance=0.02)


def _decide(
    challenger: Scores, champion: Scores | None, *, higher: bool = True, force: bool = False, policy=POLICY
):
    return decide(
        metric="accuracy" if higher else "mae",
        higher_is_better=higher,
        challenger=challenger,
        champion=champion,
        policy=policy,
        force=force,
    )


def test_first_model_passes() -> None:
    decision = _decide(Scores(holdout=None, test=0.5), None)
    assert decision.passed
    assert "no champion" in decision.reason


def test_beating_the_champion_by_the_margin_passes() -> None:
    decision = _decide(Scores(holdout=0.90, test=0.95), Scores(holdout=0.70, test=0.96))
    assert decision.passed
    assert "0.9000" in decision.reason and "0.7000" in decision.reason


def test_a_gain_below_the_margin_fails() -> None:
    decision = _decide(Scores(holdout=0.705, test=0.96), Scores(holdout=0.70, test=0.96))
    assert not decision.passed
    assert "margin 0.01" in decision.reason


def test_a_zero_margin_still_needs_a_gain() -> None:
    policy = GatePolicy(margin=0.0, tolerance=0.02)
    assert not _decide(Scores(holdout=0.7, test=0.9), Scores(holdout=0.7, test=0.9), policy=policy).passed
    assert _decide(Scores(holdout=0.71, test=0.9), Scores(holdout=0.7, test=0.9), policy=policy).passed


def test_forgetting_the_base_test_set_fails_even_with_a_better_holdout() -> None:
    decision = _decide(Scores(holdout=0.99, test=0.90), Scores(holdout=0.70, test=0.95))
    assert not decision.passed
    assert "base test set regressed by 0.0500" in decision.reason


def test_lower_is_better_metrics_turn_the_comparisons_around() -> None:
    better = _decide(Scores(holdout=40.0, test=45.0), Scores(holdout=50.0, test=45.0), higher=False)
    worse = _decide(Scores(holdout=60.0, test=45.0), Scores(holdout=50.0, test=45.0), higher=False)
    forgot = _decide(Scores(holdout=40.0, test=45.1), Scores(holdout=50.0, test=45.0), higher=False)
    assert better.passed
    assert not worse.passed
    assert not forgot.passed


def test_an_empty_holdout_cannot_beat_a_champion() -> None:
    decision = _decide(Scores(holdout=None, test=0.96), Scores(holdout=None, test=0.95))
    assert not decision.passed
    assert "holdout is empty" in decision.reason


def test_force_passes_and_keeps_the_reason() -> None:
    decision = _decide(Scores(holdout=0.5, test=0.5), Scores(holdout=0.9, test=0.9), force=True)
    assert decision.passed
    assert decision.reason.startswith("forced despite: ")


def test_a_nan_score_fails() -> None:
    assert not _decide(Scores(holdout=float("nan"), test=0.9), Scores(holdout=0.7, test=0.9)).passed


def test_tags_carry_both_scores_and_the_decision() -> None:
    tags = _decide(Scores(holdout=0.9, test=0.95), Scores(holdout=0.7, test=0.96)).tags()
    assert tags["closeloop.gate.passed"] == "true"
    assert tags["closeloop.gate.challenger_holdout"] == "0.9"
    assert tags["closeloop.gate.champion_holdout"] == "0.7"
    assert tags["closeloop.gate.metric"] == "accuracy"


@pytest.mark.parametrize("field", ["margin", "tolerance"])
def test_policy_refuses_negative_values(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        GatePolicy(**{field: -0.1})
