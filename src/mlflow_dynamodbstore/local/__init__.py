"""Running AWS's DynamoDB Local for development and tests."""
