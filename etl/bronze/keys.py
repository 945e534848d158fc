"""Landing keys a run can trust: what ``etl upload`` refuses and ingest rejects by name alone.

Spark reads every path it is given as a Hadoop glob, so a key holding ``[ ] { } * ? \\``
can read another file, or none, and stop the whole feed's read; a ``:`` makes Hadoop
take the rest of a name for a URI (listing a folder that holds one fails); a ``..``
segment leaves the landing root of a local folder; a line break or another control
character in a key would start a fake line wherever the key is logged. Such a file is
never handed to Spark: ingest rejects it by name (moved with a plain object-store
copy, never a glob, to an escaped key under ``rejected/``), ``etl upload`` refuses it.
"""

from __future__ import annotations

import unicodedata

GLOB_CHARACTERS = "[]{}*?\\"
_REFUSED = GLOB_CHARACTERS + ":"


def _control(ch: str) -> bool:
    """C0/C1 controls and the Unicode line and paragraph separators: what may break a log line."""
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def shown(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``): safe on one log line."""
    if not any(_control(ch) for ch in text):
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii") if _control(ch) else ch for ch in text)


def key_problem(key: str) -> str | None:
    """Why a landing key (``<feed>/<folders>/<name>``) is unsafe to read, or None."""
    controls = sorted({ch for ch in key if _control(ch)})
    if controls:
        return f"unsafe file name: control character(s) {', '.join(shown(ch) for ch in controls)} in the key"
    found = "".join(ch for ch in _REFUSED if ch in key)
    if found:
        what = "glob character(s)" if any(ch in GLOB_CHARACTERS for ch in found) else "character(s)"
        return f"unsafe file name: {what} {' '.join(found)} in the key (Spark reads a path as a pattern)"
    parts = key.split("/")
    if key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return "unsafe file name: an empty, '.' or '..' folder in the key"
    return None


def escaped_key(key: str) -> str:
    """A safe key standing for an unsafe one (where a rejected file is moved): every refused character,
    control character and ``%`` percent-encoded, ``.`` and ``..`` segments too (an empty one becomes ``_``),
    so the result stays under its prefix."""
    def encode(part: str) -> str:
        out = "".join(
            "".join(f"%{b:02X}" for b in ch.encode("utf-8")) if ch in _REFUSED or ch == "%" or _control(ch) else ch
            for ch in part)
        return out.replace(".", "%2E") if out in (".", "..") else out
    return "/".join(encode(part) if part else "_" for part in key.split("/"))
