-- One Postgres, two databases: Airflow's metadata and MLflow's tracking store.
CREATE DATABASE airflow;
CREATE DATABASE mlflow;
