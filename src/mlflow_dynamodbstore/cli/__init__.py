"""The ``mlflow-dynamodbstore`` admin command."""
