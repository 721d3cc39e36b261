"""The feedback job's SQL, one module a stage: literals, connectors, contract checks, and the
pair-join graph's keyed step, windows, dead letters and lake."""
