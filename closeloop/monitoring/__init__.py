"""Model monitoring logic shared by the streaming job, the DAGs and the tests: drift, profiles."""
