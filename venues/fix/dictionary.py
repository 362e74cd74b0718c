"""quickfix as the reference: its FIX data dictionaries validate what we encode.

``quickfix`` is imported lazily (inside ``FixValidator``): the session layer and the
adapter run without it unless strict mode is switched on. A dialect with custom tags
gets an extended copy of the standard dictionary that declares them, so custom tags are
validated too (type and the messages they may appear in) instead of being waved through.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
import sysconfig
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from venues.fix.dialect import CustomField, Dialect


def quickfix_data_dir() -> Path:
    """Return the directory holding the FIX XML dictionaries installed with quickfix."""
    try:
        dist = importlib.metadata.distribution("quickfix")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for file in dist.files or ():
            if file.name == "FIX44.xml":
                path = Path(str(dist.locate_file(file))).resolve()
                if path.is_file():
                    return path.parent
    for base in (sys.prefix, sysconfig.get_path("data")):
        candidate = Path(base) / "share" / "quickfix"
        if (candidate / "FIX44.xml").is_file():
            return candidate
    raise FileNotFoundError("quickfix data dictionaries not found (is the 'fix' extra installed?)")


def base_dictionary_path(dialect: Dialect) -> Path:
    """Return the standard dictionary file for ``dialect`` (a name under quickfix's dir, or a path)."""
    name = dialect.dictionary_name
    path = Path(name)
    if path.is_absolute() or "/" in name:
        return path
    return quickfix_data_dir() / name


def extend_dictionary(xml_text: bytes, custom_fields: list[CustomField]) -> bytes:
    """Return ``xml_text`` (a quickfix dictionary) with ``custom_fields`` declared and placed."""
    root = ET.fromstring(xml_text)
    fields = root.find("fields")
    messages = root.find("messages")
    if fields is None or messages is None:
        raise ValueError("not a quickfix data dictionary: no <fields> or <messages>")
    known = {int(el.get("number", "0")): el.get("name", "") for el in fields.iter("field")}
    for custom in custom_fields:
        name = known.get(custom.tag)
        if name is None:
            ET.SubElement(fields, "field", number=str(custom.tag), name=custom.name, type=custom.type)
            name = custom.name
        for msg_type in custom.messages:
            message = messages.find(f"message[@msgtype='{msg_type}']")
            if message is None:
                raise ValueError(f"custom field {custom.tag}: no message with MsgType {msg_type!r}")
            if not any(el.get("name") == name for el in message.findall("field")):
                ET.SubElement(message, "field", name=name, required="N")
    extended: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return extended


def dictionary_path(dialect: Dialect, cache_dir: Path | None = None) -> Path:
    """Return the dictionary for ``dialect``: the standard one, or a copy extended with its custom tags."""
    base = base_dictionary_path(dialect)
    if not dialect.custom_fields:
        return base
    extended = extend_dictionary(base.read_bytes(), dialect.custom_fields)
    digest = hashlib.sha256(extended).hexdigest()[:16]
    directory = cache_dir or Path(tempfile.gettempdir()) / "gateway-fix-dictionaries"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{dialect.name}-{digest}.xml"
    if not path.is_file():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(extended)
        tmp.replace(path)
    return path


class FixValidator:
    """Validate raw FIX messages with a quickfix DataDictionary (framing, header, fields, values)."""

    def __init__(self, path: Path, *, check_user_defined_fields: bool = True) -> None:
        import quickfix  # noqa: PLC0415  (optional dependency, loaded only when validating)

        self._quickfix: Any = quickfix
        self.path = path
        self._dictionary = quickfix.DataDictionary(str(path))
        self._dictionary.checkUserDefinedFields(check_user_defined_fields)

    @classmethod
    def for_dialect(cls, dialect: Dialect, cache_dir: Path | None = None) -> FixValidator:
        """Build a validator that knows the dialect's custom tags."""
        return cls(dictionary_path(dialect, cache_dir))

    def check(self, raw: bytes) -> str | None:
        """Return None if ``raw`` is a valid message, else quickfix's complaint."""
        quickfix = self._quickfix
        try:
            message = quickfix.Message(raw.decode("ascii"), self._dictionary, True)
            self._dictionary.validate(message)
        except (quickfix.FIXException, UnicodeDecodeError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None
