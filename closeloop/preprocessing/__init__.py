"""The Flink preprocessing job's Python side: its settings, its SQL and its per-record function."""
