"""Logging that cannot print a secret."""

from __future__ import annotations

import json
import logging

from tests.support.fakes import ListHandler
from zoho_aep.adapters.logs import MASK, get_logger, pin_secret, register_secret, scrub, scrub_text


def test_sensitive_keys_are_masked_at_any_depth() -> None:
    record = {"outer": {"access_token": "x", "list": [{"clientSecret": "y"}], "Refresh-Token": "z"}, "ok": "fine"}
    assert scrub(record) == {
        "outer": {"access_token": MASK, "list": [{"clientSecret": MASK}], "Refresh-Token": MASK},
        "ok": "fine",
    }


def test_registered_secret_values_are_masked_inside_any_text() -> None:
    register_secret("s3cr3t-value-for-logs")
    assert scrub_text("before s3cr3t-value-for-logs after") == f"before {MASK} after"


def test_zoho_token_shapes_are_masked_even_unregistered() -> None:
    token = "1000." + "a" * 32 + "." + "b" * 32
    assert token not in scrub_text(f"token={token}")


def test_logger_output_never_contains_a_registered_secret() -> None:
    register_secret("leaky-grant-code-12345")
    logger = get_logger("test-logs")
    handler = ListHandler()
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        logger.info("got leaky-grant-code-12345", extra={"detail": {"nested": "leaky-grant-code-12345"}})
        try:
            raise ValueError("boom leaky-grant-code-12345")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert handler.lines
    assert all("leaky-grant-code-12345" not in line for line in handler.lines)
    assert json.loads(handler.lines[0])["message"] == f"got {MASK}"


def test_short_values_are_not_registered_to_avoid_masking_everything() -> None:
    register_secret("ab")
    assert scrub_text("a b ab") == "a b ab"


def test_token_shaped_values_are_masked_by_shape_without_growing_the_registry() -> None:
    from zoho_aep.adapters import logs

    tokens = [f"1000.{i:032x}.{i + 1:032x}" for i in range(100)]
    before = len(logs._registry._values)  # the registry's size is what every log line pays for

    register_secret(*tokens)

    assert len(logs._registry._values) == before
    assert all(token not in scrub_text(f"x{token}y") for token in tokens)


def test_stdlib_logging_is_untouched() -> None:
    assert logging.getLogger("unrelated").handlers == []


def test_the_stacks_own_secrets_stay_masked_however_many_values_come_after() -> None:
    from zoho_aep.adapters import logs

    pin_secret("the-zoho-client-secret-pinned")
    register_secret(*(f"some-later-value-{i:06d}" for i in range(logs._REGISTRY_SIZE + 500)))

    assert scrub_text("x the-zoho-client-secret-pinned y") == f"x {MASK} y"
    assert scrub_text("x some-later-value-000000 y") == "x some-later-value-000000 y", "the bounded part is bounded"
