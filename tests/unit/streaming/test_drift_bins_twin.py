"""The JVM's drift bins (io.closeloop.flink.ReferenceProfile) against their Python twin.

The streaming job bins each prediction in the JVM (drift_bins) and adds the bins
up per window; Python's ``window_counts`` of a one-row window is the oracle. Where
Python raises or coerces instead of skipping a value (a numeric output that is not
a number, an int too large for a float), the JVM skips it: those cases check the
JVM against the oracle without the value, and pin what Python does.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from closeloop.monitoring.drift import window_counts
from closeloop.monitoring.profiles import OUTPUT, Bins, ReferenceProfile, build_profile
from tests.unit.streaming.jvm import JvmTwin, jvm  # noqa: F401

# --- the two sides ------------------------------------------------------------------------------


def java_bins(twin: JvmTwin, profile_json: str, inputs: str | None, output: str | None) -> dict[str, float]:
    answer = twin.call("bins", profile_json, inputs, output)
    assert isinstance(answer, dict) and "bins" in answer, answer
    return answer["bins"]


def as_bins(counts: dict[str, np.ndarray]) -> dict[str, float]:
    """window_counts' arrays as the JVM's "column#bin" -> count map (empty bins left out)."""
    return {f"{name}#{i}": float(c) for name, column in counts.items() for i, c in enumerate(column) if c}


def python_bins(profile_json: str, inputs: str, output: str | None) -> dict[str, float]:
    profile = ReferenceProfile.model_validate_json(profile_json)
    outputs = [json.loads(output)] if output is not None else None
    return as_bins(window_counts(profile, [json.loads(inputs)], outputs))


def python_bins_skipping_output(profile_json: str, inputs: str) -> dict[str, float]:
    """The oracle when the JVM skips the (given, not countable) output: its column stays empty."""
    profile = ReferenceProfile.model_validate_json(profile_json)
    counts = window_counts(profile, [json.loads(inputs)], None)
    if profile.output is not None:
        counts.pop(OUTPUT, None)  # a feature named like the output column: the output replaces it
    return as_bins(counts)


def assert_twins(twin: JvmTwin, profile_json: str, inputs: str, output: str | None) -> None:
    expected = python_bins(profile_json, inputs, output)
    assert java_bins(twin, profile_json, inputs, output) == expected, (inputs, output)


# --- profiles -----------------------------------------------------------------------------------


def profile_json(features: dict[str, Bins], output: Bins | None = None) -> str:
    return ReferenceProfile(
        model_name="m", model_version="1", rows=10, features=features, output=output
    ).model_dump_json()


def numeric(cuts: list[float]) -> Bins:
    return Bins(kind="numeric", cuts=cuts, proportions=[1 / (len(cuts) + 1)] * (len(cuts) + 1))


def categorical(categories: list[str]) -> Bins:
    return Bins(
        kind="categorical",
        categories=categories,
        proportions=[1 / (len(categories) + 1)] * (len(categories) + 1),
    )


CUTS = [-1.0, 0.0, 1.5, 2.0**53, 1e30]
HAND = profile_json({"x": numeric(CUTS), "a#b": numeric([0.5]), "empty": numeric([])})

CATEGORY_VALUES: list[Any] = [1, 1.0, "1", True, False, None, 2.5, -0.0, 0.0, 100.0, "é", "😀", "\x7f"]
CATEGORY_VALUES += ['a"b\\c\n', [1, 2], {"k": 1, "j": [None]}, 10**25, float("nan"), float("inf"), "NaN"]
CATEGORIES = sorted({json.dumps(v) for v in CATEGORY_VALUES})
CATEGORICAL = profile_json({"x": numeric([0.0])}, categorical(CATEGORIES))
NUMERIC_OUTPUT = profile_json({"x": numeric([0.0])}, numeric([0.0, 1.0]))


def seeded_profile(seed: int, *, categorical_output: bool | None) -> str:
    rng = np.random.default_rng(seed)
    rows = 200
    features = {
        "x0": rng.normal(size=rows),
        "x1": rng.integers(0, 5, size=rows).astype(float),  # repeated quantiles: fewer cuts
        "a#b": rng.exponential(1e6, size=rows),
        "tiny": rng.normal(scale=1e-8, size=rows),
    }
    outputs = None
    if categorical_output is not None:
        choices: list[Any] = [0, 1, 2, "cat", "dog", True, 0.5, "é"]
        outputs = [choices[i] for i in rng.integers(0, len(choices), size=rows)]
        if not categorical_output:
            outputs = rng.normal(size=rows).tolist()
    profile = build_profile(
        "m",
        "1",
        features,
        outputs,
        bins=int(rng.integers(2, 12)),
        categorical_output=bool(categorical_output),
    )
    return profile.model_dump_json()


# --- numeric features ---------------------------------------------------------------------------

# JSON tokens as a prediction may carry them: on a cut, around cuts, ints and floats, bools, what
# json.loads reads as a float (NaN, Infinity, 1e400), and what does not count.
TOKENS = [
    "-1.0", "-1", "-2", "-1.0000000000000002", "-0.9999999999999999", "0", "0.0", "-0.0", "-0", "1e-300",
    "1.5", "1.4999999999999998", "15e-1", "2", "9007199254740992", "9007199254740993", "9007199254740992.0",
    "1e30", "1000000000000000000000000000000", "1000000000000000019884624838656", "1e31",
    "9223372036854775808", "-9223372036854775809", "true", "false", "null", '"3"', '""', "[1]", '{"a": 1}',
    "[]", "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "-1e-400",
    "123456789012345678901234567890e-20",
]  # fmt: skip


@pytest.mark.parametrize("token", TOKENS)
def test_a_feature_value_lands_in_numpys_bin(jvm: JvmTwin, token: str) -> None:  # noqa: F811
    assert_twins(jvm, HAND, f'{{"x": {token}, "a#b": {token}, "empty": {token}}}', None)


@pytest.mark.parametrize(
    "inputs",
    [
        "{}",
        '{"other": 1}',
        '{"x": 1, "other": {"deep": [1, 2.5, "s", null, NaN, {"x": 3}]}, "more": [[]]}',
        '{"x": 1, "x": "a"}',  # json.loads keeps the last of repeated names
        '{"x": "a", "x": 1}',
        '{"x": 1, "x": 2.0}',
        ' \t\n{"x" : 1 }\r\n ',
        '{"X": 1, "x ": 2, "a": 3, "b": 4}',
        '{"a#b": 0.5, "empty": 7}',
    ],
)
def test_missing_extra_and_repeated_features(jvm: JvmTwin, inputs: str) -> None:  # noqa: F811
    assert_twins(jvm, HAND, inputs, None)


def test_an_int_too_large_for_a_float_is_skipped(jvm: JvmTwin) -> None:  # noqa: F811
    huge = "1" + "0" * 400
    with pytest.raises(OverflowError):  # numpy cannot make a float of it: the window would fail
        python_bins(HAND, f'{{"x": {huge}, "a#b": 1}}', None)
    assert java_bins(jvm, HAND, f'{{"x": {huge}, "a#b": 1}}', None) == python_bins(HAND, '{"a#b": 1}', None)
    assert java_bins(jvm, HAND, f'{{"x": -{huge}}}', None) == {}


@pytest.mark.parametrize(
    "inputs",
    [
        "",
        "   ",
        "not json",
        "[1]",
        '"x"',
        "1",
        "null",
        '{"x": 1} {}',
        '{"x": 1} x',
        '{"x": 1',
        '{"x": 1,}',
        "{'x': 1}",
        '{"x": 1} // note',
        '{"x": 01}',
        '{"x": 1.}',
        '{"x": .5}',
        '{"x": +1}',
        '{"x": -INF}',
        '{"x": +Infinity}',
        '{"x": nan}',
        '{"y": [1, -INF]}',
        '{"y": "\\x"}',
        '{"y": "\x01"}',
        '{"y": 1' + "0" * 5000 + "}",  # beyond Python's 4300 digits for an int
    ],
)
def test_inputs_python_cannot_read_count_for_nothing(jvm: JvmTwin, inputs: str) -> None:  # noqa: F811
    with pytest.raises((ValueError, AttributeError)):
        python_bins(CATEGORICAL, inputs, "1")
    assert java_bins(jvm, CATEGORICAL, inputs, "1") == {}


def test_no_inputs_count_for_nothing(jvm: JvmTwin) -> None:  # noqa: F811
    assert java_bins(jvm, CATEGORICAL, None, "1") == {}


CATEGORICAL_FEATURE = profile_json({"c": categorical(["1", "1.0", "true", '"1"', "NaN", "1" + "0" * 400])})


@pytest.mark.parametrize(
    "token", ["1", "1.0", "1e0", "true", "false", '"1"', "null", "NaN", "2", "1" + "0" * 400]
)
def test_a_categorical_feature_bins_numbers_by_their_text(jvm: JvmTwin, token: str) -> None:  # noqa: F811
    # build_profile makes numeric features only, but a profile may have categorical ones.
    assert_twins(jvm, CATEGORICAL_FEATURE, f'{{"c": {token}}}', None)


@pytest.mark.parametrize("cuts", ["[1.0, NaN, 2.0]", "[NaN]", "[-Infinity, 0.0, Infinity]", "[1, 2]"])
@pytest.mark.parametrize("token", ["0.5", "1", "1.5", "2", "3", "NaN", "Infinity", "-Infinity"])
def test_hand_written_cuts_numpy_would_search_oddly(jvm: JvmTwin, cuts: str, token: str) -> None:  # noqa: F811
    # model_dump_json writes NaN and infinities as null, so only a hand-written profile has them.
    size = cuts.count(",") + 2
    bins = f'{{"kind": "numeric", "cuts": {cuts}, "proportions": {json.dumps([1 / size] * size)}}}'
    text = f'{{"model_name": "m", "model_version": "1", "rows": 1, "features": {{"x": {bins}}}}}'
    assert_twins(jvm, text, f'{{"x": {token}}}', None)


# --- outputs ------------------------------------------------------------------------------------

OUTPUT_TOKENS = [
    "1", "1.0", "1e0", "10e-1", '"1"', "true", "false", "null", "2.5", "25e-1", "-0.0", "-0", "0.0", "0",
    "-0e5", "100.0", "1E2", "100", '"\\u00e9"', '"é"', '"e\\u0301"', '"\\ud83d\\ude00"', '"😀"', '"\\u007f"',
    '"\x7f"', '"a\\"b\\\\c\\n"', '"a\\"b\\\\c\\u000a"', "[1, 2]", "[1,2]", "[2, 1]", "[1, 2.0]",
    '{"k": 1, "j": [null]}', '{"k":1,"j":[null]}', '{"j": [null], "k": 1}', '{"k": 1, "j": [null], "k": 1}',
    "10000000000000000000000000", "1e25", "NaN", "Infinity", "-Infinity", '"NaN"', '"nope"', "[]", "{}",
    '"1 "',
]  # fmt: skip


@pytest.mark.parametrize("output", OUTPUT_TOKENS)
def test_a_categorical_output_is_its_json_dumps_text(jvm: JvmTwin, output: str) -> None:  # noqa: F811
    assert_twins(jvm, CATEGORICAL, '{"x": 1}', output)


@pytest.mark.parametrize("categories", [["1e2"], ["[1,2]"], [" 1"], ['"\\u00E9"'], ['"é"'], ["01"], ["nope"]])
@pytest.mark.parametrize("output", ["100.0", "[1, 2]", "1", '"é"', "true"])
def test_a_category_that_is_not_json_dumps_text_never_matches(
    jvm: JvmTwin,  # noqa: F811
    categories: list[str],
    output: str,
) -> None:
    text = profile_json({}, categorical(categories))
    assert java_bins(jvm, text, "{}", output) == python_bins(text, "{}", output) == {f"{OUTPUT}#1": 1.0}


def test_a_repeated_category_is_its_last_bin(jvm: JvmTwin) -> None:  # noqa: F811
    text = profile_json({}, categorical(['"a"', "1", '"a"']))
    assert java_bins(jvm, text, "{}", '"a"') == python_bins(text, "{}", '"a"') == {f"{OUTPUT}#2": 1.0}


NUMBERS = ["-1", "0", "0.0", "-0.0", "0.5", "1", "1.0", "2", "true", "false", "NaN", "1e400", "-Infinity"]


@pytest.mark.parametrize("output", NUMBERS)
def test_a_numeric_output_is_binned_like_a_feature(jvm: JvmTwin, output: str) -> None:  # noqa: F811
    assert_twins(jvm, NUMERIC_OUTPUT, '{"x": 1}', output)


@pytest.mark.parametrize("output", ['"abc"', "[1, 2]", '{"a": 1}', "1" + "0" * 400, "[]"])
def test_a_numeric_output_python_cannot_take_is_skipped(jvm: JvmTwin, output: str) -> None:  # noqa: F811
    with pytest.raises((ValueError, TypeError, OverflowError)):
        python_bins(NUMERIC_OUTPUT, '{"x": 1}', output)
    assert java_bins(jvm, NUMERIC_OUTPUT, '{"x": 1}', output) == python_bins_skipping_output(
        NUMERIC_OUTPUT, '{"x": 1}'
    )


@pytest.mark.parametrize(("output", "python_bin"), [("null", 2), ('"3"', 2), ('" 0.5 "', 1), ('"nan"', 2)])
def test_a_numeric_output_python_coerces_is_skipped(jvm: JvmTwin, output: str, python_bin: int) -> None:  # noqa: F811
    # numpy makes a float of None (NaN) and of numeric strings; the JVM counts only numbers, as
    # window_counts does for features. A deliberate difference.
    assert python_bins(NUMERIC_OUTPUT, "{}", output) == {f"{OUTPUT}#{python_bin}": 1.0}
    assert java_bins(jvm, NUMERIC_OUTPUT, "{}", output) == {}


@pytest.mark.parametrize("profile", [CATEGORICAL, NUMERIC_OUTPUT])
@pytest.mark.parametrize("output", ["1 2", "[1,", "'a'", "", "-INF"])
def test_an_output_python_cannot_read_is_skipped(jvm: JvmTwin, profile: str, output: str) -> None:  # noqa: F811
    with pytest.raises(ValueError):
        python_bins(profile, '{"x": 1}', output)
    assert java_bins(jvm, profile, '{"x": 1}', output) == python_bins_skipping_output(profile, '{"x": 1}')


@pytest.mark.parametrize("profile", [CATEGORICAL, NUMERIC_OUTPUT])
def test_a_failed_prediction_bins_no_output(jvm: JvmTwin, profile: str) -> None:  # noqa: F811
    assert_twins(jvm, profile, '{"x": 1}', None)
    assert java_bins(jvm, profile, '{"x": 1}', None) == {"x#1": 1.0}


def test_a_profile_without_output_ignores_it(jvm: JvmTwin) -> None:  # noqa: F811
    assert_twins(jvm, HAND, '{"x": 1}', "1")
    assert_twins(jvm, HAND, '{"x": 1}', '"abc"')


@pytest.mark.parametrize("output", ["1", None])
def test_a_feature_named_like_the_output_column(jvm: JvmTwin, output: str | None) -> None:  # noqa: F811
    text = profile_json({OUTPUT: numeric([0.0]), "x": numeric([0.0])}, categorical(["1"]))
    assert_twins(jvm, text, f'{{"{OUTPUT}": 5, "x": -1}}', output)


# --- floats as categories: json.dumps's repr ------------------------------------------------------


def float_corpus(seed: int, size: int) -> list[float]:
    rng = np.random.default_rng(seed)
    values = [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e16, 1e15, 9999999999999998.0]
    values += [1e-5, 1e-4, 0.0001234, 123456789.0, 0.1, 1 / 3, 2 / 3, 9.999999999999999e22, 1e23, 5e-5]
    values += [2.0**k for k in (-1074, -1022, -100, -1, 0, 52, 53, 54, 63, 64, 100, 1023)]
    values += [math.nextafter(2.0**k, 0.0) for k in (-1000, -10, 1, 60, 1000)]
    while len(values) < size:
        kind = rng.integers(0, 3)
        if kind == 0:
            values.append(float(rng.normal() * 10.0 ** rng.integers(-30, 30)))
        elif kind == 1:
            values.append(float(np.frombuffer(rng.bytes(8), dtype=np.float64)[0]))
        else:
            values.append(round(float(rng.normal() * 1000), int(rng.integers(0, 6))))
    finite = [v for v in values if math.isfinite(v)]
    return [*finite, *(-v for v in finite[: size // 4])]


@pytest.mark.parametrize("seed", [1, 2])
def test_float_categories_match_however_the_output_spells_them(jvm: JvmTwin, seed: int) -> None:  # noqa: F811
    values = float_corpus(seed, 150)
    profile = build_profile("m", "1", {}, values).model_dump_json()
    for v in values:
        for spelling in (json.dumps(v), f"{v:.17e}", f"{v:.25e}"):
            assert_twins(jvm, profile, "{}", spelling)


# --- profiles Python rejects ----------------------------------------------------------------------

GOOD_BINS = '{"kind": "numeric", "cuts": [0.0], "proportions": [0.5, 0.5]}'


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"model_name": "m", "model_version": "1", "rows": 1, "features": {}, "extra": 1}',
        '{"model_name": "m", "model_version": 1, "rows": 1, "features": {}}',
        '{"model_name": "m", "model_version": "1", "features": {}}',
        '{"model_name": "m", "model_version": "1", "rows": 1, "features": null}',
        '{"model_name": "m", "model_version": "1", "rows": 1, "features": {"x": '
        '{"kind": "numeric", "cuts": [0.0], "proportions": [1.0]}}}',
        '{"model_name": "m", "model_version": "1", "rows": 1, "features": {"x": '
        '{"kind": "numeric", "cuts": [1.0, 1.0], "proportions": [0.3, 0.3, 0.4]}}}',
        '{"model_name": "m", "model_version": "1", "rows": 1, "features": {"x": '
        '{"kind": "numeric", "cuts": [0.0], "proportions": [0.5, 0.4]}}}',
        '{"model_name": "m", "model_version": "1", "rows": 1, "features": {"x": '
        '{"kind": "ordinal", "cuts": [0.0], "proportions": [0.5, 0.5]}}}',
        '{"model_name": "m", "model_version": "1", "rows": 1, "features": {"x": '
        '{"kind": "categorical", "categories": [1], "proportions": [0.5, 0.5]}}}',
        '{"model_name": "m", "model_version": "1", "rows": 1, "features": {"x": '
        '{"kind": "numeric", "cuts": [0.0], "proportions": [0.5, 0.5], "more": 1}}}',
        '{"model_name": "m", "model_version": "1", "rows": 1, "features": {"x": ' + GOOD_BINS + "}} x",
    ],
)
def test_a_profile_python_rejects_is_rejected(jvm: JvmTwin, text: str) -> None:  # noqa: F811
    with pytest.raises(ValidationError):
        ReferenceProfile.model_validate_json(text)
    answer = jvm.call("bins", text, "{}", None)
    assert isinstance(answer, dict) and "error" in answer, answer


# --- randomized -----------------------------------------------------------------------------------


def random_value(rng: np.random.Generator, cuts: list[float], *, numbers_only: bool = False) -> str | None:
    """A feature's JSON token (a number's only, for a numeric output), or None to leave it out."""
    kind = int(rng.integers(0, 10))
    if kind == 0 and cuts:
        return json.dumps(cuts[int(rng.integers(0, len(cuts)))])  # exactly on a cut
    if kind == 1 and cuts:
        return f"{math.nextafter(cuts[int(rng.integers(0, len(cuts)))], -math.inf):.17e}"
    if kind == 2:
        return str(int(rng.integers(-10, 10)))
    if kind == 3:
        return json.dumps(bool(rng.integers(0, 2)))
    if kind == 4:
        odd = ["NaN", "Infinity", "-Infinity", "-0.0"]
        odd += [] if numbers_only else ["null", '"3"', "[1.5]", '{"v": 1}']
        return odd[int(rng.integers(0, len(odd)))]
    if kind == 5:
        return None if not numbers_only else "0"
    value = float(rng.normal() * 10.0 ** rng.integers(-3, 7))
    return json.dumps(value) if kind < 8 else f"{value:.20e}"


def random_output(rng: np.random.Generator, profile: ReferenceProfile) -> str | None:
    if profile.output is None or rng.integers(0, 8) == 0:
        return None
    if profile.output.kind == "numeric":
        return random_value(rng, profile.output.cuts, numbers_only=True)
    categories = profile.output.categories
    if rng.integers(0, 4) == 0 or not categories:
        return json.dumps(["other", "1.5", 7, None][int(rng.integers(0, 4))])
    value = json.loads(categories[int(rng.integers(0, len(categories)))])
    if isinstance(value, float):
        return f"{value:.17e}"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=bool(rng.integers(0, 2)))


def test_random_predictions_against_random_profiles(jvm: JvmTwin) -> None:  # noqa: F811
    rng = np.random.default_rng(20240611)
    for case in range(400):
        kind = [None, True, False][case % 3]
        text = seeded_profile(case // 20, categorical_output=kind)
        profile = ReferenceProfile.model_validate_json(text)
        tokens = {name: random_value(rng, bins.cuts) for name, bins in profile.features.items()}
        if rng.integers(0, 4) == 0:
            tokens["extra"] = random_value(rng, [])
        order = list(tokens.items())
        rng.shuffle(order)
        fields = [f"{json.dumps(name)}: {token}" for name, token in order if token is not None]
        inputs = "{" + ", ".join(fields) + "}"
        output = random_output(rng, profile)
        assert_twins(jvm, text, inputs, output)
