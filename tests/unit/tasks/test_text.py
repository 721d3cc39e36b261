"""Character and word error rates against jiwer on fixed cases."""

from __future__ import annotations

import jiwer
import pytest

from closeloop.tasks import TaskError, get_task

CASES = [
    (["the cat sat"], ["the cat sat"]),
    (["the cat sit", "hello  world there"], ["the cat sat", "hello world"]),
    (["", "abc"], ["a b c", "abd"]),
    (["  leading and trailing  "], ["leading and trailing"]),
    (["one two three four"], ["four three two one"]),
    (["ünïcödé wörds"], ["unicode words"]),
]


@pytest.mark.parametrize("task_name", ["ocr", "speech_to_text"])
@pytest.mark.parametrize(("outputs", "truths"), CASES)
def test_matches_jiwer(task_name: str, outputs: list[str], truths: list[str]) -> None:
    metrics = get_task(task_name).metrics(outputs, truths)
    assert metrics["cer"] == pytest.approx(jiwer.cer(truths, outputs), abs=1e-12)
    assert metrics["wer"] == pytest.approx(jiwer.wer(truths, outputs), abs=1e-12)


def test_empty_references_are_an_error() -> None:
    with pytest.raises(TaskError, match="every ground truth is empty"):
        get_task("ocr").metrics(["x"], [" "])


def test_outputs_are_strings() -> None:
    with pytest.raises(TaskError, match="output must be a string for a ocr model"):
        get_task("ocr").validate_output(7)
