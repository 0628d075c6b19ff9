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
4. moto's IAM ignores S3 condition keys: it hands no ``s3:prefix`` to the policy check and does not
   know ``StringLike``, so a ``ListBucket`` allowed only under ``StringLike s3:prefix zoho/*`` lists
   every prefix of the bucket. In AWS the statement applies only when the request's ``prefix``
   matches (an absent key matches nothing), and a statement whose condition fails is skipped, not a
   denial. S3 requests now evaluate ``StringLike``/``StringEquals`` (and their ``Not`` forms) on
   ``s3:prefix`` and ``s3:delimiter`` that way; other services are untouched.
5. moto's ``CopyObject`` ignores ``If-None-Match: *``; S3 refuses such a copy with 412 when the
   target exists (conditional writes cover CopyObject), so the export's retried copy never writes a
   published file twice. The patched copy checks it first, under the lock of 3.
"""

from __future__ import annotations

import fnmatch
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


_S3_CONDITION_KEYS = {"prefix": "s3:prefix", "delimiter": "s3:delimiter"}
_S3_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda actual, wanted: actual == wanted,
    "StringNotEquals": lambda actual, wanted: actual != wanted,
    "StringLike": lambda actual, wanted: fnmatch.fnmatchcase(actual, wanted),
    "StringNotLike": lambda actual, wanted: not fnmatch.fnmatchcase(actual, wanted),
}


def _s3_condition_values(data: dict[str, Any]) -> dict[str, str]:
    """The S3 condition keys a request carries (its query string: moto keeps lists of values)."""
    values: dict[str, str] = {}
    for param, key in _S3_CONDITION_KEYS.items():
        raw = data.get(param)
        if raw is not None:
            values[key] = str(raw[0] if isinstance(raw, list) else raw)
    return values


def _s3_conditions_hold(statement: dict[str, Any], values: dict[str, str]) -> bool:
    """Whether the statement's conditions on S3 keys hold (a key the request lacks fails its test)."""
    for operator, pairs in (statement.get("Condition") or {}).items():
        test = _S3_OPERATORS.get(operator)
        if test is None or not isinstance(pairs, dict):
            continue  # moto's own behaviour for operators it does not know
        for key, wanted in pairs.items():
            if not key.startswith("s3:"):
                continue
            options = wanted if isinstance(wanted, list) else [wanted]
            if key not in values or not any(test(values[key], str(option)) for option in options):
                return False
    return True


def _patch_s3_conditions() -> None:
    from moto.iam import access_control

    statement_cls: Any = access_control.IAMPolicyStatement
    original = statement_cls.is_action_permitted

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        if action.startswith("s3:") and incoming_condition_values is not None:
            if not _s3_conditions_hold(self._statement, incoming_condition_values):
                return access_control.PermissionResult.NEUTRAL  # AWS: the statement does not apply
            return original(self, action, resource, principal, None)
        return original(self, action, resource, principal, incoming_condition_values)

    def check_action_permitted(self: Any, resource: str) -> None:
        values = _s3_condition_values(self._data)
        permitted = False
        for policy in self._access_key.collect_policies():
            result = access_control.IAMPolicy(policy).is_action_permitted(self._action, resource, None, values)
            if result == access_control.PermissionResult.DENIED:
                self._raise_access_denied()
            permitted = permitted or result == access_control.PermissionResult.PERMITTED
        if not permitted:
            self._raise_access_denied()

    statement_cls.is_action_permitted = is_action_permitted
    request_cls: Any = access_control.S3IAMRequest
    request_cls.check_action_permitted = check_action_permitted


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
    _patch_s3_conditions()
    _patch_conditional_copy(S3Response)
    _applied = True


def _patch_conditional_copy(response_class: Any) -> None:
    from moto.s3.exceptions import PreconditionFailed

    original = response_class.copy_object

    def copy_object(self: Any) -> Any:
        if self.headers.get("If-None-Match") == "*" and self.backend.get_object(
            self.bucket_name, self.parse_key_name()
        ):
            raise PreconditionFailed("If-None-Match")
        return original(self)

    response_class.copy_object = copy_object
