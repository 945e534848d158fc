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
