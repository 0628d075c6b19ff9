"""Zoho CRM export to S3 (the Amazon S3 path): the schedule, direct invokes, the unit queue, Zoho's callback.

``lambda_handler`` runs a tick of the ``ExportScheduleMinutes`` schedule, or a direct invoke
``{"connection": "acme", "modules": ["Leads"], "full": false}``; ``unit_handler`` is the worker
function's entry point (one export unit per SQS record); ``callback_handler`` answers Zoho's Bulk
Read callback on the HTTP API.

Thin by design: configuration is validated at cold start, the layer does the work. A unit's failure
is in the answer, never raised; only a refused event raises.
"""

from __future__ import annotations

from typing import Any

from zoho_aep import wiring
from zoho_aep.adapters.logs import get_logger
from zoho_aep.adapters.metrics import get_metrics
from zoho_aep.config.settings import load_settings
from zoho_aep.edges.zoho_export import BulkCallbackApp, ExportApp, ExportWorkerApp

SETTINGS = load_settings()
logger = get_logger("zoho-export")
metrics = get_metrics("zoho-export")
app = ExportApp(lambda: wiring.export_deps(SETTINGS, logger), logger=logger, metrics=metrics)
worker = ExportWorkerApp(lambda: app.deps, logger=logger, metrics=metrics)
callback = BulkCallbackApp(lambda: wiring.bulk_callback_deps(SETTINGS), logger=logger)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event, time_left=lambda: context.get_remaining_time_in_millis() / 1000)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def unit_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The unit queue's worker: each record names one export unit."""
    return worker.handle(event, time_left=lambda: context.get_remaining_time_in_millis() / 1000)


@logger.inject_lambda_context(log_event=False, clear_state=True)
def callback_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``POST /zoho/bulk-callback``: Zoho says a Bulk Read job ended."""
    return callback.handle(event)
