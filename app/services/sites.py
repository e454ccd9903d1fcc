"""Sites of an account and their public keys."""
from __future__ import annotations

import secrets

from app.extensions import db
from app.models import Account, Site


def new_public_key() -> str:
    return secrets.token_urlsafe(12)


def create_site(account: Account, name: str, domains: list[str]) -> Site:
    site = Site(account=account, name=name.strip()[:200], domains=clean_domains(domains), public_key=new_public_key())
    db.session.add(site)
    db.session.flush()
    return site


def clean_domains(domains: list[str]) -> list[str]:
    seen: list[str] = []
    for domain in domains:
        domain = domain.strip().rstrip("/").lower()
        if domain and domain not in seen:
            seen.append(domain)
    return seen

