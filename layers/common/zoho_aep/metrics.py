"""CloudWatch metrics in Embedded Metric Format (Powertools), namespace ``ZohoAep``."""

from __future__ import annotations

from typing import Any

NAMESPACE = "ZohoAep"


def get_metrics(service: str) -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=NAMESPACE, service=service)


def count_with_dimension(metrics: Any, name: str, dimension: str, value: str, amount: float = 1) -> None:
    """One count metric with its own dimension (e.g. callback outcome by code), flushed at once."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=amount,
        namespace=NAMESPACE,
        default_dimensions=dict(metrics.default_dimensions) if metrics is not None else None,
    ) as metric:
        metric.add_dimension(name=dimension, value=value)
