"""The callback's pages: short, plain, for a person; never a token, a code or a stack trace.

Every answer carries ``Cache-Control: no-store``, ``Referrer-Policy: no-referrer`` and a strict
Content-Security-Policy (no scripts at all; the one inline style is allowed by its hash).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from typing import Any

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "color:#1d1d1f;line-height:1.5}h1{font-size:1.4rem}.ok{color:#1a7f37}.bad{color:#b42318}"
    "code{background:#f2f2f2;padding:0 .25rem;border-radius:3px}footer{margin-top:2rem;color:#666;font-size:.85rem}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none'; script-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000",
}

_FIX_LINK = "Ask the person who sent you the link for a new one, then open it once."
_FIX_OPERATOR = "Nothing was stored. Please tell the operator of this zoho-aep stack; the code below helps them."

# code -> (title, what happened, what to do)
_TEXT: dict[str, tuple[str, str, str]] = {
    "method-not-allowed": (
        "Not allowed",
        "This address only accepts the redirect from Zoho.",
        "Open your connect link.",
    ),
    "query-too-large": ("Request too large", "The request was larger than any Zoho redirect.", _FIX_LINK),
    "query-parameter-repeated": ("Request refused", "A parameter appeared twice in the request.", _FIX_LINK),
    "query-invalid": ("Request refused", "The request could not be read.", _FIX_LINK),
    "state-missing": ("Link incomplete", "The request did not come from a zoho-aep connect link.", _FIX_LINK),
    "state-invalid": ("Link damaged", "The connect link's signed state is garbled.", _FIX_LINK),
    "state-signature-invalid": ("Link not valid", "The connect link was not issued by this stack.", _FIX_LINK),
    "state-expired": (
        "Link expired",
        "Connect links are valid for a short time only, and this one has expired. Nothing was asked of Zoho.",
        _FIX_LINK,
    ),
    "connect-link-invalid": ("Link not valid", "The connect link was changed after it was made.", _FIX_LINK),
    "state-reused": (
        "Link already used",
        "This connect link has already connected the Zoho org. Reloading the page does not connect again.",
        "Nothing more to do if the first attempt succeeded; otherwise ask for a new link.",
    ),
    "zoho-consent-declined": (
        "Consent declined",
        "You declined access in Zoho, so nothing was connected and nothing was stored.",
        "If that was a mistake, open the connect link again and choose Accept.",
    ),
    "zoho-authorization-error": ("Zoho refused", "Zoho did not authorize the request.", _FIX_OPERATOR),
    "code-missing": ("Zoho sent no code", "Zoho's redirect carried no authorization code.", _FIX_LINK),
    "location-unknown": (
        "Unknown data center",
        "Zoho's redirect named a data center this stack does not know.",
        _FIX_OPERATOR,
    ),
    "accounts-server-mismatch": (
        "Request refused",
        "The redirect named a Zoho accounts server that does not belong to its data center.",
        "Open the connect link itself, not a modified address.",
    ),
    "connection-sandbox-mismatch": (
        "Wrong sandbox",
        "This connection is already linked to a different AEP sandbox than the link names.",
        "Ask the operator for a link with the connection's own sandbox.",
    ),
    "connection-pending-deletion": (
        "Connection being deleted",
        "This connection is scheduled for deletion.",
        _FIX_OPERATOR,
    ),
    "zoho-code-invalid": (
        "Code expired or used",
        "Zoho's authorization code was already used or expired (it lives three minutes).",
        "Open the connect link again and accept promptly.",
    ),
    "zoho-client-invalid": (
        "Zoho client refused",
        "Zoho did not accept this stack's client credentials.",
        _FIX_OPERATOR,
    ),
    "zoho-redirect-uri-mismatch": (
        "Redirect not registered",
        "Zoho does not accept this stack's callback URL.",
        _FIX_OPERATOR,
    ),
    "zoho-throttled": (
        "Zoho is busy",
        "Zoho asked us to slow down.",
        "Wait a few minutes, then open the connect link again.",
    ),
    "zoho-unavailable": (
        "Zoho unavailable",
        "Zoho did not answer in time.",
        "Wait a few minutes, then open the connect link again.",
    ),
    "zoho-response-invalid": ("Unexpected answer", "Zoho's answer could not be used.", _FIX_OPERATOR),
    "zoho-refresh-token-missing": ("No lasting access", "Zoho granted no lasting (offline) access.", _FIX_OPERATOR),
    "zoho-api-domain-invalid": (
        "Unexpected Zoho host",
        "Zoho named an API host outside your data center; the access was revoked for safety.",
        _FIX_OPERATOR,
    ),
    "zoho-scope-mismatch": (
        "Permission missing",
        "The granted permissions do not let us identify your Zoho org and user; the access was revoked.",
        "Ask the operator to include ZohoCRM.org.READ and ZohoCRM.users.READ in the link's scopes.",
    ),
    "zoho-token-invalid": ("Zoho refused the token", "Zoho CRM refused the new access token.", _FIX_OPERATOR),
    "zoho-org-mismatch": (
        "Different Zoho org",
        "This connection belongs to another Zoho org; the new access was revoked and nothing changed.",
        "Sign in to Zoho with the org the connection belongs to, or ask for a link with a new connection name.",
    ),
    "link-org-mismatch": (
        "Different Zoho org",
        "This connect link was made for another Zoho org; the new access was revoked and nothing was stored.",
        "Sign in to Zoho with the org the link was made for, or ask for a new link.",
    ),
    "link-data-center-mismatch": (
        "Different Zoho data center",
        "This connect link was made for an org in another Zoho data center; nothing was stored.",
        "Ask the person who sent you the link for one made for your data center.",
    ),
    "zoho-user-token-limit": (
        "Too many connections for this Zoho user",
        "Your Zoho user already holds as many connections of this stack as Zoho allows; one more would "
        "silently end the oldest one. The new access was revoked and nothing was stored.",
        "Sign in to Zoho as another user of the org, or ask the operator to disconnect one.",
    ),
    "not-found": ("Not found", "There is nothing at this address.", "Open your connect link."),
}


@dataclass(frozen=True)
class Page:
    status: int
    body: str
    headers: dict[str, str]

    def as_api_gateway(self) -> dict[str, Any]:
        return {"statusCode": self.status, "headers": dict(self.headers), "body": self.body, "isBase64Encoded": False}


def _document(title: str, heading_class: str, paragraphs: list[str], code: str | None) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        '<meta name="robots" content="noindex">',
        f"<title>{html.escape(title)} · zoho-aep</title>",
        f"<style>{_STYLE}</style></head><body>",
        f'<h1 class="{heading_class}">{html.escape(title)}</h1>',
    ]
    parts.extend(f"<p>{p}</p>" for p in paragraphs)
    if code:
        parts.append(f"<footer>Code: <code>{html.escape(code)}</code></footer>")
    parts.append("</body></html>")
    return "\n".join(parts)


def html_page(status: int, body: str, extra_headers: dict[str, str] | None = None) -> Page:
    headers = {"Content-Type": "text/html; charset=utf-8", **SECURITY_HEADERS, **(extra_headers or {})}
    return Page(status, body, headers)


def error_page(code: str, status: int, extra_headers: dict[str, str] | None = None) -> Page:
    title, happened, todo = _TEXT.get(
        code, ("Something went wrong", "The connection could not be completed.", _FIX_OPERATOR)
    )
    body = _document(title, "bad", [html.escape(happened), html.escape(todo)], code)
    return html_page(status, body, extra_headers)


def success_page(connection: str, org_name: str, org_id: str, data_center: str, reauthorized: bool) -> Page:
    org = f"{org_name} (org {org_id})" if org_name else f"org {org_id}"
    verb = "reconnected" if reauthorized else "connected"
    body = _document(
        "Zoho CRM connected",
        "ok",
        [
            f"Connection <strong>{html.escape(connection)}</strong> is {verb} to Zoho CRM "
            f"<strong>{html.escape(org)}</strong> in data center <code>{html.escape(data_center)}</code>.",
            "Adobe Experience Platform will be set up with it in a moment. You can close this page.",
        ],
        "connected",
    )
    return html_page(200, body)


def redirect_page(location: str) -> Page:
    """A 302 to Zoho's consent page. The body never repeats the address (it carries the link's state)."""
    body = _document("On to Zoho", "ok", ["Taking you to Zoho's consent page."], None)
    return html_page(302, body, {"Location": location})


def json_answer(status: int, payload: dict[str, Any]) -> Page:
    headers = {"Content-Type": "application/json", **SECURITY_HEADERS}
    return Page(status, json.dumps(payload, separators=(",", ":")), headers)
