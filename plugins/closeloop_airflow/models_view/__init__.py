"""The "Models" view of closeloop's Airflow plugin: each model's champion, live health and retrains.

``sources`` reads what the services hold (MLflow's registry, the live
metrics Prometheus scrapes from the metrics exporter); ``overview``
assembles the page's rows from what was read, and says which source could
not be reached instead of failing.
"""
