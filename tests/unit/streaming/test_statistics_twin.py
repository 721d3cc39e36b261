"""The JVM's task statistics (io.closeloop.flink.TaskStatistics) against their Python twin.

The streaming job scores each labeled example in the JVM; ``closeloop.tasks``
is the oracle: ``get_task(task).statistics(json.loads(output), json.loads(truth))``.
Where Python raises (the JSON does not load, pydantic rejects a value, the task
is unknown) the JVM must return a problem; otherwise the same statistics, key
for key. The corpora lean on where Python's rules are not Java's: json.loads'
grammar, pydantic's lax float parsing, ``str.split``'s white space, json.dumps'
escapes, code points against UTF-16 units, greedy box matching on ties.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable

import pytest

from closeloop.tasks import TaskError, get_task
from tests.unit.streaming.jvm import JvmTwin, jvm  # noqa: F401

# --- the two sides ------------------------------------------------------------------------------

#: Statistics that are sums of floating-point errors rather than counts.
ERRORS = {"abs_error", "squared_error"}


def python_statistics(task: str | None, output: str | None, truth: str | None) -> dict[str, float] | None:
    """The oracle; None where Python raises what the feedback job turns into a problem."""
    try:
        return get_task(task).statistics(json.loads(output), json.loads(truth))  # type: ignore[arg-type]
    except (TaskError, ValueError, TypeError):
        return None


def assert_twins(twin: JvmTwin, task: str | None, output: str | None, truth: str | None) -> None:
    expected = python_statistics(task, output, truth)
    answer = twin.call("statistics", task, output, truth)
    case = (task, output, truth)
    assert isinstance(answer, dict), case
    if expected is None:
        assert set(answer) == {"problem"}, (case, answer)
        if task is not None:
            assert answer["problem"].startswith(f"ground_truth: cannot be scored against the {task} output: ")
        return
    assert set(answer) == {"stats"}, (case, answer)
    stats = answer["stats"]
    assert stats.keys() == expected.keys(), (case, stats, expected)
    for key, value in expected.items():
        if key in ERRORS:
            assert math.isclose(stats[key], value, rel_tol=1e-9, abs_tol=1e-9), (case, key, stats[key], value)
        else:
            assert stats[key] == value, (case, key, stats[key], value)


def scored(task: str, output: str, truth: str) -> bool:
    return python_statistics(task, output, truth) is not None


# --- corpora ------------------------------------------------------------------------------------

#: Python's str.isspace(): [c for c in range(0x110000) if chr(c).isspace()]. Java's is different.
PY_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
BIG = str(10**40)
DIGITS_4300 = "9" * 4300
DIGITS_4301 = "9" * 4301
#: The ints around the largest double: Python rounds half to even, and overflows past it.
OVERFLOW = str(2**1024 - 2**970)
LARGEST = str(2**1024 - 2**970 - 1)


def box(
    x1: object, y1: object, x2: object, y2: object, label: object = "a", **extra: object
) -> dict[str, object]:
    return {"box": [x1, y1, x2, y2], "label": label, **extra}


def boxes(*items: dict[str, object]) -> str:
    return json.dumps(list(items))


CLASSIFICATION = [
    ("3", "3"),
    ("3", '"3"'),
    ('"3"', '"3"'),
    ("3", "3.0"),
    ("3.0", "3"),
    ("1e2", "100"),
    ("true", "1"),
    ("1", "true"),
    ("false", "0"),
    ("null", '"a"'),
    ('"a"', "null"),
    ("[3]", "3"),
    ('{"a": 1}', "3"),
    ("-0", "0"),
    ("-0", "-0"),
    ("0", "-0.0"),
    (BIG, BIG),
    (BIG, str(10**40 + 1)),
    ("-" + BIG, "-" + BIG),
    (str(2**63), str(2**63)),
    (str(-(2**63) - 1), str(2**64)),
    (DIGITS_4300, DIGITS_4300),
    ("-" + DIGITS_4300, "1"),
    (DIGITS_4301, "1"),
    ("1", "-" + DIGITS_4301),
    ('"cat"', '"cat"'),
    ('"cat"', '"dog"'),
    ('"é"', '"\\u00e9"'),
    ('"e\\u0301"', '"é"'),
    ('"😀"', '"\\ud83d\\ude00"'),
    ('"\\ud800"', '"\\ud800"'),
    ('"\\udfff\\ud800"', '"x"'),
    ('"\\u2028"', '"\\u2029"'),
    ('"\\ufeff"', '""'),
    ('""', '""'),
    ('"a\\"b"', '"a\\\\b"'),
    ('"\\n\\r\\t\\b\\f"', '"\\u0000\\u001f\\u007f\\u0080"'),
    ('"/\\/"', '"<>&\'"'),
    ('"\\u00ff\\u0100\\uffff"', '"\\U0001"'),
    ('"3"', "3.5"),
    ("2.5", '"2.5"'),
    ("NaN", "1"),
    ("1", "Infinity"),
]

REGRESSION = [
    ("3", "1"),
    ("3", "3.0"),
    ("0.1", "0.3"),
    ("-0.0", "0"),
    ("-0", "0.0"),
    ("1e-320", "5e-324"),
    ("true", "false"),
    ("false", "1.5"),
    ("null", "1"),
    ('"3"', "1"),
    ('" 3.5 "', "1"),
    ('"\\t3.5\\n"', "0"),
    ('"\\u00a03\\u3000"', "0"),
    ('"\\u001c3"', "0"),
    ('"3\\u001f"', "0"),
    ('"\\u20283\\u2029"', "0"),
    ('"\\u00853"', "0"),
    ('"abc"', "1"),
    ('""', "1"),
    ('" "', "1"),
    ('"1_000"', "0"),
    ('"1_000.000_1"', "0"),
    ('"1__0"', "0"),
    ('"_1"', "0"),
    ('"1_"', "0"),
    ('" 1_0 "', "0"),
    ('"1_0 "', "0"),
    ('"1_e5"', "0"),
    ('"+_1"', "0"),
    ('"in_f"', "0"),
    ('"+5"', "0"),
    ('".5"', "0"),
    ('"5."', "0"),
    ('"1.e5"', "0"),
    ('".e5"', "0"),
    ('"-.5e-3"', "0"),
    ('"1E+05"', "0"),
    ('"1e"', "0"),
    ('"0x10"', "0"),
    ('"1d"', "0"),
    ('"1f"', "0"),
    ('"0x1p3"', "0"),
    ('"1,5"', "0"),
    ('"\u0661\u0662"', "0"),  # Arabic-Indic digits
    ('"\uff11\uff12"', "0"),  # full-width digits
    ('"inf"', "0"),
    ('"-Infinity"', "0"),
    ('"nan"', "0"),
    ('"\u0131nf"', "0"),  # dotless i: no "inf" to Rust, though Java's equalsIgnoreCase says so
    ('"\\ud800"', "0"),
    ('"1e400"', "0"),
    ('"0.' + "0" * 400 + '1"', "0"),
    ('"' + "1" * 400 + '"', "0"),
    ("NaN", "1"),
    ("1", "Infinity"),
    ("-Infinity", "1"),
    ("1e400", "1"),
    ("-1e400", "1"),
    ("1e-400", "1"),
    ("1e99999999999999999999", "0"),
    ("1" + "0" * 5000 + ".5", "0"),
    ("1.7976931348623157e308", "-1.7976931348623157e308"),
    ("1e200", "0"),
    (LARGEST, "0"),
    (OVERFLOW, "0"),
    ("-" + OVERFLOW, "0"),
    (str(2**53 + 1), "0"),
    (str(10**400), "0"),
    ("[1]", "1"),
    ("{}", "1"),
]

TEXT = [
    ('"hello world"', '"hello world"'),
    ('"hello world"', '"hello word"'),
    ('"hello"', '"hello world"'),
    ('""', '""'),
    ('""', '"abc"'),
    ('"abc"', '""'),
    ('"   "', '"\\t\\n"'),
    ('" a  b "', '"a b"'),
    ('"a\\u00a0b"', '"a b"'),
    ('"a\\u001cb\\u001dc\\u001ed\\u001ff"', '"a b c d f"'),
    ('"\\u001c a \\u001f"', '"a"'),
    ('"a\\u0085b"', '"a\\u2028b"'),
    ('"a\\u200bb"', '"a b"'),
    ('"a\\u180eb"', '"a b"'),
    ('"\\ufeffa"', '"a"'),
    ('"line one\\nline two\\ttab"', '"line one line two tab"'),
    ('"😀 x"', '"😃 x"'),
    ('"\\ud83d\\ude00"', '"😀"'),
    ('"\\ud83d"', '"\\ude00"'),
    ('"a\\ud800b"', '"ab"'),
    ('"e\\u0301"', '"é"'),
    ('"naïve café"', '"naive cafe"'),
    ('"' + "ab " * 150 + '"', '"' + "ab " * 149 + 'ba"'),
    ('"' + "kitten sitting " * 30 + '"', '"' + "sitting kitten " * 30 + '"'),
    ("3", '"3"'),
    ('"3"', "3"),
    ('"x"', "null"),
    ('"x"', '["x"]'),
    ("null", '"x"'),
]

A = box(0, 0, 2, 2)
#: B1 overlaps T1 (IoU 0.67) and T2 (0.54), B2 only T1 (0.75; T2 0.17).
T1, T2 = box(0, 0, 2, 2), box(0, 1, 2, 3)
B1, B2 = box(0, 0.4, 2, 2.4), box(0, 0, 2, 1.5)
DETECTION = [
    ("[]", "[]"),
    ("[]", boxes(A)),
    (boxes(A), "[]"),
    (boxes(A), boxes(A)),
    (boxes(A), boxes(box(0, 0, 2, 2, label="b"))),
    (boxes(box(0, 0, 2, 2, label=1)), boxes(box(0, 0, 2, 2, label="1"))),
    (boxes(box(0, 0, 2, 2, label=1)), boxes(box(0, 0, 2, 2, label=1))),
    (boxes(box(0, 0, 2, 2, label=int(BIG))), boxes(box(0, 0, 2, 2, label=int(BIG)))),
    (boxes(box(0, 0, 2, 2, label=True)), boxes(A)),
    (boxes(box(0, 0, 2, 2, label=1.0)), boxes(A)),
    (boxes(box(0, 0, 2, 2, label=None)), boxes(A)),
    (boxes(box(0, 0, 2, 2, label="\ud800")), boxes(box(0, 0, 2, 2, label="\ud800"))),
    # Two predictions at equal scores, one true box: the first in input order takes it.
    (boxes(box(0, 0, 2, 2, score=0.5), box(0, 0, 2, 3, score=0.5)), boxes(box(0, 0, 2, 3))),
    (boxes(box(0, 0, 2, 3, score=0.5), box(0, 0, 2, 2, score=0.5)), boxes(box(0, 0, 2, 2), box(0, 0, 2, 3))),
    (boxes(box(0, 0, 2, 2, score=0.0), box(0, 0, 2, 2, score=-0.0)), boxes(A)),
    # Greedy order decides the count: B1 takes T1, which B2 needed (1), unless B2 goes first (2).
    (boxes(B1, B2), boxes(T1, T2)),
    (boxes(B2, B1), boxes(T1, T2)),
    (boxes({**B1, "score": 0.5}, {**B2, "score": 0.5}), boxes(T1, T2)),
    (boxes({**B1, "score": 0.4}, {**B2, "score": 0.5}), boxes(T1, T2)),
    # Scores 0.0 and -0.0 tie (sorted compares with <): input order, B1 first.
    (boxes({**B1, "score": -0.0}, {**B2, "score": 0.0}), boxes(T1, T2)),
    (boxes({**B1, "score": "-0"}, {**B2, "score": 0}), boxes(T1, T2)),
    # The higher score goes first and takes the better box.
    (boxes(box(0, 0, 2, 2, score=0.2), box(0, 0, 2, 3, score=0.9)), boxes(box(0, 0, 2, 3))),
    # The same box under two labels, truth under both.
    (boxes(box(0, 0, 2, 2, label="a"), box(0, 0, 2, 2, label="b")), boxes(box(0, 0, 2, 2, label="b"))),
    (boxes(A, A), boxes(A)),
    (boxes(A), boxes(A, A)),
    # IoU exactly 0.5 matches (>=); just below does not.
    (boxes(box(0, 0, 2, 2)), boxes(box(0, 0, 2, 1))),
    (boxes(box(0, 0, 3, 1)), boxes(box(1, 0, 3, 1))),
    (boxes(box(0, 0, 2, 2)), boxes(box(0, 0, 2, 0.999999))),
    (boxes(box(0, 0, 0.3, 0.3)), boxes(box(0, 0, 0.3, 0.15))),
    (boxes(box(0, 0, 1, 1)), boxes(box(1, 1, 2, 2))),
    (boxes(box(0, 0, 0, 0)), boxes(box(0, 0, 0, 0))),
    (boxes(box(0, 0, 1, 1)), boxes(box(0.5, 0.5, 1.5, 1.5))),
    (boxes(box(0, 0, 2, 2, score=1)), boxes(A)),
    (boxes(box(0, 0, 2, 2, score=0)), boxes(A)),
    (boxes(box(0, 0, 2, 2, score=1.5)), boxes(A)),
    (boxes(box(0, 0, 2, 2, score=-0.1)), boxes(A)),
    (boxes(box(0, 0, 2, 2, score="0.5")), boxes(A)),
    (boxes(box(0, 0, 2, 2, score=" 1 ")), boxes(A)),
    (boxes(box(0, 0, 2, 2, score=True)), boxes(A)),
    (boxes(box(0, 0, 2, 2, score=None)), boxes(A)),
    (boxes(box(0, 0, 2, 2, score=math.nan)), boxes(A)),
    (boxes(box(0, 0, 2, 2, extra=1)), boxes(A)),
    (boxes(A), boxes(box(0, 0, 2, 2, score=0.5, id=1))),
    ('[{"box": [0, 0, 2, 2]}]', boxes(A)),
    ('[{"label": "a"}]', boxes(A)),
    ('[{"box": [0, 0, 2, 2], "label": "b", "label": "a"}]', boxes(A)),
    ('[{"\\u0062ox": [0, 0, 2, 2], "label": "a"}]', boxes(A)),
    (boxes(box(2, 0, 0, 2)), boxes(A)),
    (boxes(A), boxes(box(0, 2, 2, 0))),
    (boxes(box(1, 1, 1, 1)), boxes(A)),
    (boxes(box("0", " 0 ", "2e0", "2_0")), boxes(A)),
    (boxes(box(False, False, True, True)), boxes(box(0, 0, 1, 1))),
    (boxes(box("a", 0, 2, 2)), boxes(A)),
    (boxes(box(None, 0, 2, 2)), boxes(A)),
    ('[{"box": [NaN, 0, 2, 2], "label": "a"}]', boxes(A)),
    ('[{"box": [0, 0, Infinity, 2], "label": "a"}]', boxes(A)),
    ('[{"box": [-Infinity, 0, Infinity, 2], "label": "a"}]', boxes(box(-1e308, 0, 1e308, 2))),
    (boxes(box("nan", 0, "inf", 2)), boxes(A)),
    (boxes(box(0, 0, 1e400, 2)), boxes(A)),
    (boxes(box(0, 0, 10**400, 2)), boxes(A)),
    (boxes(box(-1e308, -1e308, 1e308, 1e308)), boxes(box(-1e308, -1e308, 1e308, 1e308))),
    ('[{"box": [0, 0, 2], "label": "a"}]', boxes(A)),
    ('[{"box": [0, 0, 2, 2, 3], "label": "a"}]', boxes(A)),
    ('[{"box": {"0": 0}, "label": "a"}]', boxes(A)),
    ('[{"box": "0022", "label": "a"}]', boxes(A)),
    ("[[0, 0, 2, 2]]", boxes(A)),
    ("[1]", boxes(A)),
    ("[null]", boxes(A)),
    ('{"box": [0, 0, 2, 2], "label": "a"}', boxes(A)),
    ('"[]"', "[]"),
    ("null", "[]"),
    ("[]", "{}"),
]

#: JSON texts Python's json.loads refuses, or reads where Jackson's defaults would not.
INVALID_JSON = [
    None,
    "",
    " ",
    "[1",
    "1 2",
    "[1,]",
    "'a'",
    "01",
    "1.",
    ".5",
    "+1",
    "-",
    "tru",
    "nan",
    "NaNx",
    "inf",
    "+Infinity",
    "-INF",
    "+INF",
    "-NaN",
    "\ufeff1",
    "1\u00a0",
    "\x0b1",
    "/*c*/1",
    '"\\x"',
    '"\x01"',
    '{"a":}',
    "{a: 1}",
    DIGITS_4301,
]

#: Valid JSON the same value, written the ways json.loads allows.
VALID_JSON = ["1", " 1 ", "\t\n\r1\r\n", "[1]", "NaN", "Infinity", "-Infinity", '"a"', '"\\u0061"', "-0"]


@pytest.mark.parametrize(("output", "truth"), CLASSIFICATION)
def test_classification(jvm: JvmTwin, output: str, truth: str) -> None:  # noqa: F811
    assert_twins(jvm, "classification", output, truth)


@pytest.mark.parametrize(("output", "truth"), REGRESSION)
def test_regression(jvm: JvmTwin, output: str, truth: str) -> None:  # noqa: F811
    assert_twins(jvm, "regression", output, truth)
    assert_twins(jvm, "regression", truth, output)


@pytest.mark.parametrize("task", ["ocr", "speech_to_text"])
@pytest.mark.parametrize(("output", "truth"), TEXT)
def test_text(jvm: JvmTwin, task: str, output: str, truth: str) -> None:  # noqa: F811
    assert_twins(jvm, task, output, truth)
    assert_twins(jvm, task, truth, output)


@pytest.mark.parametrize(("output", "truth"), DETECTION)
def test_detection(jvm: JvmTwin, output: str, truth: str) -> None:  # noqa: F811
    assert_twins(jvm, "detection", output, truth)


@pytest.mark.parametrize("task", ["classification", "regression", "ocr", "detection"])
@pytest.mark.parametrize("text", INVALID_JSON + VALID_JSON)
def test_json_grammar(jvm: JvmTwin, task: str, text: str | None) -> None:  # noqa: F811
    valid = {"classification": "1", "regression": "1", "ocr": '"a"', "detection": "[]"}[task]
    assert_twins(jvm, task, text, valid)
    assert_twins(jvm, task, valid, text)


@pytest.mark.parametrize("text", [t for t in INVALID_JSON + VALID_JSON if t is not None])
def test_json_grammar_in_a_box(jvm: JvmTwin, text: str) -> None:  # noqa: F811
    # A box corner takes any float, infinities too: only the grammar tells "-INF" apart.
    assert_twins(jvm, "detection", f'[{{"box": [0, 0, 2, {text}], "label": "a"}}]', "[]")
    assert_twins(jvm, "detection", "[]", f'[{{"label": "a", "box": [-1, 0, {text}, 2]}}]')


@pytest.mark.parametrize("task", [None, "", "nope", "Classification", "classification "])
def test_unknown_task(jvm: JvmTwin, task: str | None) -> None:  # noqa: F811
    assert_twins(jvm, task, "1", "1")


def test_problem_names_the_value(jvm: JvmTwin) -> None:  # noqa: F811
    answer = jvm.call("statistics", "classification", '"cat"', "2.5")
    assert answer == {
        "problem": "ground_truth: cannot be scored against the classification output: "
        "ground_truth must be a label: a string or an integer, got 2.5: not a string or an integer"
    }


def test_infinite_errors_reach_python(jvm: JvmTwin) -> None:  # noqa: F811
    # Finite values whose error overflows: the statistics are infinite on both sides.
    answer = jvm.call("statistics", "regression", "1e308", "-1e308")
    assert answer == {"stats": {"n": 1.0, "abs_error": math.inf, "squared_error": math.inf}}


def test_corpora_hold_what_python_does() -> None:
    """Pins of Python's rules the corpora rely on, some of them surprising."""
    # pydantic's lax float: booleans, strings with Unicode (Rust) white space, underscores.
    assert scored("regression", "true", "0")
    assert scored("regression", '"\\u00a03\\u3000"', "0")
    assert not scored("regression", '"\\u001c3"', "0")  # Python's isspace, not Rust's trim
    assert scored("regression", '"1_e5"', "0") and not scored("regression", '" 1_0 "', "0")
    assert not scored("regression", OVERFLOW, "0") and scored("regression", LARGEST, "0")
    # Box corners are plain floats: NaN and infinities pass, where a regression's do not.
    assert scored("detection", '[{"box": [NaN, 0, 2, 2], "label": "a"}]', "[]")
    # StrictStr takes lone surrogates (a float string with one does not parse).
    assert scored("ocr", '"\\ud800"', '"a"') and not scored("regression", '"\\ud800"', "0")
    # json.loads reads ints up to 4300 digits, any float, and only its own spellings of infinity.
    assert scored("classification", DIGITS_4300, "1") and not scored("classification", DIGITS_4301, "1")
    assert not scored("regression", '"+Infinity"', "0") and not scored("regression", "-INF", "0")
    assert python_statistics("ocr", '"a\\u001cb"', '"a b"') == {
        "n": 1.0,
        "char_edits": 1.0,
        "char_total": 3.0,
        "word_edits": 0.0,
        "word_total": 2.0,
    }


# --- randomized ---------------------------------------------------------------------------------

CHARS = [
    "a",
    "b",
    "c",
    "3",
    " ",
    '"',
    "\\",
    "/",
    "\n",
    "\t",
    "\x00",
    "\x1c",
    "\x1f",
    "\x7f",
    "\x85",
    "\xa0",
    "é",
    "e\u0301",
    "\u2028",
    "\u3000",
    "\ufeff",
    "😀",
    "\U0001d538",
    "\ud800",
    "\udc00",
]
WORDS = ["the", "cat", "sat", "on", "a", "mat", "é", "😀", "ab", "ba", "x\u0301"]


def random_string(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, longest)))


def as_json(rng: random.Random, value: object) -> str:
    """``value`` as JSON, ASCII-escaped or not, sometimes with white space around it.

    Always escaped when it holds surrogates: raw, they are no UTF-8 (no event holds them), and a
    raw pair is two code points to Python but one character to Java once the text crosses over.
    """
    raw = not any("\ud800" <= c <= "\udfff" for c in json.dumps(value, ensure_ascii=False))
    text = json.dumps(value, ensure_ascii=not (raw and rng.random() < 0.5))
    return rng.choice(["", " ", "\n\t"]) + text + rng.choice(["", " ", "\r\n"])


def random_label(rng: random.Random) -> str:
    kind = rng.randrange(9)
    if kind == 0:
        return str(rng.randint(-3, 3))
    if kind == 1:
        return str(rng.choice([-1, 1]) * rng.randrange(2 ** rng.choice([62, 63, 64, 65, 200])))
    if kind == 2:
        return as_json(rng, random_string(rng, 4))
    if kind == 3:
        return f'"{rng.randint(-3, 3)}"'
    if kind == 4:
        return rng.choice(["3.0", "-0.0", "1e2", "0.5", "-0"])
    if kind == 5:
        return rng.choice(["true", "false", "null"])
    if kind == 6:
        return rng.choice(["[]", "[1]", '{"a": 1}', '"\\u0061"', '"\\ud83d\\ude00"'])
    return rng.choice(['"a"', '"b"', "1", "2"])


def random_number(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return str(rng.randint(-(10**6), 10**6))
    if kind == 1:
        return str(rng.choice([-1, 1]) * rng.randrange(2 ** rng.choice([53, 64, 1023, 1024, 1025])))
    if kind == 2:
        return repr(rng.uniform(-1e6, 1e6))
    if kind == 3:
        return f"{rng.choice(['', '-'])}{rng.randint(0, 9)}.{rng.randint(0, 10**6)}e{rng.randint(-400, 400)}"
    if kind == 4:
        return rng.choice(["NaN", "Infinity", "-Infinity", "true", "false", "null", "[]", "{}"])
    return json.dumps(random_numeric_string(rng))


def random_numeric_string(rng: random.Random) -> str:
    """What pydantic might or might not parse as a float: signs, digits, dots, exponents, words."""
    sign = rng.choice(["", "", "+", "-", "+-"])
    if rng.random() < 0.15:
        word = rng.choice(["inf", "infinity", "nan", "in"])
        core = "".join(c.upper() if rng.random() < 0.5 else c for c in word)
    else:
        whole = str(rng.randint(0, 10**4)) if rng.random() < 0.8 else ""
        fraction = rng.choice(["", ".", "." + str(rng.randint(0, 999))])
        exponent = rng.choice(["", "", f"e{rng.randint(-20, 20)}", f"E+{rng.randint(0, 400)}", "e"])
        core = whole + fraction + exponent
    if rng.random() < 0.3:
        at = rng.randint(0, len(core))
        core = core[:at] + rng.choice(["_", "__"]) + core[at:]
    spaces = PY_SPACE + "\u200b\ufeff"
    before = "".join(rng.choice(spaces) for _ in range(rng.choice([0, 0, 1, 2])))
    after = "".join(rng.choice(spaces) for _ in range(rng.choice([0, 0, 1])))
    return before + sign + core + after


def random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 8)):
        parts.append(rng.choice(WORDS) if rng.random() < 0.7 else random_string(rng, 3))
        parts.append("".join(rng.choice(PY_SPACE + "\u200b") for _ in range(rng.randint(0, 2))))
    return "".join(parts)


def mutate_text(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 3)):
        at = rng.randint(0, len(chars))
        choice = rng.randrange(3)
        if choice == 0 or not chars:
            chars.insert(at, rng.choice(CHARS + [" "] * 4))
        elif choice == 1:
            del chars[min(at, len(chars) - 1)]
        else:
            chars[min(at, len(chars) - 1)] = rng.choice(CHARS)
    return "".join(chars)


def random_box(rng: random.Random) -> dict[str, object]:
    grid = [0, 0.5, 1, 1.5, 2, 3]
    x1, x2 = sorted(rng.choice(grid) for _ in range(2))
    y1, y2 = sorted(rng.choice(grid) for _ in range(2))
    corners: list[object] = [x1, y1, x2, y2]
    if rng.random() < 0.05:
        corners[rng.randrange(4)] = rng.choice(["1", " 2 ", True, None, "x", math.nan, math.inf])
    if rng.random() < 0.03:
        corners.reverse()
    item: dict[str, object] = {"box": corners, "label": rng.choice(["a", "a", "b", 1, "1"])}
    if rng.random() < 0.7:
        item["score"] = rng.choice([0, 0.5, 0.5, 1, 1.0, rng.random(), rng.random()])
    if rng.random() < 0.03:
        item[rng.choice(["score", "label", "id"])] = rng.choice([1.5, -0.1, "0.5", True, None, 1.0])
    return item


def random_boxes(rng: random.Random) -> list[dict[str, object]]:
    return [random_box(rng) for _ in range(rng.randint(0, 5))]


def perturb_boxes(rng: random.Random, items: list[dict[str, object]]) -> list[dict[str, object]]:
    """Truth near the prediction: some boxes kept, some moved, dropped or added."""
    result = []
    for item in items:
        roll = rng.random()
        if roll < 0.5:
            result.append({"box": item["box"], "label": item["label"]})
        elif roll < 0.8:
            result.append(random_box(rng))
    if rng.random() < 0.5:
        result.append(random_box(rng))
    rng.shuffle(result)
    return result


def classification_case(rng: random.Random) -> tuple[str, str]:
    output = random_label(rng)
    return output, output if rng.random() < 0.3 else random_label(rng)


def regression_case(rng: random.Random) -> tuple[str, str]:
    return random_number(rng), random_number(rng)


def text_case(rng: random.Random) -> tuple[str, str]:
    truth = random_text(rng)
    output = mutate_text(rng, truth) if rng.random() < 0.7 else random_text(rng)
    if rng.random() < 0.05:
        return random_label(rng), as_json(rng, truth)  # a number, null, a list… or a string
    return as_json(rng, output), as_json(rng, truth)


def detection_case(rng: random.Random) -> tuple[str, str]:
    output = random_boxes(rng)
    truth = perturb_boxes(rng, output) if rng.random() < 0.8 else random_boxes(rng)
    return as_json(rng, output), as_json(rng, truth)


RANDOM_CASES: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "classification": classification_case,
    "regression": regression_case,
    "ocr": text_case,
    "speech_to_text": text_case,
    "detection": detection_case,
}


@pytest.mark.parametrize("task", sorted(RANDOM_CASES))
def test_randomized(jvm: JvmTwin, task: str) -> None:  # noqa: F811
    rng = random.Random(f"statistics-{task}")
    outcomes = []
    for _ in range(400):
        output, truth = RANDOM_CASES[task](rng)
        assert_twins(jvm, task, output, truth)
        outcomes.append(scored(task, output, truth))
    # The generator reaches both sides of the task's rules.
    assert 0.2 < sum(outcomes) / len(outcomes) < 0.995, sum(outcomes)
