"""The test suites' AWS faults answer in each service's own protocol, so botocore parses them as AWS's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from tests.support.aws_faults import AwsFault, AwsFaults, no_backoff
from zoho_aep.adapters import aws as aws_clients

ATTEMPTS = 5  # the product's clients: standard mode, 4 retries


@pytest.fixture
def backoff() -> Iterator[list[float]]:
    with no_backoff() as delays:
        yield delays


def faulted(client: Any, fault: AwsFault) -> AwsFaults:
    faults = AwsFaults(client)
    faults.add(fault)
    return faults


@pytest.mark.parametrize(
    ("kind", "status", "code", "attempts"),
    [
        ("throttle", 503, "SlowDown", ATTEMPTS),
        ("error", 500, "InternalError", ATTEMPTS),
        ("denied", 403, "AccessDenied", 1),
    ],
)
def test_s3_faults_are_s3s_xml_errors(
    s3: Any, backoff: list[float], kind: str, status: int, code: str, attempts: int
) -> None:
    s3.create_bucket(Bucket="fault-bucket")
    s3.put_object(Bucket="fault-bucket", Key="state/a.json", Body=b"{}")
    faults = faulted(s3, AwsFault("GetObject", kind, secret="state/"))

    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket="fault-bucket", Key="state/a.json")

    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert faults.calls["GetObject"] == attempts
    faults.close()


def test_an_s3_head_gets_the_status_alone_and_other_keys_are_left_alone(s3: Any, backoff: list[float]) -> None:
    s3.create_bucket(Bucket="fault-bucket")
    s3.put_object(Bucket="fault-bucket", Key="zoho/f", Body=b"x")
    s3.put_object(Bucket="fault-bucket", Key="state/s", Body=b"x")
    faults = faulted(s3, AwsFault("HeadObject", "denied", secret="zoho/"))

    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket="fault-bucket", Key="zoho/f")

    assert raised.value.response["Error"]["Code"] == "403"
    assert s3.head_object(Bucket="fault-bucket", Key="state/s")["ContentLength"] == 1
    assert faults.sent == [("HeadObject", "zoho/f"), ("HeadObject", "state/s")]
    faults.close()


def test_a_lost_s3_write_happened_and_its_retry_meets_the_condition(s3: Any, backoff: list[float]) -> None:
    s3.create_bucket(Bucket="fault-bucket")
    faults = faulted(s3, AwsFault("PutObject", "lost", times=1))

    with pytest.raises(ClientError) as raised:  # botocore's retry is refused: the first one landed
        s3.put_object(Bucket="fault-bucket", Key="state/s", Body=b"1", IfNoneMatch="*")

    assert raised.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket="fault-bucket", Key="state/s")["Body"].read() == b"1"
    assert [c for c in faults.carried if c[0] == "PutObject"] == [("PutObject", "state/s")] * 2
    faults.close()


@pytest.mark.parametrize(("kind", "code"), [("throttle", "ThrottlingException"), ("error", "InternalError")])
def test_sqs_faults_are_json_errors(aws: None, backoff: list[float], kind: str, code: str) -> None:
    sqs = aws_clients.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    faults = faulted(sqs, AwsFault("SendMessageBatch", kind))

    with pytest.raises(ClientError) as raised:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "0", "MessageBody": "x"}])

    assert raised.value.response["Error"]["Code"] == code
    assert faults.calls["SendMessageBatch"] == ATTEMPTS
    faults.close()


def test_an_sqs_batch_can_fail_one_entry_in_a_200(aws: None, backoff: list[float]) -> None:
    sqs = aws_clients.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    faults = faulted(sqs, AwsFault("SendMessageBatch", failed_entries=True))

    answer = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "0", "MessageBody": "x"}])

    assert answer["Failed"][0]["Code"] == "InternalError" and not answer.get("Successful")
    faults.close()


def test_a_timeout_is_botocores_own(s3: Any, backoff: list[float]) -> None:
    s3.create_bucket(Bucket="fault-bucket")
    faults = faulted(s3, AwsFault("ListObjectsV2", "timeout", secret="zoho/"))

    with pytest.raises(ReadTimeoutError):
        s3.list_objects_v2(Bucket="fault-bucket", Prefix="zoho/")

    assert s3.list_objects_v2(Bucket="fault-bucket", Prefix="state/")["KeyCount"] == 0
    faults.close()
