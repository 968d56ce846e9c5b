"""Evaluation datasets (``mlflow.genai.datasets``): the dataset, its experiment links and
its records, all in the dataset's own partition."""
