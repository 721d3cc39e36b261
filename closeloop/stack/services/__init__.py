"""The services of the local stack, one module each."""
