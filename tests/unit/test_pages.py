"""The callback's pages say what Zoho's documents say."""

from __future__ import annotations

from zoho_aep.edges.pages import error_page


def test_the_code_invalid_page_says_a_grant_code_lives_three_minutes() -> None:
    page = error_page("zoho-code-invalid", 400)
    assert "three minutes" in page.body and "two minutes" not in page.body


def test_the_expired_link_page_says_nothing_was_asked_of_zoho() -> None:
    assert "Nothing was asked of Zoho" in error_page("state-expired", 400).body
