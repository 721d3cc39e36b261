"""The raw-input specs of the registered use cases as one JSON file, for the preprocessing of raw
events, which runs where the use cases are not installed (the Flink environment).

``python -m training.usecases.raw_specs --write`` regenerates it; a unit test fails when it is stale.
"""

from __future__ import annotations

import json
import sys

from closeloop.config import PROJECT_ROOT
from closeloop.media.normalize import RawInput
from training.usecases.registry import USE_CASES, use_case_class

__all__ = ["SPEC_FILE", "raw_specs_json", "stale"]

SPEC_FILE = PROJECT_ROOT / "flink" / "raw_inputs.json"


def raw_specs_json() -> str:
    """Use case name -> its model's name and its raw_spec, for every registered use case of raw inputs."""
    specs = {}
    for name in USE_CASES:
        use_case = use_case_class(name)
        if use_case.raw_spec is not None:
            entry = RawInput(model_name=use_case.model_name, spec=use_case.raw_spec)
            specs[name] = entry.model_dump(mode="json")
    return json.dumps(specs, indent=2, sort_keys=True) + "\n"


def stale() -> bool:
    return not SPEC_FILE.exists() or SPEC_FILE.read_text() != raw_specs_json()


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        SPEC_FILE.write_text(raw_specs_json())
        print(f"wrote {SPEC_FILE}")
    else:
        print(f"{SPEC_FILE} is {'stale' if stale() else 'up to date'} (--write regenerates it)")
        sys.exit(1 if stale() else 0)
