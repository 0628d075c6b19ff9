"""Known moto gaps, patched wherever moto plays AWS here (tests, the sandbox, benchmarks), never in product code.

1. moto 5 never updates a secret's default version when ``update_secret_version_stage`` moves
   ``AWSCURRENT``: a later read with no stage returns the old value, and the next plain put leaves
   two versions labelled ``AWSCURRENT``. Real Secrets Manager has no such problem.
2. moto's Secrets Manager is plain Python: two threads can interleave inside one call (both pass the
   ``RemoveFromVersionId`` check of a stage move before either moves the label; an answer is
   serialised while another call adds a version). In AWS each API call is atomic, so here each call,
   from the backend's work to its serialised answer, holds one lock.
3. moto's S3 checks a conditional write (``If-Match``, ``If-None-Match``) and then writes, as two
   steps: two threads can both pass the check. S3 decides a conditional write atomically, so each S3
   object request holds the same lock.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_applied = False
_backend_lock = threading.RLock()


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _backend_lock:
            return method(*args, **kwargs)

    return call


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.update_secret_version_stage

    def update_secret_version_stage(
        self: Any, secret_id: str, version_stage: str, remove_from_version_id: str, move_to_version_id: str
    ) -> Any:
        result = original(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            secret = self.secrets[secret_id]
            target = getattr(secret, "source", secret)
            target.default_version_id = move_to_version_id
        return result

    SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage  # type: ignore[method-assign]

    from moto.secretsmanager.responses import SecretsManagerResponse

    SecretsManagerResponse.call_action = _atomic(SecretsManagerResponse.call_action)  # type: ignore[method-assign]

    from moto.s3.responses import S3Response

    S3Response.key_response = _atomic(S3Response.key_response)  # type: ignore[method-assign]
    _applied = True
