"""Text outputs (OCR, speech-to-text): character and word error rates.

Both are corpus-level, as jiwer computes them for a list of sentences: the
edits of all pairs over the length of all references. Characters keep inner
white space; words are the white-space-separated tokens. Edit distances come
from rapidfuzz.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import StrictStr
from rapidfuzz.distance import Levenshtein

from closeloop.tasks.base import Task, TaskError

__all__ = ["OcrTask", "SpeechToTextTask", "TextTask", "error_rates"]


def error_rates(outputs: list[str], truths: list[str]) -> dict[str, float]:
    char_edits = char_total = word_edits = word_total = 0
    for output, truth in zip(outputs, truths, strict=True):
        hypothesis, reference = output.strip(), truth.strip()
        char_edits += Levenshtein.distance(reference, hypothesis)
        char_total += len(reference)
        words = reference.split()
        word_edits += Levenshtein.distance(words, hypothesis.split())
        word_total += len(words)
    if char_total == 0 or word_total == 0:
        raise TaskError("text: every ground truth is empty; error rates are undefined")
    return {"cer": char_edits / char_total, "wer": word_edits / word_total}


class TextTask(Task):
    output_type: ClassVar[Any] = StrictStr
    output_description = "a string"
    metric_names = ("cer", "wer")

    def _metrics(self, outputs: list[Any], truths: list[Any]) -> dict[str, float]:
        return error_rates(outputs, truths)


class OcrTask(TextTask):
    name = "ocr"


class SpeechToTextTask(TextTask):
    name = "speech_to_text"
