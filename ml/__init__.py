"""ML stage: features, models, scoring and write-back of labels. Importable without Airflow."""
