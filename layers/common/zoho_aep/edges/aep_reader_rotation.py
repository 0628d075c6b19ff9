"""The ``aep_reader_rotation`` function's edge: Secrets Manager's rotation events for ``{prefix}/aep-s3-reader``.

An event is ``{"SecretId", "ClientRequestToken", "Step"}``. Anything else, or another secret than the
reader's (by name or by ARN), is refused before any AWS or Adobe call. A refused event and a failed
step both raise: Secrets Manager records the rotation as failed (and the function's Errors alarm
sees it); a rotation function that returns normally tells Secrets Manager the step succeeded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..domain.errors import BadRequest, ReaderRotationRefused
from ..usecases.reader_key import STEPS, RotationDeps, rotate_reader_key
from .lazy import Lazy

_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:(?P<name>.+)-[A-Za-z0-9]{6}")
_TOKEN = re.compile(r"[A-Za-z0-9-]{32,64}")


def parse_rotation(event: object, secret_name: str) -> tuple[str, str, str]:
    """(secret id, version id, step) of a rotation event for ``secret_name``; raises ReaderRotationRefused."""
    if not isinstance(event, Mapping) or set(event) != {"SecretId", "ClientRequestToken", "Step"}:
        raise ReaderRotationRefused('A rotation event is {"SecretId", "ClientRequestToken", "Step"}.')
    secret_id, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if not all(isinstance(v, str) for v in (secret_id, token, step)):
        raise ReaderRotationRefused("SecretId, ClientRequestToken and Step must be strings.")
    if step not in STEPS:
        raise ReaderRotationRefused(f"Step must be one of {', '.join(STEPS)}.")
    if not _TOKEN.fullmatch(token):
        raise ReaderRotationRefused("ClientRequestToken is not a version id.")
    arn = _ARN.fullmatch(secret_id)
    if secret_id != secret_name and (arn is None or arn.group("name") != secret_name):
        raise ReaderRotationRefused("This function rotates only the AEP reader's secret.")
    return secret_id, token, step


class ReaderRotationApp:
    """Runs one rotation step per invocation; ``deps`` is built on first use (a refused event needs none)."""

    def __init__(
        self,
        deps: Callable[[], RotationDeps],
        secret_name: str,
        *,
        logger: Any,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self._deps = Lazy(deps)
        self.secret_name = secret_name
        self.logger = logger
        self.on_refused = on_refused

    def handle(self, event: object) -> dict[str, Any]:
        """One step; raises when the event is refused or the step failed."""
        try:
            secret_id, token, step = parse_rotation(event, self.secret_name)
        except BadRequest as exc:
            self.logger.error("rotation event refused", extra={"outcome": exc.code, "error": exc.message})
            if self.on_refused is not None:
                self.on_refused(exc.code)
            raise
        return rotate_reader_key(self._deps.get(), secret_id, token, step).as_dict()
