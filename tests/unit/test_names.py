"""Every name and pattern check matches the whole value: no trailing newline, no control character.

Python's ``$`` also matches before a final newline, so ``re.match(r"^[a-z]+$", "acme\\n")`` passes.
Each check of the layer is fuzzed with valid values that carry a control character somewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from zoho_aep.adapters.adobe import platform
from zoho_aep.adapters.zoho.oauth import _is_throttling
from zoho_aep.config.settings import check_secret_prefix, load_settings, parse_scopes
from zoho_aep.domain.errors import ConfigError, InvalidConnectionName, InvalidSandboxName, is_valid_code
from zoho_aep.domain.names import check_connection_name, check_sandbox_name
from zoho_aep.usecases.provision import etag_tag_value
from zoho_aep.usecases.refresh.messages import _is_tag

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
CONTROL = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x1F),
    st.characters(min_codepoint=0x7F, max_codepoint=0x9F),
    st.sampled_from(["\u2028", "\u2029", "\u0085"]),
)
CONTROL_CHARACTERS = frozenset(
    [chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7F, 0xA0)] + ["\u2028", "\u2029"]
)
FUZZ = settings(derandomize=True, database=None, max_examples=300, deadline=None)


def _with_control(valid: str, control: str, where: int) -> str:
    """``valid`` with ``control`` inserted at a position (0 = the start, -1 = appended)."""
    position = len(valid) if where < 0 else where % (len(valid) + 1)
    return valid[:position] + control + valid[position:]


def _kept(check: Callable[[str], object], value: str, error: type[Exception]) -> object:
    """What ``check`` keeps of ``value`` (its answer), or None when it refuses it."""
    try:
        return check(value)
    except error:
        return None


def _bus(value: str) -> object:
    return _kept(lambda v: load_settings({"EVENT_BUS_NAME": v}).event_bus_name, value, ConfigError)


def _pattern(pattern: re.Pattern[str]) -> Callable[[str], object]:
    return lambda value: platform._safe(value, pattern)


# Each check, as "what it keeps of a value (None: refused)", with values it must accept. Settings read
# from the environment are trimmed first: what they keep must then be clean, not the raw value refused.
CHECKS: dict[str, tuple[Callable[[str], object], list[str]]] = {
    "connection name": (lambda v: _kept(check_connection_name, v, InvalidConnectionName), ["acme", "a", "a-1"]),
    "sandbox name": (lambda v: _kept(check_sandbox_name, v, InvalidSandboxName), ["prod", "dev-1", "x"]),
    "secret prefix": (lambda v: _kept(check_secret_prefix, v, ConfigError), ["zoho-aep", "team/zoho-aep"]),
    "scope": (lambda v: _kept(parse_scopes, v, ConfigError), ["ZohoCRM.org.READ", "ZohoCRM.modules.ALL"]),
    "event bus": (_bus, ["default", "zoho-aep-lifecycle"]),
    "error code": (lambda v: v if is_valid_code(v) else None, ["zoho-consent-revoked", "connected"]),
    "listed tag key": (lambda v: v if _is_tag(v, "x") else None, ["zoho-aep:status", "aep:etag"]),
    "Adobe error code": (_pattern(platform._SAFE_CODE), ["401013", "FLOW-1404"]),
    "Adobe request id": (_pattern(platform._SAFE_REQUEST_ID), ["abc-123", "req:1.2"]),
    "etag kept in a tag": (
        lambda v: v if etag_tag_value(f'"{v}"') == v else None,
        ["600290fc-0000-0200-0000-6406a4b40000"],
    ),
}


def _has_control(kept: object) -> bool:
    text = kept if isinstance(kept, str) else repr(kept)
    return any(c in text for c in CONTROL_CHARACTERS)


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_each_check_accepts_its_valid_examples(check: str) -> None:
    keep, valid = CHECKS[check]
    assert [v for v in valid if keep(v) is None] == []


@pytest.mark.parametrize("check", sorted(CHECKS))
@FUZZ
@given(control=CONTROL, where=st.integers(min_value=-1, max_value=80), pick=st.integers(min_value=0, max_value=9))
@example(control="\n", where=-1, pick=0)  # the trailing newline that re.match with "$" let through
def test_no_check_accepts_a_control_character_anywhere(check: str, control: str, where: int, pick: int) -> None:
    keep, valid = CHECKS[check]
    value = _with_control(valid[pick % len(valid)], control, where)

    kept = keep(value)

    assert kept is None or not _has_control(kept), repr(value)


@pytest.mark.parametrize("error", ["invalid_code\n", "invalid_client\r\n", "server_error\x00"])
def test_zohos_error_identifiers_are_matched_whole(error: str) -> None:
    """A "snake_case" error with a control character is not one of Zoho's identifiers (read as throttling)."""
    assert _is_throttling(error, "")
