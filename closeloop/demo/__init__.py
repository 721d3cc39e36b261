"""The closed loop, end to end, on the local stack: `closeloop demo` (being built)."""
