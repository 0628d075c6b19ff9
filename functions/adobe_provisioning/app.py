"""Adobe provisioning: EventBridge ``Zoho connection authorized`` events, direct invokes, the run watch.

Thin by design: configuration is validated at cold start, the layer does the work. Permanent
outcomes return a result; passing failures raise so Lambda retries the invocation, then hands it
to the on-failure queue.
"""

from __future__ import annotations

from typing import Any

from zoho_aep import wiring
from zoho_aep.adapters.logs import get_logger
from zoho_aep.adapters.metrics import get_metrics, record_outcome
from zoho_aep.config.settings import load_settings
from zoho_aep.edges.adobe_provisioning import ProvisioningApp

SETTINGS = load_settings()
logger = get_logger("adobe-provisioning")
metrics = get_metrics("adobe-provisioning")
app = ProvisioningApp(
    lambda: wiring.path_deps(
        SETTINGS, logger, on_run=lambda outcome, failed: record_outcome(metrics, "AepRuns", outcome, failed=failed)
    ),
    logger=logger,
    on_outcome=lambda outcome, failed: record_outcome(metrics, "Provisioning", outcome, failed=failed),
)


@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event)
