"""Use cases, datasets, training, evaluation, gates and reference profiles (the retraining issue)."""
