"""``etl upload PATH --feed F``: a user's own files into a feed's landing prefix (local profile, real folders)."""

from __future__ import annotations

import pytest

from etl.cli import main


@pytest.fixture
def landing(tmp_path, monkeypatch):
    folder = tmp_path / "landing"
    monkeypatch.setenv("ETL__STORAGE__LANDING", str(folder))
    return folder


def test_a_file_lands_under_its_feed_prefix(tmp_path, landing, capsys):
    source = tmp_path / "my_sales.csv"
    source.write_text("customer_id\n1\n")
    assert main(["upload", str(source), "--feed", "sales", "--profile", "local"]) == 0
    assert (landing / "sales" / "my_sales.csv").read_text() == "customer_id\n1\n"
    assert "uploaded 1 file(s)" in capsys.readouterr().out


def test_a_folder_keeps_its_layout_under_the_chosen_sub_folder(tmp_path, landing):
    source = tmp_path / "batch"
    (source / "north").mkdir(parents=True)
    (source / "a.xml").write_text("<orders/>")
    (source / "north" / "b.xml").write_text("<orders/>")
    (source / ".hidden").write_text("x")
    assert main(["upload", str(source), "--feed", "orders", "--folder", "2026-11-22", "--profile", "local"]) == 0
    found = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())
    assert found == ["orders/2026-11-22/a.xml", "orders/2026-11-22/north/b.xml"]


def test_an_unknown_feed_is_a_config_error_naming_the_feeds(tmp_path, landing, capsys):
    source = tmp_path / "x.csv"
    source.write_text("a\n")
    assert main(["upload", str(source), "--feed", "returns", "--profile", "local"]) == 3
    assert "unknown feed 'returns': choose from stores, products" in capsys.readouterr().err


def test_a_file_still_waiting_in_landing_is_not_overwritten(tmp_path, landing, capsys):
    source = tmp_path / "x.csv"
    source.write_text("first\n")
    assert main(["upload", str(source), "--feed", "sales", "--profile", "local"]) == 0
    source.write_text("second\n")
    assert main(["upload", str(source), "--feed", "sales", "--profile", "local"]) == 3
    assert (landing / "sales" / "x.csv").read_text() == "first\n"
    assert "already in landing, waiting for the next run" in capsys.readouterr().err
