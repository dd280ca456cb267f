"""Validate worksheet XML against the ECMA-376 transitional schema (sml.xsd and its imports) with lxml.

The schema files in schemas/ecma-376/ are the ECMA-376 transitional W3C XML Schemas as
redistributed by python-openxml/python-docx (MIT), ref/xsd/ at commit e45454602b53e8e572b179ccf1c91093ec9f4ed7.

Office programs add extension markup that the 2006 schema does not know (x14ac:dyDescent on rows,
mc:AlternateContent); a consumer is told by mc:Ignorable to ignore it, so it is removed first, as
Markup Compatibility (ECMA-376 Part 3) asks a reader to.
"""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
HERE = Path(__file__).resolve().parent / "schemas" / "ecma-376"


@functools.lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(HERE / "sml.xsd")))


def understood(xml: bytes) -> etree._Element:
    """The document as a 2006-only consumer sees it after Markup Compatibility processing."""
    root = etree.fromstring(xml)
    ignorable = set()
    for el in root.iter(tag=etree.Element):
        declared = el.get(f"{{{MC}}}Ignorable")
        if declared:
            ignorable |= {el.nsmap.get(prefix) for prefix in declared.split()}
    for el in list(root.iter(tag=etree.Element)):
        name = etree.QName(el)
        if name.namespace in ignorable or (name.namespace == MC and name.localname == "AlternateContent"):
            el.getparent().remove(el)
            continue
        for attr in list(el.attrib):
            if etree.QName(attr).namespace in ignorable | {MC}:
                del el.attrib[attr]
    return root


def errors(xml: bytes) -> list[str]:
    """Schema violations of a worksheet part (empty: valid)."""
    checker = schema()
    if checker.validate(understood(xml)):
        return []
    return [f"line {e.line}: {e.message}" for e in checker.error_log]
