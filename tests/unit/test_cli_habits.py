"""The CLI as people who know argparse tools, cron and shells expect it (issue 23, "The CLI").

No option is abbreviated (``--stage gold`` is a usage error, not a gold-only run), the profile is set
once in ``ETL_PROFILE`` and every subcommand honours it, the help is plain text with every option
explained and every exit code listed, and ``make demo`` / the README print commands that work as written.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import pytest

from etl import cli
from etl.config import available_profiles, load_config
from etl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _parsers(parser: argparse.ArgumentParser | None = None) -> list[tuple[str, argparse.ArgumentParser]]:
    """The top-level parser and every subcommand's."""
    parser = parser or cli.build_parser()
    found = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


# -- abbreviations ------------------------------------------------------------------------------------

def test_no_parser_accepts_abbreviated_options():
    parsers = _parsers()
    assert len(parsers) == 1 + len(cli.COMMANDS)
    assert [prog for prog, p in parsers if p.allow_abbrev] == []


@pytest.mark.parametrize("argv", [["run", "--stage", "gold", "--dry-run"], ["run", "--dat", "2026-11-22"],
                                  ["status", "--las", "3"], ["--log-l", "DEBUG", "jars"]])
def test_an_abbreviated_option_is_refused_with_exit_code_2(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    assert "etl: error: unrecognized arguments" in capsys.readouterr().err or argv[0] != "run"


def test_the_services_module_refuses_abbreviations_too(capsys):
    from devtools.services import main as services_main

    with pytest.raises(SystemExit) as stopped:
        services_main(["status", "--prof", "dev"])
    assert stopped.value.code == 2


def test_every_parser_of_the_repository_refuses_abbreviations():
    """Benchmarks and scripts too: every ``ArgumentParser(...)`` call in a Python file passes
    ``allow_abbrev=False`` (read from the source, so a new script cannot slip through)."""
    call = re.compile(r"ArgumentParser\((?:[^()]|\([^()]*\))*\)", re.DOTALL)
    lenient = []
    for path in sorted(ROOT.glob("**/*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {".venv", ".local", ".jars", "tests"} or relative.parts[0].startswith("."):
            continue
        for found in call.finditer(path.read_text(encoding="utf-8")):
            if "allow_abbrev=False" not in found.group(0):
                lenient.append(f"{relative}: {found.group(0)[:60]}")
    assert lenient == []


# -- the profile, set once ----------------------------------------------------------------------------

# The shortest command line of each subcommand that reads a profile; each loads its config before it
# touches anything else, so an unknown profile stops it with exit 3 naming the profile it resolved.
PROFILE_COMMANDS = {
    "run": ["run", "--date", "2026-11-22"],
    "status": ["status"],
    "check-freshness": ["check-freshness", "--max-age", "26h"],
    "rollback": ["rollback", "--run", "20261123T015750Z-dafe39"],
    "export": ["export", "excel", "--date", "2026-11-22"],
    "generate": ["generate", "--no-upload"],
    "upload": ["upload", "README.md", "--feed", "sales"],
    "services": ["services", "status"],
    "secrets": ["secrets", "list"],
    "maintain": ["maintain"],
    "dashboard": ["dashboard"],
}


def test_every_subcommand_that_reads_a_profile_is_listed_here():
    assert set(PROFILE_COMMANDS) == set(cli.COMMANDS) - {"jars"}


@pytest.mark.parametrize("command", sorted(PROFILE_COMMANDS))
def test_every_subcommand_resolves_its_profile_from_etl_profile(command, monkeypatch, capsys):
    monkeypatch.setattr("etl.log.setup_logging", lambda *a, **k: None)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("ETL_PROFILE", "from-the-environment")
    assert cli.main(PROFILE_COMMANDS[command]) == 3
    assert "unknown profile 'from-the-environment'" in capsys.readouterr().err
    # --profile still wins over the variable.
    assert cli.main([*PROFILE_COMMANDS[command], "--profile", "from-the-option"]) == 3
    assert "unknown profile 'from-the-option'" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(PROFILE_COMMANDS))
def test_the_profile_s_help_states_the_default_the_code_uses(command, monkeypatch):
    monkeypatch.delenv("ETL_PROFILE", raising=False)
    parser = dict(_parsers())[f"etl {command}"]
    help_text = next(a.help for a in parser._actions if a.dest == "profile")
    args = parser.parse_args(PROFILE_COMMANDS[command][1:])
    default = cli.SERVICES_DEFAULT_PROFILE if command == "services" else "local"
    resolved = (cli.load_config_for_services(args) if command == "services" else cli._config(args)).profile
    assert resolved == default
    assert help_text.endswith(f"(default: $ETL_PROFILE, else {default})")


def test_make_demo_ends_with_next_steps_that_work_as_written():
    printed = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(ROOT), "demo-next-steps"],
                             capture_output=True, text=True, check=True).stdout
    assert "  export ETL_PROFILE=dev\n" in printed
    commands = [line.split("#")[0].split() for line in printed.splitlines()
                if ".venv/bin/etl " in line and "--help" not in line]
    assert len(commands) >= 4
    for command in commands:
        args = cli.build_parser().parse_args(command[1:])
        assert getattr(args, "profile", None) is None      # the profile comes from the exported variable
    assert "demo-next-steps" in (ROOT / "Makefile").read_text().split("\ndemo:")[1].split("\n\n")[0]


def test_the_readme_s_commands_parse_and_set_the_profile_once():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Using it\n\n```bash\n", 1)[1].split("```", 1)[0]
    lines = [line.split(" #")[0].strip() for line in block.splitlines()]
    assert lines[0] == "export ETL_PROFILE=dev"
    parser = cli.build_parser()
    checked = 0
    for line in lines[1:]:
        if not line.startswith(".venv/bin/etl "):
            continue
        words = [w.split("|")[0].strip("[]") for w in line.split()[1:]]   # 'start|stop|status': its first
        parser.parse_args(words)
        checked += 1
    assert checked >= 12


# -- smaller ones -------------------------------------------------------------------------------------

def test_only_profiles_are_offered_as_profiles():
    assert "quality_rules" not in available_profiles() and "base" not in available_profiles()
    assert {"local", "dev", "docker"} <= set(available_profiles())
    with pytest.raises(ConfigError, match="unknown profile 'quality_rules': choose one of dev, docker, local"):
        load_config("quality_rules")


@pytest.mark.parametrize("text, said", [
    ("2026-02-30", "'2026-02-30' is not a real date (day is out of range for month)"),
    ("2026-13-01", "'2026-13-01' is not a real date (month must be in 1..12)"),
    ("22/11/2026", "'22/11/2026' is not a date in YYYY-MM-DD form"),
    ("yesterday", "'yesterday' is not a date in YYYY-MM-DD form"),
])
def test_a_date_that_does_not_exist_is_said_to_be_no_real_date(text, said, capsys):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(said)):
        cli.parse_date(text)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "--date", text])
    assert stopped.value.code == 2 and said in capsys.readouterr().err


def test_every_exit_code_is_listed_in_the_help_and_the_docs():
    from etl import errors

    codes = sorted({v for k, v in vars(errors).items() if k.startswith("EXIT_")} | {2})
    assert codes == [0, 1, 2, 3, 4, 5, 6]
    top = cli.build_parser()
    help_text = " ".join(top.format_help().split())
    listed = re.search(r"Exit codes: (.*)", help_text).group(1)
    assert [int(n) for n in re.findall(r"(?:^|, )(\d) ", listed)] == codes
    assert "2 usage error" in listed
    operations = (ROOT / "docs" / "operations.md").read_text()
    table = operations.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert [int(n) for n in re.findall(r"^\| `(\d)` \|", table, re.MULTILINE)] == codes
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert all(f"`{code}` " in readme.split("Exit codes: ", 1)[1][:900] for code in codes)


def test_the_help_is_plain_text():
    for prog, parser in _parsers():
        text = parser.format_help()
        assert "``" not in text and ":func:" not in text and ".. " not in text, prog


def test_every_option_and_argument_has_help():
    missing = [f"{prog} {action.dest}" for prog, parser in _parsers() for action in parser._actions
               if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help]
    assert missing == []


def test_the_dev_tools_live_beside_the_package_and_etl_finds_them_in_a_clone(tmp_path, monkeypatch, capsys):
    """The generator and the services manager are in devtools/, which pyproject.toml does not package;
    `etl generate` finds them in the clone it runs from, and an install without them says so in one line."""
    packaged = re.search(r"\[tool\.setuptools\.packages\.find\]\s*include = (\[.*\])", (ROOT / "pyproject.toml").read_text())
    assert packaged and packaged.group(1) == '["etl*"]'
    assert not (ROOT / "etl" / "generate.py").exists() and not (ROOT / "etl" / "services.py").exists()

    out = tmp_path / "generated"
    assert cli.main(["generate", "--profile", "local", "--no-upload", "--out", str(out), "--days", "1",
                     "--start", "2026-11-20", "--feeds", "stores"]) == 0
    assert [p.name for p in out.rglob("*.csv")] and "generated 1 file(s)" in capsys.readouterr().out

    monkeypatch.setattr("etl.config.PROJECT_ROOT", tmp_path)          # as an installed package sees it
    for args in (["generate", "--profile", "local", "--no-upload"], ["services", "status"]):
        assert cli.main(args) == 3
        err = capsys.readouterr().err
        assert "development tool" in err and str(tmp_path) in err and "Traceback" not in err
