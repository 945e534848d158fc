"""The JVM jars the pipeline needs, as declared once in ``resources/jars/pom.xml``.

``make jars`` copies them into ``.jars/`` with Maven; this module only maps the
manifest to those files, so that the session builder and every spark-submit
use exactly that list and nothing is downloaded when a job starts.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from etl.config import PROJECT_ROOT
from etl.errors import ConfigError

MANIFEST = PROJECT_ROOT / "resources" / "jars" / "pom.xml"
JAR_DIR = Path(os.environ.get("ETL_JAR_DIR", PROJECT_ROOT / ".jars"))
_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def declared_artifacts(manifest: Path = MANIFEST) -> list[tuple[str, str, str]]:
    """(groupId, artifactId, version) for every dependency in the manifest, properties resolved."""
    root = ET.parse(manifest).getroot()
    props = {el.tag.split("}")[1]: el.text for el in root.find("m:properties", _NS)}

    def resolve(text: str) -> str:
        for name, value in props.items():
            text = text.replace("${" + name + "}", value)
        return text

    return [
        (dep.findtext("m:groupId", namespaces=_NS),
         dep.findtext("m:artifactId", namespaces=_NS),
         resolve(dep.findtext("m:version", namespaces=_NS)))
        for dep in root.find("m:dependencies", _NS)
    ]


def jar_paths(jar_dir: Path = JAR_DIR) -> list[Path]:
    """Local paths of the declared jars; a clear error naming the first missing one."""
    paths = [jar_dir / f"{artifact}-{version}.jar" for _, artifact, version in declared_artifacts()]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"jar {missing[0]} is missing from {jar_dir}: run `make jars` once to fetch them")
    return paths


def jars_csv() -> str:
    """Comma-separated list for ``spark.jars`` / ``spark-submit --jars``."""
    return ",".join(str(p) for p in jar_paths())
