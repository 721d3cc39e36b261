"""A tiny bounded PyFlink SQL job for the connector test: read one topic, write another.

Run with `flink run -py kafka_passthrough.py --bootstrap … --source … --sink …`.
"""

from __future__ import annotations

import argparse

from pyflink.table import EnvironmentSettings, TableEnvironment

SOURCE_DDL = """
CREATE TABLE readings (
    id STRING,
    amount DOUBLE
) WITH (
    'connector' = 'kafka',
    'topic' = '{source}',
    'properties.bootstrap.servers' = '{bootstrap}',
    'properties.group.id' = '{source}-job',
    'scan.startup.mode' = 'earliest-offset',
    'scan.bounded.mode' = 'latest-offset',
    'format' = 'json'
)
"""

SINK_DDL = """
CREATE TABLE doubled (
    id STRING,
    amount DOUBLE,
    label STRING
) WITH (
    'connector' = 'kafka',
    'topic' = '{sink}',
    'properties.bootstrap.servers' = '{bootstrap}',
    'format' = 'json'
)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    args = parser.parse_args()

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.execute_sql(SOURCE_DDL.format(source=args.source, bootstrap=args.bootstrap))
    t_env.execute_sql(SINK_DDL.format(sink=args.sink, bootstrap=args.bootstrap))
    t_env.execute_sql(
        "INSERT INTO doubled SELECT id, amount * 2, UPPER(id) FROM readings WHERE amount >= 0"
    ).wait()


if __name__ == "__main__":
    main()
