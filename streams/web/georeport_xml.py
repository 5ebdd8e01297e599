"""The XML form of every GeoReport v2 response (the spec's base format), from the same data as the JSON.

The spec's shapes: ``<services><service>…``, ``<service_definition>…<attributes><attribute>…``,
``<service_requests><request>…`` (GET and the POST answer alike), ``<errors><error>…`` and
``<discovery>…<endpoints><endpoint>…<formats><format>``. A ``None`` is an empty element and a
boolean is ``true``/``false``, as in the spec's examples.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ITEM_OF", "XML_CONTENT_TYPE", "to_xml"]

XML_CONTENT_TYPE = "text/xml"
# Characters XML 1.0 cannot carry at all (control characters, lone surrogates): a citizen's text may hold them.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# A list element's children: the spec names each item after its container.
ITEM_OF = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return _NOT_XML.sub("\ufffd", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, str(key)), child)
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        item = ITEM_OF.get(element.tag)
        if item is None:
            raise ValueError(f"<{element.tag}> holds a list, but the spec names no item element for it")
        for child in value:
            _fill(ET.SubElement(element, item), child)
    else:
        element.text = _text(value)


def to_xml(root: str, data: Any) -> str:
    """``data`` (what the JSON response carries) as the spec's XML document under ``<root>``."""
    element = ET.Element(root)
    _fill(element, data)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode")
