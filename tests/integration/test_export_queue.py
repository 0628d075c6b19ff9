"""The export's unit queue on moto's SQS: many units go out in batches of ten, several batches at once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zoho_aep.adapters import aws as aws_clients
from zoho_aep.adapters.sqs import ExportQueue
from zoho_aep.domain.errors import ExportQueueError


@pytest.fixture
def queue(aws: None) -> tuple[Any, str]:
    sqs = aws_clients.client("sqs")
    return sqs, sqs.create_queue(QueueName="zoho-aep-units")["QueueUrl"]


def received(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        messages = answer.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_every_unit_of_a_large_tick_arrives_once(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    bodies = [json.dumps({"n": i}) for i in range(237)]  # 24 batches, the last one short

    ExportQueue(url).send(bodies)

    assert sorted(received(sqs, url)) == sorted(bodies)


def test_a_refused_batch_is_an_export_queue_error(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    sqs.delete_queue(QueueUrl=url)

    with pytest.raises(ExportQueueError):
        ExportQueue(url).send([json.dumps({"n": i}) for i in range(25)])
