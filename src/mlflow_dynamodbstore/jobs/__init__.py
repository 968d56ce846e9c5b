"""MLflow's job backend on the DynamoDB table: the wiring that makes MLflow use
``stores/job_store.DynamoDBJobStore`` (see ``mlflow_patch`` and docs/jobs.md)."""
