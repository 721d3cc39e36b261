"""Text outputs (OCR, speech-to-text): character and word error rates.

Both are corpus-level, as jiwer computes them for a list of sentences: the
edits of all pairs over the length of all references. Characters keep inner
white space; words are the white-space-separated tokens. Edit distances come
from rapidfuzz.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import StrictStr
from rapidfuzz.distance import Levenshtein

from closeloop.tasks.base import Task, TaskError

__all__ = ["OcrTask", "SpeechToTextTask", "TextTask", "edit_counts"]


def edit_counts(output: str, truth: str) -> dict[str, float]:
    """Character and word edits of one pair, with the reference's lengths."""
    hypothesis, reference = output.strip(), truth.strip()
    words = reference.split()
    return {
        "char_edits": float(Levenshtein.distance(reference, hypothesis)),
        "char_total": float(len(reference)),
        "word_edits": float(Levenshtein.distance(words, hypothesis.split())),
        "word_total": float(len(words)),
    }


class TextTask(Task):
    output_type: ClassVar[Any] = StrictStr
    output_description = "a string"
    metric_names = ("cer", "wer")

    def _statistics(self, output: Any, truth: Any) -> dict[str, float]:
        return {"n": 1.0, **edit_counts(output, truth)}

    def _from_statistics(self, totals: Mapping[str, float]) -> dict[str, float]:
        if not totals.get("char_total") or not totals.get("word_total"):
            raise TaskError("text: every ground truth is empty; error rates are undefined")
        return {
            "cer": totals["char_edits"] / totals["char_total"],
            "wer": totals["word_edits"] / totals["word_total"],
        }


class OcrTask(TextTask):
    name = "ocr"


class SpeechToTextTask(TextTask):
    name = "speech_to_text"
