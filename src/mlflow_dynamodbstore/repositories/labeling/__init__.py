"""Labeling: label schemas, review queues and their items (MLflow's ``mlflow.genai``
label_schemas and review_queues), each listed per experiment or per queue."""
