"""Use cases, datasets, training, evaluation, gates and reference profiles (the retraining issue)."""

import warnings

# skops, with which MLflow saves scikit-learn models, looks every scipy.special function up in every
# loaded module as it is imported. In an Airflow task those include Airflow's moved modules, and
# each lookup logs a deprecation warning: about 1,200 lines in the train and gate tasks' logs.
warnings.filterwarnings("ignore", message=r"The `airflow\.", category=FutureWarning)
