"""The pure parts of provisioning: the stable name, the tag-safe etag, the documented body."""

from __future__ import annotations

import base64
import re

from hypothesis import given
from hypothesis import strategies as st

from zoho_aep.adapters.adobe.flow import ZOHO_CRM_SPEC_ID
from zoho_aep.domain.names import base_connection_name
from zoho_aep.usecases.provision import base_connection_body, etag_tag_value

# What Secrets Manager accepts in a tag value.
AWS_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{0,256}$")


def test_the_name_is_stable_and_names_stack_and_connection() -> None:
    assert base_connection_name("zoho-aep", "acme") == "zoho-aep acme"
    assert base_connection_name("zoho-aep", "acme") == base_connection_name("zoho-aep", "acme")
    assert base_connection_name("staging", "acme") != base_connection_name("zoho-aep", "acme")


def test_an_adobe_etag_is_kept_readable_without_its_quotes() -> None:
    assert etag_tag_value('"600290fc-0000-0200-0000-67084cc30000"') == "600290fc-0000-0200-0000-67084cc30000"


def test_an_etag_that_is_not_tag_safe_is_base64url_encoded_losslessly() -> None:
    etag = 'W/"a,b"'
    value = etag_tag_value(etag)
    assert value.startswith("b64.")
    encoded = value.removeprefix("b64.")
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode() == etag


@given(st.text(min_size=1, max_size=60))
def test_every_etag_becomes_a_valid_aws_tag_value(etag: str) -> None:
    value = etag_tag_value(etag)
    assert '"' not in value
    assert AWS_TAG_VALUE.match(value)


def test_the_body_has_exactly_the_documented_fields() -> None:
    params = {
        k: f"v-{k}" for k in ("endpoint", "accountsUrl", "clientId", "clientSecret", "accessToken", "refreshToken")
    }
    assert base_connection_body("n", "d", params) == {
        "name": "n",
        "description": "d",
        "auth": {"specName": "Basic Authentication", "params": params},
        "connectionSpec": {"id": ZOHO_CRM_SPEC_ID, "version": "1.0"},
    }
