"""One export worker instance, as Lambda's SQS event source drives ``unit_handler``.

``python -m benchmarks.export_worker UNIT_QUEUE_URL`` (with the product's environment) imports
``functions/zoho_export/app.py`` like a Lambda instance, then receives one unit message at a time
(the template's batch size), invokes ``unit_handler`` with an SQS event of that record and deletes
the message unless the answer lists it as a batch item failure, until its stdin closes. A unit that
is not over is sent back to the queue by the product itself, with its delay, as in AWS.
"""

from __future__ import annotations

import sys
import threading

from benchmarks import product
from benchmarks.world import FakeContext, load_handler, quiet_stdout, silence

MAX_POLLS = 100_000  # a bound; the parent closes stdin long before


def main() -> None:
    aws = product.get("aws")

    queue_url = sys.argv[1]
    handler = load_handler("zoho_export")
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
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            event = {"Records": [{"body": message["Body"], "messageId": message["MessageId"]}]}
            with quiet_stdout():
                result = handler.unit_handler(event, FakeContext(900.0))
            failed = {item.get("itemIdentifier") for item in (result or {}).get("batchItemFailures", [])}
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


if __name__ == "__main__":
    main()
