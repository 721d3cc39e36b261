"""The streaming feedback job's configuration, SQL and UDFs (the entry point is flink/feedback_job.py).

``settings`` and ``sql`` import in both environments; ``udfs`` needs PyFlink,
so only the Flink environment imports it.
"""
