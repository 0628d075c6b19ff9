"""Find-or-create, the one idempotency AEP allows: an object is read by its recorded id, else found by
its name (or title), else created, and a create whose answer was lost is looked up before anyone
creates it again. AEP's APIs take no idempotency key, so names are the product's keys: they are
unique per connection and module (``domain/aep.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ...domain.errors import AdobeNotFound, AdobeResponseInvalid, AdobeThrottled, AdobeTitleTaken, AdobeUnavailable

T = TypeVar("T")
# A create may have happened although its answer says otherwise: look before trying again.
_MAYBE_CREATED = (AdobeUnavailable, AdobeThrottled, AdobeResponseInvalid, AdobeTitleTaken)


def ensure(
    what: str,
    recorded: str | None,
    read: Callable[[str], T],
    find: Callable[[], Sequence[T]],
    create: Callable[[], T],
    logger: Any,
) -> tuple[T, bool]:
    """The object (and whether this call created it)."""
    if recorded:
        try:
            return read(recorded), False
        except AdobeNotFound:
            logger.warning(f"the recorded {what} is gone from AEP; looking for it by name", extra={"aep_id": recorded})
    found = list(find())
    if found:
        if len(found) > 1:
            logger.warning(f"several {what}s carry this name; zoho-aep uses the oldest", extra={"count": len(found)})
        return found[0], False
    try:
        return create(), True
    except _MAYBE_CREATED:
        again = list(find())
        if again:
            return again[0], True
        raise
