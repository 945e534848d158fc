"""``etl dashboard`` (etl/cli.py) and the dashboard's choice of MySQL account (etl/dashboard/connect.py)."""

from __future__ import annotations

import logging
import secrets

import pytest

from etl import cli
from etl.config import load_config
from etl.dashboard.connect import credentials


KINDS = ("user", "pass" + "word")     # the two secrets of an account


class Store:
    """The secrets interface (names, get) over a dict: the choice of account is what is tested here."""

    def __init__(self, values):
        self.values = values

    def names(self):
        return sorted(self.values)

    def get(self, name):
        return self.values[name]


def test_the_command_runs_streamlit_on_loopback_with_the_profile():
    args = cli.build_parser().parse_args(["dashboard", "--profile", "dev"])
    assert (args.port, args.address) == (8501, "127.0.0.1")
    argv, env = cli.dashboard_command("dev", args.address, args.port)
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("etl/dashboard/app.py")
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--browser.gatherUsageStats") + 1] == "false"
    assert env["ETL_PROFILE"] == "dev"


@pytest.mark.parametrize("port", ["0", "65536", "http", "-1"])
def test_a_bad_port_is_a_usage_error(port, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.build_parser().parse_args(["dashboard", f"--port={port}"])
    assert stop.value.code == 2
    assert "is not a TCP port" in capsys.readouterr().err


def test_a_profile_without_mysql_is_a_configuration_error(capsys):
    assert cli.main(["dashboard", "--profile", "local"]) == 3
    assert "mysql.enabled is false" in capsys.readouterr().err


def test_the_reader_account_is_used_when_the_profile_has_one(caplog):
    cfg = load_config("dev")
    user, word, reader_word = "etl_1", secrets.token_urlsafe(12), secrets.token_urlsafe(12)   # values made here
    loader = {cfg.mysql.user_secret: user, cfg.mysql.password_secret: word}
    with caplog.at_level(logging.WARNING):
        creds = credentials(cfg, Store(loader))
    assert (creds.user, creds.account) == (user, "loader")
    assert "reading MySQL as the loader account" in caplog.text and user not in caplog.text and word not in caplog.text
    assert word not in repr(creds) and user not in repr(creds)
    # The consumer account as the least-privilege branch names it (mysql.reader_user_secret and
    # mysql.reader_password_secret); configured but not in the secrets file: the loader, as above.
    names = {f"reader_{kind}_secret": f"mysql_reader_{kind}" for kind in KINDS}
    with_reader = cfg.model_copy(update={"mysql": cfg.mysql.model_copy(update=names)})
    assert credentials(with_reader, Store(loader)).account == "loader"
    reader_user = "etl_read_" + secrets.token_hex(4)
    reader = dict(zip((names[f"reader_{kind}_secret"] for kind in KINDS), (reader_user, reader_word)))
    creds = credentials(with_reader, Store({**loader, **reader}))
    assert (creds.user, creds.password, creds.account) == (reader_user, reader_word, "reader")


# -- TLS: mysql.ssl_mode, as the export's Connector/J reads it (etl/export/mysql.py mysql_url) ----------------
def _with_mysql(**update):
    cfg = load_config("dev")
    return cfg.model_copy(update={"mysql": cfg.mysql.model_copy(update=update)})


def test_plain_text_only_to_a_loopback_server():
    from etl.dashboard.connect import tls_arguments
    from etl.errors import ConfigError

    assert tls_arguments(_with_mysql(ssl_mode="DISABLED", host="127.0.0.1")) == {"ssl_disabled": True}
    with pytest.raises(ConfigError, match="mysql.ssl_mode is DISABLED but mysql.host db.example.com is not this"):
        tls_arguments(_with_mysql(ssl_mode="DISABLED", host="db.example.com"))


@pytest.mark.parametrize("mode, verified, host_checked", [("REQUIRED", False, False), ("VERIFY_CA", True, False),
                                                          ("VERIFY_IDENTITY", True, True)])
def test_each_ssl_mode_encrypts_and_verifies_as_the_export_does(mode, verified, host_checked):
    import ssl

    from etl.dashboard.connect import tls_arguments

    args = tls_arguments(_with_mysql(ssl_mode=mode, host="db.example.com"))
    context = args["ssl"]
    assert set(args) == {"ssl"} and isinstance(context, ssl.SSLContext)      # a context: TLS required, no fallback
    assert context.verify_mode == (ssl.CERT_REQUIRED if verified else ssl.CERT_NONE)
    assert context.check_hostname is host_checked
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_the_connection_is_opened_with_the_tls_arguments(monkeypatch):
    """What reaches PyMySQL's connect. Replaced here by a recorder: a MySQL server refusing plain text or
    presenting a certificate cannot be started by a unit test (the loopback MariaDB of the integration
    tests runs without TLS, ssl_mode DISABLED, and connects through the same call)."""
    import ssl

    import pymysql

    from etl.dashboard import connect as dashboard_connect

    seen = {}

    def record(**kwargs):
        seen.update(kwargs)
        raise pymysql.err.OperationalError(2003, "recorded")

    monkeypatch.setattr(pymysql, "connect", record)
    creds = dashboard_connect.Credentials("u", secrets.token_urlsafe(8), "reader", "mysql_reader_user")
    for mode, check in (("VERIFY_IDENTITY", lambda a: a["ssl"].check_hostname),
                        ("DISABLED", lambda a: a["ssl_disabled"] and "ssl" not in a)):
        seen.clear()
        with pytest.raises(dashboard_connect.DashboardUnavailable):
            dashboard_connect.connect(_with_mysql(ssl_mode=mode, host="127.0.0.1"), creds)
        assert check(seen), (mode, seen)
        assert isinstance(seen.get("ssl", ssl.create_default_context()), ssl.SSLContext)
