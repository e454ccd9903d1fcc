"""The cabinet's card payments (B7): top-up by YooKassa redirect, the return page, saved cards and autopay."""
from app.portal import bp  # noqa: F401
