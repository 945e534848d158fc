"""Who the dashboard signs in to MySQL as, and its connection (PyMySQL, a pure-Python driver: no JVM).

The dashboard reads what SQL consumers read, so it signs in as the read-only consumer account
(``mysql.reader_user_secret`` / ``mysql.reader_password_secret``) when the profile names one and the
secrets file holds it; otherwise, with a warning in the log, as the loader account
(``mysql.user_secret``), which can also write. ``credentials`` is the one place that decides.
Neither the user name nor the password ever reaches a log line or a message (both are secrets).
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from typing import Protocol

import pymysql

from etl.config import LOOPBACK_HOSTS, Config
from etl.errors import ConfigError

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 5          # seconds: a page says MySQL is down instead of hanging
READ_TIMEOUT = 60


class Secrets(Protocol):
    def names(self) -> list[str]: ...
    def get(self, name: str) -> str: ...


class DashboardUnavailable(Exception):
    """MySQL cannot be reached or refuses the account: one line for the page, no secret in it."""


@dataclass(frozen=True)
class Credentials:
    user: str = field(repr=False)
    password: str = field(repr=False)
    account: str          # "reader" (read-only consumer) or "loader" (the export's account)
    user_secret: str      # the secret's name, for messages

    def scrub(self, text: str) -> str:
        for value in (self.password, self.user):
            if value:
                text = text.replace(value, "***")
        return text


def credentials(cfg: Config, store: Secrets) -> Credentials:
    """The read-only consumer account when configured, else the loader account (logged: it can write)."""
    m = cfg.mysql
    user_secret = getattr(m, "reader_user_secret", None)
    password_secret = getattr(m, "reader_password_secret", None)
    if user_secret and password_secret and {user_secret, password_secret} <= set(store.names()):
        return Credentials(store.get(user_secret), store.get(password_secret), "reader", user_secret)
    loader = Credentials(store.get(m.user_secret), store.get(m.password_secret), "loader", m.user_secret)
    log.warning("dashboard: no read-only consumer account in profile '%s' (mysql.reader_user_secret); "
                "reading MySQL as the loader account named by mysql.user_secret, which can also write",
                cfg.profile)
    return loader


def describe(cfg: Config) -> str:
    return f"mysql://{cfg.mysql.host}:{cfg.mysql.port}/{cfg.mysql.database}"


def tls_arguments(cfg: Config) -> dict:
    """PyMySQL's TLS arguments for ``mysql.ssl_mode``, as the export's Connector/J reads it (``mysql_url``):
    ``DISABLED`` is plain text and only to a loopback server (ConfigError otherwise: the password and the
    data would cross the network readable); ``REQUIRED`` encrypts (refused by a server without TLS, no
    certificate check); ``VERIFY_CA`` also checks the certificate against the system's trust store
    (``SSL_CERT_FILE`` points elsewhere); ``VERIFY_IDENTITY`` also its host name."""
    m = cfg.mysql
    if m.ssl_mode == "DISABLED":
        if m.host not in LOOPBACK_HOSTS:
            raise ConfigError(f"mysql.ssl_mode is DISABLED but mysql.host {m.host} is not this machine: the "
                              f"password and the gold data would cross the network in plain text; set "
                              f"mysql.ssl_mode to REQUIRED, VERIFY_CA or VERIFY_IDENTITY (docs/security.md, TLS)")
        return {"ssl_disabled": True}
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if m.ssl_mode != "VERIFY_IDENTITY":
        context.check_hostname = False
    if m.ssl_mode == "REQUIRED":
        context.verify_mode = ssl.CERT_NONE
    return {"ssl": context}          # an SSLContext: PyMySQL requires TLS (no plain-text fallback)


def connect(cfg: Config, creds: Credentials) -> pymysql.connections.Connection:
    """A read-only session (``SET SESSION TRANSACTION READ ONLY``), UTC, TLS as ``mysql.ssl_mode`` says,
    or DashboardUnavailable."""
    tls = tls_arguments(cfg)
    try:
        conn = pymysql.connect(host=cfg.mysql.host, port=cfg.mysql.port, user=creds.user, password=creds.password,
                               database=cfg.mysql.database, charset="utf8mb4", connect_timeout=CONNECT_TIMEOUT,
                               read_timeout=READ_TIMEOUT, autocommit=True, init_command="SET time_zone = '+00:00'",
                               **tls)
    except pymysql.MySQLError as exc:
        reason = exc.args[1] if len(exc.args) > 1 else str(exc)
        raise DashboardUnavailable(
            f"cannot connect to MySQL at {describe(cfg)} as the user named by {creds.user_secret}: "
            f"{creds.scrub(str(reason))}") from None
    with conn.cursor() as cursor:
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
    return conn
