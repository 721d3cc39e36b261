"""skops is imported without filling an Airflow task's log with deprecation warnings."""

from __future__ import annotations

import subprocess
import sys

# In a fresh interpreter: this one may have imported skops already. "always" stands for the
# filters Airflow sets as a task starts, which show every warning.
_SCRIPT = """
import warnings
import airflow.utils.timezone
from training import import_skops
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    import_skops()
import skops.io
print(sum("airflow" in str(w.message) for w in seen))
"""


def test_importing_skops_in_a_process_with_airflow_logs_no_deprecation_warnings() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "0"
