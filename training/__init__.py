"""Use cases, datasets, training, evaluation, gates and reference profiles (the retraining issue)."""

import warnings

__all__ = ["import_skops"]


def import_skops() -> None:
    """Import skops, with which MLflow saves and loads scikit-learn models, before MLflow does.

    As it is imported, skops looks every scipy.special function up in every
    loaded module. In an Airflow task those include Airflow's moved modules,
    and each lookup logs a deprecation warning: about 1,200 lines in the
    train and gate tasks' logs. Airflow sets its own warning filters when a
    task starts, so the filter is set here, around the import.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The `airflow\.", category=FutureWarning)
        import skops.io  # noqa: F401
