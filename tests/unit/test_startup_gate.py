"""The start-up gate's rules (gateway/startup.py), with plain callables for DynamoDB: what
counts as unavailable, how often it is asked again, steps run once and in order, other
errors raised. The gate under a real server is in tests/integration/test_faults_http.py."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from mlflow_dynamodbstore.gateway.errors import Unavailable
from mlflow_dynamodbstore.gateway.startup import StartupGate, unavailability


class World:
    """DynamoDB up or down, a clock, and what ran."""

    def __init__(self) -> None:
        self.up = False
        self.now = 0.0
        self.probes = 0
        self.ran: list[str] = []

    def probe(self) -> None:
        self.probes += 1
        if not self.up:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    def step(self, name: str):
        def run() -> None:
            if not self.up:
                raise Unavailable("GetItem", "down")
            self.ran.append(name)

        return run


def _gate(world: World) -> StartupGate:
    gate = StartupGate(world.probe, interval=1.0, clock=lambda: world.now)
    gate.add("table", world.step("table"))
    gate.add("settings", world.step("settings"))
    return gate


def test_down_at_start_answers_unavailable_then_opens_once_up():
    world = World()
    gate = _gate(world)
    gate.open_now()  # logged, not raised
    assert not gate.is_open and world.probes == 1
    with pytest.raises(Unavailable):
        gate.check()  # within the interval: no new probe
    assert world.probes == 1
    world.now = 1.5
    with pytest.raises(Unavailable):
        gate.check()
    assert world.probes == 2
    world.up, world.now = True, 3.0
    gate.check()
    assert gate.is_open and world.ran == ["table", "settings"]
    gate.check()
    assert world.probes == 3 and world.ran == ["table", "settings"]


def test_a_step_added_while_open_runs_now_and_is_kept_when_dynamodb_fails():
    world = World()
    world.up = True
    gate = _gate(world)
    gate.open_now()
    gate.add("seed", world.step("seed"))
    assert world.ran == ["table", "settings", "seed"]
    world.up = False
    gate.add("seed-2", world.step("seed-2"))  # a store made while DynamoDB fails: no error
    assert not gate.is_open
    world.up, world.now = True, 5.0
    gate.check()
    assert world.ran[-1] == "seed-2" and gate.is_open


def test_other_errors_are_raised_and_the_step_stays_pending():
    world = World()
    world.up = True
    calls = []

    def refused() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("no table and not allowed to create it")

    gate = StartupGate(world.probe, interval=1.0, clock=lambda: world.now)
    gate.add("table", refused)
    with pytest.raises(ValueError):
        gate.open_now()
    world.now = 2.0
    gate.check()
    assert gate.is_open and len(calls) == 2


def test_what_counts_as_unavailable():
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "Op")
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "DescribeTable")
    server = ClientError(
        {"Error": {"Code": "Boom"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "Op"
    )
    assert unavailability(throttled) and unavailability(server)
    assert unavailability(EndpointConnectionError(endpoint_url="http://x"))
    assert unavailability(Unavailable("GetItem", "InternalServerError"))
    assert unavailability(missing) is None and unavailability(ValueError("x")) is None
