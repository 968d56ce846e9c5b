import pytest
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.uri import DynamoDBUri, parse_dynamodb_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("dynamodb://us-east-1/mlflow", DynamoDBUri("mlflow", region="us-east-1")),
        ("dynamodb://eu-central-2/my_table.v1", DynamoDBUri("my_table.v1", region="eu-central-2")),
        ("dynamodb://us-gov-west-1/tbl", DynamoDBUri("tbl", region="us-gov-west-1")),
        (
            "dynamodb://localhost:8000/mlflow",
            DynamoDBUri("mlflow", endpoint_url="http://localhost:8000"),
        ),
        (
            "dynamodb://127.0.0.1:4566/mlflow/",
            DynamoDBUri("mlflow", endpoint_url="http://127.0.0.1:4566"),
        ),
        (
            "dynamodb://http://localhost:8000/mlflow",
            DynamoDBUri("mlflow", endpoint_url="http://localhost:8000"),
        ),
        (
            "dynamodb://https://dynamo.example.com:443/mlflow",
            DynamoDBUri("mlflow", endpoint_url="https://dynamo.example.com:443"),
        ),
        (
            "dynamodb://https://dynamo.example.com/mlflow",
            DynamoDBUri("mlflow", endpoint_url="https://dynamo.example.com"),
        ),
    ],
)
def test_valid_uris(uri, expected):
    assert parse_dynamodb_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("sqlite:///x.db", "scheme"),
        ("dynamodb://", "expected"),
        ("dynamodb://us-east-1", "expected"),
        ("dynamodb://us-east-1/", "expected"),
        ("dynamodb://notaregion/mlflow", "neither an AWS region"),
        ("dynamodb://localhost/mlflow", "neither an AWS region"),
        ("dynamodb://localhost:abc/mlflow", "not a valid port"),
        ("dynamodb://localhost:70000/mlflow", "not a valid port"),
        ("dynamodb://us-east-1/ab", "not a valid DynamoDB table name"),
        ("dynamodb://us-east-1/bad name", "not a valid DynamoDB table name"),
        ("dynamodb://us-east-1/a/b", "not a valid DynamoDB table name"),
        ("dynamodb://http://localhost:8000", "needs a host and a table"),
        ("dynamodb://us-east-1/mlflow?x=1", "query strings"),
    ],
)
def test_invalid_uris_say_what_is_valid(uri, fragment):
    with pytest.raises(MlflowException) as info:
        parse_dynamodb_uri(uri)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert fragment in info.value.message
    assert "dynamodb://<region>/<table>" in info.value.message


def test_local_detection_honours_env(monkeypatch):
    uri = parse_dynamodb_uri("dynamodb://us-east-1/mlflow")
    assert not uri.is_local
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000")
    assert uri.is_local
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.us-east-1.amazonaws.com")
    assert not uri.is_local
    assert parse_dynamodb_uri("dynamodb://localhost:8000/mlflow").is_local


def test_client_uses_env_endpoint(monkeypatch):
    from mlflow_dynamodbstore.gateway.client import make_client

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8123")
    client = make_client(parse_dynamodb_uri("dynamodb://eu-west-1/mlflow"))
    assert client.meta.endpoint_url == "http://localhost:8123"
    assert client.meta.region_name == "eu-west-1"


@pytest.mark.parametrize(
    ("uri", "xray"),
    [
        ("dynamodb://us-east-1/mlflow", None),
        ("dynamodb://us-east-1/mlflow?xray=true", True),
        ("dynamodb://us-east-1/mlflow/?xray=TRUE", True),
        ("dynamodb://localhost:8000/mlflow?xray=false", False),
        ("dynamodb://http://localhost:8000/mlflow?xray=1", True),
    ],
)
def test_xray_query_parameter(uri, xray):
    parsed = parse_dynamodb_uri(uri)
    assert parsed.xray is xray
    assert parsed.table_name == "mlflow"


@pytest.mark.parametrize(
    "uri",
    [
        "dynamodb://us-east-1/mlflow?xray=maybe",
        "dynamodb://us-east-1/mlflow?xray=true&x=1",
        "dynamodb://us-east-1/mlflow?xray",
        "dynamodb://us-east-1/mlflow?xray=true#frag",
    ],
)
def test_other_query_strings_are_refused(uri):
    with pytest.raises(MlflowException, match="query strings"):
        parse_dynamodb_uri(uri)
