"""Who signs in, when an adapter keeps users: Auth.js's account linking rules.

A known provider account signs in as its user. An unknown one is linked to the user who is
signed in, if any. Otherwise, an email that belongs to another user is refused
(``OAuthAccountNotLinked``) unless the provider allows dangerous email linking and asserts
that the address is verified; else a new user is created and the account linked to it. Every
address is compared in its normal form (:func:`~..identity.normalize_email`), and only a
verified one is stored as the new user's email: an unverified one would claim the mailbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from flask import g

from ..adapters.protocol import Adapter
from ..errors import OAuthAccountNotLinked, StoreConflict
from ..identity import normalize_email
from ..providers.base import Provider
from ..providers.oauth import OAuth2
from ..signals import account_linked, send, user_created
from ..state import request_auth


class AccountNotLinked(OAuthAccountNotLinked):
    """The account's email belongs to another user, or the account to another signed-in user."""


def signed_in_user_id() -> str | None:
    """The id of the user signed in on this request, if any."""
    if g.session is None:
        return None
    resolved = request_auth()
    return resolved.user_id if resolved else None


def oauth_user(
    adapter: Adapter,
    provider: Provider,
    user: Mapping[str, Any],
    account: Mapping[str, Any],
    verified_email: str | None,
) -> tuple[dict[str, Any], bool]:
    """The stored user for an OAuth sign-in, and whether it was just created.

    ``verified_email`` is the address the provider asserts as verified (normalised), if any.
    """
    key = (account["provider"], account["providerAccountId"])
    current = signed_in_user_id()
    known = adapter.get_user_by_account(*key)
    if known is not None:
        if current is not None and current != known["id"]:
            raise AccountNotLinked("the account is linked to another user")
        return known, False
    if current is not None:
        return _link(adapter, current, account), False
    email = normalize_email(user.get("email"))
    verified = email is not None and email == verified_email
    owner = adapter.get_user_by_email(email) if email else None
    if owner is not None:
        # A concurrent first sign-in with this account may have just created that user.
        known = adapter.get_user_by_account(*key)
        if known is not None:
            return known, False
        if not (isinstance(provider, OAuth2) and provider.allow_dangerous_email_account_linking):
            raise AccountNotLinked("the email belongs to a user who signed in another way")
        if not verified:
            raise AccountNotLinked("the provider does not assert that the email is verified")
        return _link(adapter, owner["id"], account), False
    fields = {"name": user.get("name"), "email": email if verified else None}
    fields["image"] = user.get("image")
    try:
        created = adapter.create_user_and_link(fields, account)
    except StoreConflict:
        # Another request created it first (a double click): sign in as that user.
        known = adapter.get_user_by_account(*key)
        if known is None:
            raise
        return known, False
    send(user_created, user=created)
    send(account_linked, user=created, account=dict(account))
    return created, True


def email_user(adapter: Adapter, email: str) -> tuple[dict[str, Any], bool]:
    """The stored user for an email sign-in (created on first use); the address is verified."""
    now = datetime.now(timezone.utc)
    user = adapter.get_user_by_email(email)
    if user is not None:
        if not user.get("email_verified"):
            user = adapter.update_user(user["id"], {"email_verified": now}) or user
        return user, False
    try:
        created = adapter.create_user({"email": email, "email_verified": now})
    except StoreConflict:
        found = adapter.get_user_by_email(email)
        if found is None:
            raise
        return found, False
    send(user_created, user=created)
    return created, True


def _link(adapter: Adapter, user_id: str, account: Mapping[str, Any]) -> dict[str, Any]:
    if adapter.get_user(user_id) is None:
        raise AccountNotLinked("the signed-in user is not a stored user")
    try:
        adapter.link_account(user_id, account)
    except StoreConflict:
        # A concurrent request linked it first: fine if it linked it to the same user.
        owner = adapter.get_user_by_account(account["provider"], account["providerAccountId"])
        if owner is None or owner["id"] != user_id:
            raise AccountNotLinked("the account was just linked to another user") from None
    user = adapter.get_user(user_id)
    if user is None:
        raise AccountNotLinked("the signed-in user no longer exists")
    send(account_linked, user=user, account=dict(account))
    return user
