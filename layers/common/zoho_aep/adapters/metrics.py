"""CloudWatch metrics in Embedded Metric Format (Powertools), namespace ``ZohoAep``."""

from __future__ import annotations

from typing import Any

NAMESPACE = "ZohoAep"


def get_metrics(service: str) -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=NAMESPACE, service=service)


def count_with_dimension(
    metrics: Any, name: str, dimension: str | None = None, value: str = "", amount: float = 1
) -> None:
    """One count metric, flushed at once, with the function's ``service`` dimension and optionally
    one more (e.g. callback outcome by code). Alarms use the service-only form."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    defaults: dict[str, str] = {}
    if metrics is not None:
        defaults.update(metrics.default_dimensions)
        if getattr(metrics, "service", None):
            defaults.setdefault("service", str(metrics.service))
    with single_metric(
        name=name, unit=MetricUnit.Count, value=amount, namespace=NAMESPACE, default_dimensions=defaults or None
    ) as metric:
        if dimension:
            metric.add_dimension(name=dimension, value=value)


def record_outcome(metrics: Any, name: str, outcome: str, *, failed: bool) -> None:
    """``{name}Outcome`` by outcome (dashboards) and, for failures, ``{name}Failed`` (alarms)."""
    count_with_dimension(metrics, f"{name}Outcome", "outcome", outcome)
    if failed:
        count_with_dimension(metrics, f"{name}Failed")
