"""AEP reader key rotation: Secrets Manager's rotation of ``{prefix}/aep-s3-reader`` (the S3 path).

Thin by design: configuration is validated at cold start, the layer does the work. Each invocation
is one step of AWS's rotation contract; a refused event or a failed step raises, so Secrets Manager
records the failure (and the ReaderKeyRotationFailed metric and the Errors alarm show it).
"""

from __future__ import annotations

from typing import Any

from zoho_aep import wiring
from zoho_aep.adapters.logs import get_logger
from zoho_aep.adapters.metrics import get_metrics, record_outcome
from zoho_aep.config.settings import load_settings
from zoho_aep.edges.aep_reader_rotation import ReaderRotationApp

SETTINGS = load_settings()
logger = get_logger("aep-reader-rotation")
metrics = get_metrics("aep-reader-rotation")


def _failed(step: str, code: str) -> None:
    record_outcome(metrics, "ReaderKeyRotation", code, failed=True)


app = ReaderRotationApp(
    lambda: wiring.reader_rotation_deps(SETTINGS, logger, on_failure=_failed),
    wiring.reader_secret_name(SETTINGS),
    logger=logger,
    on_refused=lambda code: _failed("-", code),
)


@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event)
