"""XMP packets: parse hostile input safely, edit the caption fields in place, serialise faithfully.

A packet is kept as a DOM so that every property photocap does not own (and its prefixes, order,
comments and structure) survives an edit. Parsing goes through defusedxml with DTDs forbidden, so
entity expansion and external entities are refused before any expansion happens. Serialisation is our
own: it escapes tabs, newlines and carriage returns in attributes and text, so values round-trip.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from xml.dom import Node
from xml.dom.minidom import Document, Element
from xml.parsers.expat import ExpatError

import defusedxml
import defusedxml.minidom

from photocap.errors import MetadataError, UnsafeXMPError
from photocap.metadata._xmp_dom import (  # noqa: F401 - NS_* are part of this module's API
    MAX_DEPTH,
    NS_RDF,
    NS_X,
    NS_XML,
    NS_XMLNS,
    _append,
    _children,
    _clear,
    _ensure_prefix,
    _escape,
    _find_rdf,
    _is,
    _lang_alt_value,
    _merge_array_items,
    _namespaces_used,
    _prescan,
    _property_attrs,
    _remove,
    _scope,
    _serialize,
    _set_text,
    _text,
    _TooDeep,
)

NS_DC = "http://purl.org/dc/elements/1.1/"
NS_IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
NS_XMP_NOTE = "http://ns.adobe.com/xmp/note/"
NS_PHOTOCAP = "http://ns.photocap.dev/xmp/1.0/"

ALT_TEXT = (NS_IPTC_CORE, "AltTextAccessibility", "Iptc4xmpCore")
DESCRIPTION = (NS_DC, "description", "dc")
SUBJECT = (NS_DC, "subject", "dc")  # keywords (rdf:Bag), shared with the people who tag photos
OWN_KEYWORDS = (NS_PHOTOCAP, "Keywords", "photocap")  # which of dc:subject photocap put there
HAS_EXTENDED = (NS_XMP_NOTE, "HasExtendedXMP", "xmpNote")
PROVENANCE_FIELDS = ("Caption", "ModelId", "Version", "CaptionedAt", "Confidence", "Basis")
OWNED = {ALT_TEXT[:2], DESCRIPTION[:2], HAS_EXTENDED[:2], OWN_KEYWORDS[:2]} | {
    (NS_PHOTOCAP, f) for f in PROVENANCE_FIELDS
}

MAX_PACKET_BYTES = 16 * 1024 * 1024
PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
_NEW_PACKET = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"{toolkit}>\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about=""/>\n'
    " </rdf:RDF>\n"
    "</x:xmpmeta>"
)


@dataclass(frozen=True)
class Provenance:
    """What photocap recorded when it wrote a caption."""

    caption: str
    model_id: str | None = None
    version: str | None = None
    captioned_at: str | None = None
    confidence: str | None = None  # the caption's calibrated confidence, 0-1, as written ("0.82")
    basis: str | None = (
        None  # "labels": a label line of sure objects, not a sentence; None: sentence
    )


class XmpDocument:
    """One XMP packet (or sidecar) as an editable DOM."""

    def __init__(self, dom: Document, rdf: Element):
        self.dom = dom
        self.rdf = rdf

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, *, path: Path) -> XmpDocument:
        """Parse an XMP packet, refusing DTDs, entities and external references (UnsafeXMPError)."""
        if len(data) > MAX_PACKET_BYTES:
            raise MetadataError(f"XMP larger than {MAX_PACKET_BYTES >> 20} MiB; refused", path=path)
        if not data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 packets keep their NULs
            data = data.strip(b"\x00 \t\r\n")
        if not data:
            return cls.new()
        try:
            _prescan(data)
            dom = defusedxml.minidom.parseString(
                data, forbid_dtd=True, forbid_entities=True, forbid_external=True
            )
        except _TooDeep:
            raise UnsafeXMPError(
                f"XMP refused as unsafe (elements nested more than {MAX_DEPTH} deep)",
                path=path,
                hint="the file was left untouched; remove its XMP with a trusted tool",
            ) from None
        except defusedxml.DefusedXmlException as e:
            raise UnsafeXMPError(
                f"XMP refused as unsafe ({type(e).__name__}: a DTD, entity or external reference)",
                path=path,
                hint="the file was left untouched; remove its XMP with a trusted tool",
            ) from None
        except (ExpatError, ValueError) as e:
            raise MetadataError(
                f"XMP is not well-formed XML ({e})",
                path=path,
                hint="the file was left untouched; repair or remove its XMP",
            ) from None
        return cls(dom, _find_rdf(dom, path))

    @classmethod
    def new(cls, toolkit: str | None = None) -> XmpDocument:
        """An empty packet (naming the toolkit that wrote it, if given)."""
        attr = f' x:xmptk="{_escape(toolkit, attr=True)}"' if toolkit else ""
        dom = defusedxml.minidom.parseString(_NEW_PACKET.format(toolkit=attr))
        return cls(dom, _find_rdf(dom, None))

    # -- reading ------------------------------------------------------------------------------

    def descriptions(self) -> list[Element]:
        return [e for e in _children(self.rdf) if _is(e, NS_RDF, "Description")]

    def get_lang_alt(self, ns: str, name: str) -> str | None:
        """The `x-default` item of a lang-alt property (else its first item, else its plain text)."""
        for desc in self.descriptions():
            if desc.hasAttributeNS(ns, name):
                return desc.getAttributeNS(ns, name)
            for prop in _children(desc, ns, name):
                return _lang_alt_value(prop)
        return None

    def get_simple(self, ns: str, name: str) -> str | None:
        for desc in self.descriptions():
            if desc.hasAttributeNS(ns, name):
                return desc.getAttributeNS(ns, name)
            for prop in _children(desc, ns, name):
                return _text(prop)
        return None

    def get_bag(self, ns: str, name: str) -> list[str] | None:
        """The items of an unordered array (rdf:Bag) property, in document order; None when absent.
        A property holding plain text instead counts as one item."""
        found = None
        for desc in self.descriptions():
            if desc.hasAttributeNS(ns, name):
                found = (found or []) + [desc.getAttributeNS(ns, name)]
            for prop in _children(desc, ns, name):
                containers = _children(prop)
                items = [_text(li) for c in containers for li in _children(c, NS_RDF, "li")]
                found = (found or []) + (items if containers else [_text(prop)])
        return found

    def provenance(self) -> Provenance | None:
        caption = self.get_simple(NS_PHOTOCAP, "Caption")
        if caption is None:
            return None
        return Provenance(
            caption, *(self.get_simple(NS_PHOTOCAP, f) for f in PROVENANCE_FIELDS[1:])
        )

    def is_empty(self) -> bool:
        return not any(_children(d) or _property_attrs(d) for d in self.descriptions())

    # -- editing ------------------------------------------------------------------------------

    def set_lang_alt(self, field: tuple[str, str, str], text: str) -> None:
        """Set the `x-default` item of a lang-alt property; other languages' items stay."""
        prop = self._property_element(field)
        alt = next((e for e in _children(prop) if _is(e, NS_RDF, "Alt")), None)
        if alt is None:
            _clear(prop)
            alt = self._rdf_element("Alt")
            _append(prop, alt)
        items = [e for e in _children(alt) if _is(e, NS_RDF, "li")]
        item = next(
            (e for e in items if e.getAttributeNS(NS_XML, "lang").lower() == "x-default"), None
        )
        if item is None:
            item = self._rdf_element("li")
            item.setAttributeNS(NS_XML, "xml:lang", "x-default")
            _append(alt, item, before=items[0] if items else None)
        _set_text(item, text)

    def set_simple(self, field: tuple[str, str, str], text: str) -> None:
        _set_text(self._property_element(field), text)

    def edit_bag(self, field: tuple[str, str, str], remove: set[str], add: list[str]) -> None:
        """Remove the items whose text is in `remove` and append `add` to an rdf:Bag property;
        every other item stays as it was. The property goes when no item is left."""
        ns, name, _ = field
        if self.get_bag(ns, name) is None and not add:
            return
        prop = self._property_element(field, merge_items=True)
        bag = next((e for e in _children(prop) if _is(e, NS_RDF, "Bag")), None)
        if bag is None:
            text = _text(prop) if not _children(prop) else ""
            _clear(prop)
            bag = self._rdf_element("Bag")
            _append(prop, bag)
            if text:
                item = self._rdf_element("li")
                _append(bag, item)
                _set_text(item, text)
        for item in [e for e in _children(bag) if _is(e, NS_RDF, "li")]:
            if _text(item) in remove:
                _remove(item)
        for text in add:
            item = self._rdf_element("li")
            _append(bag, item)
            _set_text(item, text)
        if not _children(bag):
            self.remove(ns, name)

    def set_provenance(self, prov: Provenance) -> None:
        values = (
            prov.caption,
            prov.model_id,
            prov.version,
            prov.captioned_at,
            prov.confidence,
            prov.basis,
        )
        for name, value in zip(PROVENANCE_FIELDS, values, strict=True):
            if value is None:
                self.remove(NS_PHOTOCAP, name)
            else:
                self.set_simple((NS_PHOTOCAP, name, "photocap"), value)

    def remove_provenance(self) -> None:
        for name in PROVENANCE_FIELDS:
            self.remove(NS_PHOTOCAP, name)

    def remove_lang_alt_default(self, field: tuple[str, str, str]) -> None:
        """Remove the `x-default` item of a lang-alt property (the whole property when it was
        plain text or its only item); other languages' items stay."""
        ns, name, _ = field
        for desc in self.descriptions():
            if desc.hasAttributeNS(ns, name):
                desc.removeAttributeNS(ns, name)
            for prop in _children(desc, ns, name):
                alts = [e for e in _children(prop) if _is(e, NS_RDF, "Alt")]
                items = [li for alt in alts for li in _children(alt, NS_RDF, "li")]
                for li in items:
                    if li.getAttributeNS(NS_XML, "lang").lower() == "x-default":
                        _remove(li)
                if not alts or not any(_children(alt, NS_RDF, "li") for alt in alts):
                    _remove(prop)

    def remove(self, ns: str, name: str) -> bool:
        """Remove a property wherever it is; True when there was one."""
        found = False
        for desc in self.descriptions():
            if desc.hasAttributeNS(ns, name):
                desc.removeAttributeNS(ns, name)
                found = True
            for prop in _children(desc, ns, name):
                _remove(prop)
                found = True
        return found

    def _property_element(self, field: tuple[str, str, str], merge_items: bool = False) -> Element:
        """The element of a property, made unique and in element form (created when absent).
        With `merge_items`, the array items of duplicates join the first one's array."""
        ns, name, prefix = field
        existing = [p for d in self.descriptions() for p in _children(d, ns, name)]
        attr_value = None
        for desc in self.descriptions():
            if desc.hasAttributeNS(ns, name):
                attr_value = desc.getAttributeNS(ns, name)
                desc.removeAttributeNS(ns, name)
        for extra in existing[1:]:
            if merge_items:
                _merge_array_items(existing[0], extra)
            _remove(extra)
        if existing:
            return existing[0]
        desc = self._main_description()
        prefix = _ensure_prefix(desc, ns, prefix)
        prop = self.dom.createElementNS(ns, f"{prefix}:{name}")
        if attr_value is not None:
            prop.appendChild(self.dom.createTextNode(attr_value))
        _append(desc, prop)
        return prop

    def _main_description(self) -> Element:
        descs = self.descriptions()
        if descs:
            return descs[0]
        desc = self._rdf_element("Description")
        desc.setAttributeNS(NS_RDF, f"{_ensure_prefix(self.rdf, NS_RDF, 'rdf')}:about", "")
        _append(self.rdf, desc)
        return desc

    def _rdf_element(self, name: str) -> Element:
        return self.dom.createElementNS(NS_RDF, f"{_ensure_prefix(self.rdf, NS_RDF, 'rdf')}:{name}")

    # -- extended XMP ---------------------------------------------------------------------------

    def movable_properties(self) -> list[Element]:
        """Property elements photocap does not own, largest first (candidates for Extended XMP)."""
        props = [
            p
            for d in self.descriptions()
            for p in _children(d)
            if (p.namespaceURI, p.localName) not in OWNED
        ]
        return sorted(props, key=lambda p: len(_serialize(p)), reverse=True)

    def move_named(self, ns: str, name: str, other: XmpDocument) -> bool:
        """Move every element of property `ns:name` into `other`; True when there was one."""
        props = [p for d in self.descriptions() for p in _children(d, ns, name)]
        for prop in props:
            self.move_property(prop, other)
        return bool(props)

    def move_property(self, prop: Element, other: XmpDocument) -> None:
        """Move a property element (with the namespaces it uses) into `other`'s main description."""
        needed = _namespaces_used(prop)
        _remove(prop)
        desc = other._main_description()
        scope = _scope(desc)
        clone = other.dom.importNode(prop, True)
        for prefix, ns in needed.items():
            if scope.get(prefix) == ns:
                continue
            target = desc if prefix not in scope else clone
            target.setAttributeNS(NS_XMLNS, f"xmlns:{prefix}", ns)
        _append(desc, clone)

    def remove_owned(self) -> list[str]:
        """Remove the properties photocap owns; return the names of those that were there."""
        return [name for ns, name in sorted(OWNED) if self.remove(ns, name)]

    # -- output ---------------------------------------------------------------------------------

    def serialize(self, *, wrapper: bool) -> bytes:
        """UTF-8 bytes; with `wrapper`, inside `<?xpacket?>` begin/end processing instructions."""
        parts: list[str] = []
        nodes = list(self.dom.childNodes)
        packets = [
            n
            for n in nodes
            if n.nodeType == Node.PROCESSING_INSTRUCTION_NODE and n.target == "xpacket"
        ]
        if wrapper and not packets:
            parts.append(f'<?xpacket begin="\ufeff" id="{PACKET_ID}"?>')
        for node in nodes:
            if node in packets and not wrapper:
                continue
            parts.append(_serialize(node))
        if wrapper and not packets:
            parts.append('<?xpacket end="w"?>')
        return "\n".join(parts).encode("utf-8")

    def guid(self) -> str:
        """The Extended XMP GUID of this document's serialisation (MD5, 32 upper-case hex digits)."""
        return hashlib.md5(self.serialize(wrapper=False)).hexdigest().upper()
