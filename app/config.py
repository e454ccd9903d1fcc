"""Configuration read only from environment variables (documented in README.md)."""
from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _instance_secret(instance: Path) -> str:
    """A random key kept in the instance folder, so a demo survives restarts without configuration."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _networks(env: dict[str, str], name: str, default: str = "") -> list[str]:
    """CIDR networks, comma or space separated; a typo stops the start with its name, not a 500 at the hook."""
    networks = (env.get(name) or default).replace(",", " ").split()
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(f"{name}: {network!r} is not an IP network (e.g. 185.71.76.0/27)") from None
    return networks


def _yookassa(env: dict[str, str]) -> dict:
    """YooKassa settings; without YOOKASSA_SHOP_ID, the sandbox on loopback (trusted as a notification source)."""
    sandbox_port = int(env.get("YOOKASSA_SANDBOX_PORT") or 5060)
    live = bool(env.get("YOOKASSA_SHOP_ID"))
    networks = _networks(env, "YOOKASSA_TRUSTED_NETWORKS", "" if live else "127.0.0.1/32")
    return {
        "YOOKASSA_SHOP_ID": env.get("YOOKASSA_SHOP_ID") or "sandbox",
        "YOOKASSA_SECRET_KEY": env.get("YOOKASSA_SECRET_KEY") or "sandbox",
        "YOOKASSA_API_URL": env.get("YOOKASSA_API_URL")
        or ("https://api.yookassa.ru/v3" if live else f"http://127.0.0.1:{sandbox_port}/v3"),
        "YOOKASSA_TIMEOUT_S": float(env.get("YOOKASSA_TIMEOUT_S") or 10),
        "YOOKASSA_TRUSTED_NETWORKS": networks,  # besides YooKassa's own published networks
        "YOOKASSA_VAT_CODE": int(env.get("YOOKASSA_VAT_CODE") or 1),  # 1: без НДС
        "YOOKASSA_PAYMENT_MODE": env.get("YOOKASSA_PAYMENT_MODE") or "full_prepayment",
        "YOOKASSA_PENDING_EXPIRY_H": int(env.get("YOOKASSA_PENDING_EXPIRY_H") or 24),
        "YOOKASSA_SANDBOX_PORT": sandbox_port,
    }


def _mtt(env: dict[str, str]) -> dict:
    """MTT settings; without MTT_API_URL, the sandbox on loopback (`flask mtt-sandbox`) with demo credentials."""
    sandbox_port = int(env.get("MTT_SANDBOX_PORT") or 5050)
    live = bool(env.get("MTT_API_URL"))
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    demo = {"MTT_LOGIN": "sandbox", "MTT_PASSWORD": "sandbox", "MTT_CUSTOMER_NAME": "000000000000001",
            "MTT_SMS_URL": f"{sandbox_url}/ms-customer-gateway/v1", "MTT_SMS_TOKEN": "sandbox-token"}
    return {
        "MTT_API_URL": env.get("MTT_API_URL") or f"{sandbox_url}/index.php",
        **{key: env.get(key) or ("" if live else value) for key, value in demo.items()},
        "MTT_SMS_SENDER": env.get("MTT_SMS_SENDER") or "MTT",  # the operator-approved sender name (N6)
        # Where MTT's events may come from (CIDR, comma or space separated); empty: any address.
        "MTT_EVENT_NETWORKS": _networks(env, "MTT_EVENT_NETWORKS"),
        "MTT_IS_SANDBOX": not live,
        "MTT_SANDBOX_PORT": sandbox_port,
        "MTT_SANDBOX_TIME_SCALE": float(env.get("MTT_SANDBOX_TIME_SCALE") or 1),
        # The adapter's timeouts and retries (dialer/providers/mtt.py MttConfig); unset: its defaults.
        **{key: cast(env[key]) for key, cast in (("MTT_TIMEOUT_S", float), ("MTT_CONNECT_TIMEOUT_S", float),
                                                 ("MTT_RETRIES", int), ("MTT_BACKOFF_S", float)) if env.get(key)},
    }


def from_env(env: dict[str, str] | None = None) -> dict:
    """Build the Flask config mapping from environment variables."""
    env = dict(os.environ if env is None else env)
    instance = Path(env.get("INSTANCE_PATH") or DEFAULT_INSTANCE)
    port = int(env.get("PORT") or 5000)
    public_url = (env.get("PUBLIC_URL") or f"http://127.0.0.1:{port}").rstrip("/")
    redis_url = env.get("REDIS_URL") or None
    return {
        "INSTANCE_PATH": str(instance),
        "PORT": port,
        "PUBLIC_URL": public_url,
        "SECRET_KEY": env.get("SECRET_KEY") or _instance_secret(instance),
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL") or f"sqlite:///{instance / 'callback.db'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "HUEY_SQLITE_PATH": env.get("HUEY_SQLITE_PATH") or str(instance / "huey.db"),
        "HUEY_IMMEDIATE": _flag(env.get("HUEY_IMMEDIATE")),
        # An instant (or passive) request is handed to the dialer when it is created; tests of other areas
        # turn this off so they place no calls.
        "DIALER_DIAL_ON_CREATE": _flag(env.get("DIALER_DIAL_ON_CREATE"), default=True),
        # The dialer's periodic work (issue 7, parts 3 and 6): the dispatcher of scheduled requests runs every
        # DIALER_DISPATCH_EVERY_S (a divisor of 60); the reconciler re-enqueues a request left `received`/`queued`
        # with no attempt after DIALER_STUCK_AFTER_S, asks MTT for the record of a call in progress for
        # DIALER_SETTLE_AFTER_S, and expires a request not dialed within DIALER_EXPIRE_AFTER_S. An attempt whose
        # start is unknown and whose call id never arrived is given up (failed, not charged, never redialed)
        # after DIALER_ABANDON_AFTER_S, longer than the longest call (4 h at most).
        "DIALER_DISPATCH_EVERY_S": int(env.get("DIALER_DISPATCH_EVERY_S") or 10),
        "DIALER_STUCK_AFTER_S": int(env.get("DIALER_STUCK_AFTER_S") or 60),
        "DIALER_SETTLE_AFTER_S": int(env.get("DIALER_SETTLE_AFTER_S") or 60),
        "DIALER_EXPIRE_AFTER_S": int(env.get("DIALER_EXPIRE_AFTER_S") or 1800),
        "DIALER_ABANDON_AFTER_S": int(env.get("DIALER_ABANDON_AFTER_S") or 5 * 3600),
        # Mail (Flask-Mailman names). The embedded default is the local catcher started by `make run`.
        "MAIL_BACKEND": "smtp",  # also under TESTING: tests talk to a real SMTP server
        "MAIL_SERVER": env.get("MAIL_SERVER") or "127.0.0.1",
        "MAIL_PORT": int(env.get("MAIL_PORT") or 1025),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _flag(env.get("MAIL_USE_TLS")),
        "MAIL_USE_SSL": _flag(env.get("MAIL_USE_SSL")),
        "MAIL_TIMEOUT": int(env.get("MAIL_TIMEOUT") or 10),
        "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER") or "CallBack MTT <noreply@callback.localhost>",
        "MAIL_CATCHER_DIR": env.get("MAIL_CATCHER_DIR") or str(instance / "maildir"),
        # Telephony. Without MTT_API_URL the embedded default is the MTT sandbox `make run` starts.
        **_mtt(env),
        # Payments (YooKassa). Without a shop id the embedded default is the local sandbox `make run` starts.
        **_yookassa(env),
        # Where requests come from (GeoIP2/GeoLite2 City .mmdb); without it the region comes from the number.
        "GEOIP_DB_PATH": env.get("GEOIP_DB_PATH") or None,
        # Proxies in front of the app whose X-Forwarded-For is trusted (the client IP drives the abuse limits).
        "PROXY_COUNT": int(env.get("PROXY_COUNT") or 0),
        # Web security.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": public_url.startswith("https://"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": public_url.startswith("https://"),
        "PREFERRED_URL_SCHEME": "https" if public_url.startswith("https://") else "http",
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down (restarting): the per-process throttle counts in memory meanwhile, and a failure to write its
        # headers is logged, never a 500. The abuse limits (X1) do not fall back: they answer 503 (docs/faults.md).
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        # How long each process reuses a built widget configuration (0: build it for every request).
        "WIDGET_CONFIG_CACHE_S": int(env.get("WIDGET_CONFIG_CACHE_S") or 10),
        # Per IP address and process, before the abuse limits (X1) that count across processes.
        "API_CALLBACK_RATE_LIMIT": env.get("API_CALLBACK_RATE_LIMIT") or "20 per minute",
        "API_EVENTS_RATE_LIMIT": env.get("API_EVENTS_RATE_LIMIT") or "120 per minute",
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT") or "10 per minute;50 per hour",
        # The cabinet's "is the widget on my site" check: its timeout per connect and per read, and whether it may
        # fetch loopback and private addresses (unset: only under TESTING; `make run` allows them for the demo).
        "INSTALL_CHECK_TIMEOUT_S": float(env.get("INSTALL_CHECK_TIMEOUT_S") or 5),
        "INSTALL_CHECK_ALLOW_PRIVATE": (_flag(env["INSTALL_CHECK_ALLOW_PRIVATE"])
                                        if env.get("INSTALL_CHECK_ALLOW_PRIVATE") else None),
        # Interface.
        "BABEL_DEFAULT_LOCALE": "ru",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Moscow",
        "LANGUAGES": ("ru", "en"),
        # Flask-Assets: built by `make assets`; the manifest lets a running app find the versioned file.
        "LESS_BIN": env.get("LESS_BIN") or str(PROJECT_ROOT / "node_modules" / ".bin" / "lessc"),
        "ASSETS_AUTO_BUILD": _flag(env.get("ASSETS_AUTO_BUILD")),
        "ASSETS_MANIFEST": "file",
        "ASSETS_CACHE": False,
    }
