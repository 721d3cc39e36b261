"""The gateway's HTTP routes, one module per concern; app.py puts them together."""
