"""With ZOHO_AEP_LOCAL_SANDBOX set, no setting may fall back to (or name) a real Zoho, Adobe or AWS host."""

from __future__ import annotations

import json

import pytest

from zoho_aep.config.settings import LOCAL_AWS_SERVICES, load_settings
from zoho_aep.domain.errors import ConfigError

LOCAL = "http://127.0.0.1:9999"


def sandbox_env(**changes: str) -> dict[str, str]:
    env = {
        "ZOHO_AEP_LOCAL_SANDBOX": "1",
        "ZOHO_DATA_CENTERS_JSON": json.dumps({"us": {"accounts_url": LOCAL, "api_domains": [LOCAL]}}),
        "ADOBE_IMS_URL": LOCAL,
        "ADOBE_PLATFORM_URL": LOCAL,
        **{f"AWS_ENDPOINT_URL_{s}": LOCAL for s in LOCAL_AWS_SERVICES},
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v != "-"}


def test_a_complete_local_environment_loads() -> None:
    assert load_settings(sandbox_env()).adobe_platform_url == LOCAL


@pytest.mark.parametrize(
    "variable", ["ADOBE_IMS_URL", "ADOBE_PLATFORM_URL", "ZOHO_DATA_CENTERS_JSON", "AWS_ENDPOINT_URL_LAMBDA"]
)
def test_a_missing_endpoint_is_refused_instead_of_the_production_default(variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(sandbox_env(**{variable: "-"}))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ADOBE_PLATFORM_URL", "https://platform.adobe.io"),
        (
            "ZOHO_DATA_CENTERS_JSON",
            json.dumps({"us": {"accounts_url": LOCAL, "api_domains": ["https://www.zohoapis.com"]}}),
        ),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "https://secretsmanager.us-east-1.amazonaws.com"),
    ],
)
def test_a_real_host_is_refused(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=r"127\.0\.0\.x"):
        load_settings(sandbox_env(**{variable: value}))


def test_without_the_marker_production_defaults_apply() -> None:
    assert load_settings({}).adobe_platform_url == "https://platform.adobe.io"


def test_the_clis_patience_does_not_leak_into_other_clients_of_the_process() -> None:
    from zoho_aep.adapters import aws

    aws.reset_clients()
    with aws.interactive():
        inside = aws.client("secretsmanager")
    after = aws.client("secretsmanager")
    try:
        assert inside.meta.config.retries["total_max_attempts"] == 3
        assert after is not inside and after.meta.config.retries["total_max_attempts"] == 5
    finally:
        aws.reset_clients()
