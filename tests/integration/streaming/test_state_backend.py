"""pair_join's RocksDB state is set up for point lookups, as the job's configuration asks.

A key Flink does not know is dropped without a word: the job once asked for
partitioned index and filter blocks under a key Flink 2.x does not have, and
ran without them. So this reads what RocksDB itself wrote down:
each instance keeps its options in an OPTIONS file beside its data, in the
TaskManager's working directory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from closeloop.stack.manager import LocalStack
from closeloop.stack.services.flink import FlinkService
from tests.integration.streaming.checks import SETTINGS
from tests.waiting import NotYet, eventually

_SECTION = re.compile(r'^\[(\w+)(?:/\w+)? "(.*)"\]$')


def rocksdb_options(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """An OPTIONS file's sections, e.g. ("CFOptions", "state") -> {"compression_per_level": …}."""
    sections: dict[tuple[str, str], dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if header := _SECTION.match(line.strip()):
            current = sections.setdefault((header[1], header[2]), {})
        elif "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition("=")
            current[key] = value
    return sections


def _latest_options(db: Path) -> Path | None:
    # RocksDB writes a new OPTIONS-<number> file as each column family is created.
    files = sorted(db.glob("OPTIONS-*"), key=lambda p: int(p.name.split("-")[1]))
    return files[-1] if files else None


def test_pair_join_state_has_bloom_filters_cached_and_no_compression(
    stack: LocalStack, run_job: Callable
) -> None:
    flink = stack.services["flink"]
    assert isinstance(flink, FlinkService)
    record = run_job(**SETTINGS, state_backend="rocksdb", job_parallelism=1)

    @eventually(timeout=180, interval=1)
    def pair_join_state() -> dict[tuple[str, str], dict[str, str]]:
        dbs = list(flink.tmp_dir.glob(f"*/tmp/job_{record.job_id}_op_KeyedProcessOperator_*/db"))
        for db in dbs:
            if (options := _latest_options(db)) and ("CFOptions", "state") in (
                found := rocksdb_options(options)
            ):
                return found
        raise NotYet(f"no OPTIONS file with pair_join's state column family yet ({len(dbs)} instances)")

    options = pair_join_state()
    table = options[("TableOptions", "state")]
    assert table["filter_policy"].startswith("bloomfilter"), table["filter_policy"]
    assert table["whole_key_filtering"] == "true"
    # Filters and indexes in the block cache, which is managed memory, sized for them.
    assert table["cache_index_and_filter_blocks"] == "true"
    assert options[("CFOptions", "state")]["compression_per_level"] == "kNoCompression"
