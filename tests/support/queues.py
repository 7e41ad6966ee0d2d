"""How many messages an SQS queue of the local stack still holds."""

from __future__ import annotations

import boto3

from local.stack import LocalStack


def messages_in(stack: LocalStack, queue: str) -> int:
    """Messages in the template's queue `queue` (its logical id), waiting or in flight. A consumer deletes a message
    only once it handled it, so 0 means every message sent so far was handled (or moved to the dead-letter queue)."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.resources.queue_urls[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
