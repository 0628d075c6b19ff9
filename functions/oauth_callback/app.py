"""OAuth callback behind API Gateway (HTTP API, payload 2.0): ``ANY /oauth/callback`` and ``GET /health``.

Thin by design: configuration is validated at cold start, the layer does the work.
Do not set POWERTOOLS_LOGGER_LOG_EVENT here: the event holds the grant code and the state.
"""

from __future__ import annotations

from typing import Any

from zoho_aep import wiring
from zoho_aep.adapters.logs import get_logger
from zoho_aep.adapters.metrics import get_metrics, record_outcome
from zoho_aep.config.settings import load_settings
from zoho_aep.edges.oauth_callback import CallbackApp

SETTINGS = load_settings(require_callback_url=True)
logger = get_logger("oauth-callback")
metrics = get_metrics("oauth-callback")
app = CallbackApp(
    lambda: wiring.connect_deps(SETTINGS),
    logger=logger,
    on_outcome=lambda outcome: record_outcome(metrics, "Callback", outcome, failed=outcome == "internal-error"),
)


@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event)
