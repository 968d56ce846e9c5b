"""Make sure the table exists (CloudFormation on AWS, CreateTable locally) and is seeded."""

from mlflow_dynamodbstore.provisioning.ensure import ProvisionMode, ensure_table

__all__ = ["ProvisionMode", "ensure_table"]
