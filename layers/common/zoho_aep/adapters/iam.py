"""IAM: the access keys of the stack's AEP reader user (the one credential AEP's S3 source holds).

IAM keeps at most two access keys per user, which is what a rotation needs: the current one, which
AEP's base connections hold until the rotation moves them, and the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.credentials import ReaderKey
from ..domain.errors import ReaderKeyStoreError
from . import aws
from .aws import AwsAdapter, client_errors
from .logs import pin_secret

MAX_KEYS_PER_USER = 2  # IAM's limit


@dataclass(frozen=True)
class AccessKeySeen:
    """An access key as IAM lists it (never its secret)."""

    key_id: str
    active: bool
    created_at: float


class ReaderUserKeys(AwsAdapter):
    """Lists, creates and deletes the access keys of one IAM user."""

    service = "iam"

    def __init__(self, user_name: str, client: Any = None) -> None:
        super().__init__(client)
        self.user_name = user_name

    def access_keys(self) -> list[AccessKeySeen]:
        """The user's access keys, oldest first."""
        try:
            answer = self.client.list_access_keys(UserName=self.user_name)
        except client_errors() as exc:
            why = aws.error_code(exc) or "error"
            raise ReaderKeyStoreError(f"IAM refused to list the reader's keys ({why}).") from exc
        found = [
            AccessKeySeen(
                key_id=str(item["AccessKeyId"]),
                active=item.get("Status") == "Active",
                created_at=item["CreateDate"].timestamp() if item.get("CreateDate") else 0.0,
            )
            for item in answer.get("AccessKeyMetadata", [])
        ]
        return sorted(found, key=lambda k: (k.created_at, k.key_id))

    def create(self) -> ReaderKey:
        """A new access key for the user (its secret is registered for masking before anything else)."""
        try:
            answer = self.client.create_access_key(UserName=self.user_name)
        except client_errors() as exc:
            raise ReaderKeyStoreError(f"IAM refused a new reader key ({aws.error_code(exc) or 'error'}).") from exc
        item = answer["AccessKey"]
        pin_secret(item["SecretAccessKey"])
        return ReaderKey(str(item["AccessKeyId"]), str(item["SecretAccessKey"]))

    def delete(self, key_id: str) -> None:
        """Delete one of the user's keys; one already gone is fine."""
        try:
            self.client.delete_access_key(UserName=self.user_name, AccessKeyId=key_id)
        except client_errors() as exc:
            if aws.error_code(exc) == "NoSuchEntity":
                return
            why = aws.error_code(exc) or "error"
            raise ReaderKeyStoreError(f"IAM refused to delete a reader key ({why}).") from exc
