"""Typed configuration (etl/config.py): profiles, environment overrides, one-line errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from etl.config import load_config
from etl.errors import EXIT_CONFIG, ConfigError


def config_error(profile: str, **environ: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(profile, environ=environ)
    message = str(caught.value)
    assert "\n" not in message and message.strip() == message
    assert caught.value.exit_code == EXIT_CONFIG
    return message


def test_unknown_profile_is_a_one_line_error_naming_it():
    message = config_error("staging")
    assert "unknown profile 'staging'" in message
    for known in ("local", "dev", "docker"):
        assert known in message


def test_base_is_not_a_profile():
    assert "unknown profile 'base'" in config_error("base")


def test_wrong_type_from_environment_names_the_key():
    message = config_error("local", ETL__SPARK__SHUFFLE_PARTITIONS="abc")
    assert "profile 'local'" in message
    assert "spark.shuffle_partitions" in message


def test_out_of_range_value_names_the_key():
    assert "spark.shuffle_partitions" in config_error("local", ETL__SPARK__SHUFFLE_PARTITIONS="0")


def test_unknown_key_names_it():
    message = config_error("local", ETL__SPARK__SHUFFLE_PARTITONS="4")
    assert "spark.shuffle_partitons" in message
    assert "not permitted" in message


def test_unknown_section_names_it():
    assert "sprak" in config_error("local", ETL__SPRAK__MASTER="local[1]")


def test_environment_overrides_win_over_base_and_profile():
    # base: 4 partitions; docker profile: 8; the environment: 3
    assert load_config("local", environ={}).spark.shuffle_partitions == 4
    assert load_config("docker", environ={}).spark.shuffle_partitions == 8
    cfg = load_config("docker", environ={"ETL__SPARK__SHUFFLE_PARTITIONS": "3", "ETL__MYSQL__ENABLED": "false",
                                         "ETL__GOLD__INCENTIVE_RATE": "0.02"})
    assert cfg.spark.shuffle_partitions == 3
    assert cfg.mysql.enabled is False
    assert cfg.gold.incentive_rate == Decimal("0.02")
    assert cfg.mysql.host == "mysql"  # untouched keys keep the profile's value


def test_profile_overrides_base():
    dev = load_config("dev", environ={})
    assert dev.profile == "dev"
    assert dev.mysql.enabled is True and dev.mysql.port == 3406
    assert dev.storage.s3 is not None and dev.storage.s3.endpoint == "http://127.0.0.1:9900"
    assert load_config("local", environ={}).storage.s3 is None


def test_profile_comes_from_etl_profile_when_not_given():
    assert load_config(None, environ={"ETL_PROFILE": "dev"}).profile == "dev"
