"""The driver's class-data archive (etl/class_archive.py): the option a new driver gets, that the archive
``make setup`` built is really mapped by a driver ``build_session`` starts, and that an archive the JVM
cannot use changes nothing but the speed (no failed run, no JVM message in the job's output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from etl import class_archive

ROOT = Path(__file__).resolve().parents[2]


def test_no_archive_no_option_and_the_driver_options_given_are_kept(tmp_path):
    assert class_archive.use_options(tmp_path / "absent.jsa") == ""
    assert class_archive.with_archive({"spark.driver.extraJavaOptions": "-Xss4m"}, "") == {
        "spark.driver.extraJavaOptions": "-Xss4m"}
    archive = tmp_path / "driver-classes.jsa"
    archive.write_bytes(b"x")
    options = class_archive.use_options(archive)
    assert options.split()[:2] == [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"]
    # before the options given, so that a flag given there (the last of two) wins
    assert class_archive.with_archive({"spark.driver.extraJavaOptions": " -Xss4m "}, options) == {
        "spark.driver.extraJavaOptions": f"{options} -Xss4m"}
    assert class_archive.with_archive({"spark.app.name": "a"}, options) == {
        "spark.app.name": "a", "spark.driver.extraJavaOptions": options}


def _new_driver(tmp_path: Path, archive: Path, java_options: str = "", class_path: str = "") -> subprocess.CompletedProcess:
    """A new Python process whose ``build_session`` starts a driver that runs one query."""
    probe = ("import sys; from etl.config import load_config; from etl.spark import build_session; "
             "spark = build_session(load_config('local')); print('rows', spark.range(3).count()); spark.stop()")
    conf = {"spark.driver.extraJavaOptions": java_options, **({"spark.driver.extraClassPath": class_path}
                                                              if class_path else {})}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ETL_CLASS_ARCHIVE": str(archive),
           "ETL__STORAGE__LAKE": str(tmp_path / "lake"), "ETL__SPARK__CONF": json.dumps(conf)}
    env.pop("ETL_PROFILE", None)
    return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)


def test_a_new_driver_loads_its_classes_from_the_archive_make_setup_built(tmp_path):
    assert class_archive.ARCHIVE.is_file(), "make setup builds the archive (python -m etl.class_archive)"
    loads = tmp_path / "class-load.log"
    done = _new_driver(tmp_path, class_archive.ARCHIVE, f"-Xlog:class+load=info:file={loads}")
    assert (done.returncode, done.stdout.strip().splitlines()[-1]) == (0, "rows 3"), done.stderr[-2000:]
    sources = [line for line in loads.read_text(encoding="utf-8").splitlines() if " source: " in line]
    from_archive = [line for line in sources if "shared objects file (top)" in line]
    # the dynamic archive's part of the classes ("top", over the JDK's own base archive): most of them
    assert len(from_archive) > 0.5 * len(sources) and any("org.apache.spark" in line for line in from_archive)


def test_an_archive_the_jvm_cannot_use_changes_nothing_but_the_speed(tmp_path):
    """A class path that is not the one the archive was built with (as after a jar upgrade without
    ``make setup``): the JVM refuses the archive, and says so on standard output unless told not to."""
    (tmp_path / "more").mkdir()
    done = _new_driver(tmp_path, class_archive.ARCHIVE, class_path=str(tmp_path / "more"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "rows 3\n"              # nothing from the JVM about the archive
    assert "archive" not in done.stderr.lower()
