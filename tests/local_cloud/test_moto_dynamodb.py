"""DynamoDB requests are atomic per item in the local cloud, as on AWS, however many threads
make them (moto alone lets a conditional write's check and change interleave)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_cloud.runtime import moto_patches

LIMIT = 200
THREADS = 8


@pytest.fixture
def table() -> Iterator[str]:
    moto_patches.apply()
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="quota",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield "quota"


@pytest.fixture
def eager_thread_switches() -> Iterator[None]:
    """Switch threads as often as the interpreter can: a window between a condition's check
    and its change, if there is one, is then hit in every run, not once in a while."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("eager_thread_switches")
def test_a_conditional_write_is_won_by_one_thread_at_a_time(table: str) -> None:
    """Threads take a counter's units while it is below LIMIT: exactly LIMIT may win."""
    won: list[int] = []

    def take_until_refused() -> None:
        client = boto3.client("dynamodb")
        while True:
            try:
                client.update_item(
                    TableName=table,
                    Key={"pk": {"S": "counter"}},
                    UpdateExpression="ADD used :one",
                    ConditionExpression="attribute_not_exists(used) OR used < :limit",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(LIMIT)}},
                )
            except ClientError as err:
                assert err.response["Error"]["Code"] == "ConditionalCheckFailedException"
                return
            won.append(1)

    threads = [threading.Thread(target=take_until_refused) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "counter"}})
    assert (len(won), item["Item"]["used"]["N"]) == (LIMIT, str(LIMIT))


@pytest.mark.usefixtures("eager_thread_switches")
def test_a_read_never_sees_an_update_half_applied(table: str) -> None:
    """One thread moves two attributes together; readers must always find them equal."""
    client = boto3.client("dynamodb")
    client.put_item(TableName=table, Item={"pk": {"S": "pair"}, "a": {"N": "0"}, "b": {"N": "0"}})
    done = threading.Event()
    torn: list[tuple[str, str]] = []

    def write() -> None:
        writer = boto3.client("dynamodb")
        for _ in range(1000):
            writer.update_item(
                TableName=table,
                Key={"pk": {"S": "pair"}},
                UpdateExpression="ADD a :one, b :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        done.set()

    def read() -> None:
        reader = boto3.client("dynamodb")
        while not done.is_set():
            item = reader.get_item(TableName=table, Key={"pk": {"S": "pair"}})["Item"]
            if item["a"] != item["b"]:
                torn.append((item["a"]["N"], item["b"]["N"]))

    threads = [threading.Thread(target=write), *(threading.Thread(target=read) for _ in range(3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert torn == []
