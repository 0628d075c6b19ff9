"""One worker invocation environment of a fanned-out cycle, as Lambda's SQS event source drives it.

``python -m benchmarks.fanout_worker SHARD_QUEUE_URL`` (with the product's environment) imports
``functions/token_refresh/app.py`` like a Lambda instance, then receives one shard message at a time,
invokes ``shard_handler`` with an SQS event of that record, and deletes the message, until its stdin
closes. Each worker is its own process, as each Lambda instance is.
"""

from __future__ import annotations

import sys
import threading

from benchmarks import product
from benchmarks.world import FakeContext, load_handler, quiet_stdout, silence

MAX_POLLS = 100_000  # a bound; the parent closes stdin long before


def main() -> None:
    aws = product.get("aws")

    shard_queue_url = sys.argv[1]
    handler = load_handler("token_refresh")
    silence(handler.logger)
    sqs = aws.client("sqs")
    stop = threading.Event()

    def wait_for_parent() -> None:
        sys.stdin.read()  # returns when the parent closes our stdin
        stop.set()

    threading.Thread(target=wait_for_parent, daemon=True).start()
    print("ready", flush=True)
    for _ in range(MAX_POLLS):
        if stop.is_set():
            return
        answer = sqs.receive_message(QueueUrl=shard_queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            event = {"Records": [{"body": message["Body"], "messageId": message["MessageId"]}]}
            with quiet_stdout():
                handler.shard_handler(event, FakeContext(300.0))
            sqs.delete_message(QueueUrl=shard_queue_url, ReceiptHandle=message["ReceiptHandle"])


if __name__ == "__main__":
    main()
