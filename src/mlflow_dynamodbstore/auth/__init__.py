"""The ``dynamodb-auth`` app: MLflow's basic-auth app with its users, roles and
permissions kept in the DynamoDB table (see docs/auth.md)."""
