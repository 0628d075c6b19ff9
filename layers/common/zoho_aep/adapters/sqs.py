"""The queues on SQS: the refresh fan-out's (shards out, results back) and the export's unit queue."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ..domain.errors import ExportQueueError, RefreshQueueError
from . import aws
from .aws import AwsAdapter, client_errors

RECEIVE_WAIT_SECONDS = 5  # long polling, well under the SQS client's read timeout


class ShardQueues(Protocol):
    """Where shards go and results come back (SQS in AWS; tests hand in an in-memory double)."""

    def send_shard(self, body: str, key: str) -> None: ...

    def send_result(self, body: str) -> None: ...

    def receive_results(self, wait_seconds: int) -> list[tuple[str, str]]: ...

    def delete_result(self, receipt: str) -> None: ...


class SqsShardQueues(AwsAdapter):
    """The shard queue (read by the workers' event source) and the result queue (read by the planner).

    The shard queue is FIFO: each shard is its own message group with its own deduplication id, so
    shards run in parallel but none is handed to two workers at once (a standard queue may deliver a
    message twice, and two workers would then refresh the same connections together). Results may
    arrive twice: the planner counts each shard once.
    """

    service = "sqs"

    def __init__(self, shard_queue_url: str | None, result_queue_url: str, client: Any = None) -> None:
        super().__init__(client)
        self.shard_queue_url = shard_queue_url
        self.result_queue_url = result_queue_url

    def _call(self, what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except client_errors() as exc:
            raise RefreshQueueError(f"SQS refused to {what} ({aws.error_code(exc) or 'error'}).") from exc

    def send_shard(self, body: str, key: str) -> None:
        """Send one shard; ``key`` (unique per cycle and shard) is its message group and deduplication id."""
        if not self.shard_queue_url:
            raise RefreshQueueError("No shard queue is configured (REFRESH_SHARD_QUEUE_URL).")
        fifo = {"MessageGroupId": key, "MessageDeduplicationId": key} if self.shard_queue_url.endswith(".fifo") else {}
        self._call(
            "send a refresh shard", self.client.send_message, QueueUrl=self.shard_queue_url, MessageBody=body, **fifo
        )

    def send_result(self, body: str) -> None:
        self._call("send a shard result", self.client.send_message, QueueUrl=self.result_queue_url, MessageBody=body)

    def receive_results(self, wait_seconds: int) -> list[tuple[str, str]]:
        answer = self._call(
            "receive shard results",
            self.client.receive_message,
            QueueUrl=self.result_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=max(0, min(RECEIVE_WAIT_SECONDS, wait_seconds)),
        )
        return [(m.get("Body", ""), m["ReceiptHandle"]) for m in answer.get("Messages", [])]

    def delete_result(self, receipt: str) -> None:
        self._call(
            "delete a shard result", self.client.delete_message, QueueUrl=self.result_queue_url, ReceiptHandle=receipt
        )


class ExportQueue(AwsAdapter):
    """The export's unit queue: one message per unit to run (a standard queue, so a poll can be delayed)."""

    service = "sqs"
    MAX_DELAY_SECONDS = 900  # SQS's limit on a message's delay

    def __init__(self, queue_url: str, client: Any = None) -> None:
        super().__init__(client)
        self.queue_url = queue_url

    SENDERS = 8  # batches in flight at once: a tick of 10,000 connections x 4 modules is 4,000 batches

    def send(self, bodies: list[str], delay_seconds: int = 0) -> None:
        """Send messages, ten to a call, several calls at once; a refused one raises ExportQueueError
        (the others may have gone: a unit sent twice is harmless, its lease and watermark see to it)."""
        delay = max(0, min(self.MAX_DELAY_SECONDS, delay_seconds))
        batches = [bodies[start : start + 10] for start in range(0, len(bodies), 10)]
        if len(batches) <= 1:
            for batch in batches:
                self._send_batch(batch, delay)
            return
        with ThreadPoolExecutor(max_workers=self.SENDERS, thread_name_prefix="export-send") as pool:
            for future in [pool.submit(self._send_batch, batch, delay) for batch in batches]:
                future.result()

    def _send_batch(self, batch: list[str], delay: int) -> None:
        entries = [{"Id": str(i), "MessageBody": body, "DelaySeconds": delay} for i, body in enumerate(batch)]
        try:
            answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except client_errors() as exc:
            raise ExportQueueError(f"SQS refused the export units ({aws.error_code(exc) or 'error'}).") from exc
        if answer.get("Failed"):
            raise ExportQueueError(f"SQS did not take {len(answer['Failed'])} export unit(s).")
