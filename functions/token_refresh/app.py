"""Scheduled token refresh (EventBridge Scheduler, every RefreshScheduleMinutes) and manual invoke.

``lambda_handler`` runs a cycle (and plans it in shards when it is too large for one invocation);
``shard_handler`` is the worker function's entry point, one shard per SQS record.

Thin by design: configuration is validated at cold start, the layer does the work. Per-connection
failures are in the returned report, never raised; only a refused event raises.
"""

from __future__ import annotations

from typing import Any

from zoho_aep import wiring
from zoho_aep.adapters.logs import get_logger
from zoho_aep.adapters.metrics import get_metrics
from zoho_aep.config.settings import load_settings
from zoho_aep.edges.token_refresh import RefreshApp, RefreshShardApp

SETTINGS = load_settings()
logger = get_logger("token-refresh")
metrics = get_metrics("token-refresh")
app = RefreshApp(lambda: wiring.refresh_deps(SETTINGS, logger=logger), logger=logger, metrics=metrics)
shards = RefreshShardApp(lambda: app.deps, logger=logger)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event, time_left=lambda: context.get_remaining_time_in_millis() / 1000)


@logger.inject_lambda_context(log_event=False, clear_state=True)
def shard_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A worker of a fanned-out cycle: the shard queue's event source delivers one shard per record."""
    return shards.handle(event, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
