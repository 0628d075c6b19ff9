"""Use case: open a connect link (the stack's ``/oauth/connect`` route), before anyone consents.

A link a person was sent first reaches the stack, not Zoho: the state is checked as the callback
would check it (signature, expiry), then whether the link already connected (its nonce is in the
connection secret) or names another sandbox than the connection's. Only a link that would be
accepted after the consent is sent on to Zoho's consent page; the others get the page that says why,
before the admin has clicked anything. The callback still checks everything again, in its own order:
this route only moves the bad news earlier. It reads, never writes, and calls nobody but AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from ..adapters.logs import register_secret
from ..domain.errors import ConnectLinkInvalid
from ..domain.links import DATA_CENTER_PARAM
from .connect import ConnectDeps, Grant, check_existing, verified_state


def open_connect_link(params: Mapping[str, str], deps: ConnectDeps) -> str:
    """The Zoho consent URL to send the person to; raises the error a page should show instead."""
    state, _ = verified_state(deps, params.get("state"), deps.clock())  # a key rotated in since is read
    register_secret(params.get("state"))  # signed by this stack: never in a log line from here on
    table = deps.settings.data_centers
    location = params.get(DATA_CENTER_PARAM, "us")
    if location not in table:
        raise ConnectLinkInvalid("The connect link names a data center this stack does not know.")
    if state.data_center is not None and state.data_center != location:
        raise ConnectLinkInvalid("The connect link was altered: it leads to another Zoho data center.")
    if params.get("response_type") != "code" or params.get("redirect_uri") != deps.settings.require_callback_url():
        raise ConnectLinkInvalid("The connect link was altered: it does not lead back to this stack.")
    if params.get("client_id") != deps.app_secrets.zoho_client().client_id:
        raise ConnectLinkInvalid("The connect link was made for another Zoho client.")
    existing = deps.store.get(state.connection)
    if existing is not None:
        check_existing(existing.connection, Grant.from_state(state), None)
    # The rest of the query goes to Zoho as the operator's command made it (scopes, and any parameter
    # a later version adds); the state in it is the one just verified.
    forward = [(k, v) for k, v in params.items() if k != DATA_CENTER_PARAM]
    return f"{table.authorization_server(location)}/oauth/v2/auth?{urlencode(forward)}"
