"""The DOM work under XMP packets (photocap.metadata.xmp): a streaming pre-scan that refuses DTDs and
absurd nesting, element helpers that keep foreign properties and prefixes intact, and a faithful
serialiser."""

from __future__ import annotations

from pathlib import Path
from xml.dom import Node
from xml.dom.minidom import Document, Element
from xml.parsers import expat

from defusedxml import DTDForbidden

from photocap.errors import MetadataError

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_XMLNS = "http://www.w3.org/2000/xmlns/"
_RDF_NODE_ATTRS = {"about", "ID", "nodeID"}
MAX_DEPTH = 64


# -- DOM helpers ------------------------------------------------------------------------------------


class _TooDeep(Exception):
    pass


def _prescan(data: bytes) -> None:
    """A quick streaming pass before the DOM is built: refuse DTDs and absurd nesting early.

    Real XMP is about a dozen levels deep; a packet nested thousands deep would only cost time and
    recursion. (defusedxml then parses for real, with DTDs, entities and external references refused.)
    """
    parser = expat.ParserCreate()
    depth = 0

    def start(name: str, attrs: object) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise _TooDeep

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    def doctype(*args: object) -> None:
        raise DTDForbidden(*(args[:3] if len(args) >= 3 else (None, None, None)))

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.StartDoctypeDeclHandler = doctype
    parser.Parse(data, True)


def _find_rdf(dom: Document, path: Path | None) -> Element:
    root = dom.documentElement
    if _is(root, NS_RDF, "RDF"):
        return root
    if root.namespaceURI == NS_X and root.localName in ("xmpmeta", "xapmeta"):
        for el in root.getElementsByTagNameNS(NS_RDF, "RDF"):
            return el
        rdf = dom.createElementNS(NS_RDF, "rdf:RDF")
        rdf.setAttributeNS(NS_XMLNS, "xmlns:rdf", NS_RDF)
        _append(root, rdf)
        return rdf
    raise MetadataError(
        f"not an XMP packet (root element <{root.tagName}>)",
        path=path,
        hint="the file was left untouched",
    )


def _is(node: Node, ns: str, name: str) -> bool:
    return node.nodeType == Node.ELEMENT_NODE and node.namespaceURI == ns and node.localName == name


def _children(el: Element, ns: str | None = None, name: str | None = None) -> list[Element]:
    return [
        c
        for c in el.childNodes
        if c.nodeType == Node.ELEMENT_NODE
        and (ns is None or (c.namespaceURI == ns and c.localName == name))
    ]


def _property_attrs(desc: Element) -> list[str]:
    return [
        a.name
        for a in desc.attributes.values()
        if a.namespaceURI not in (NS_XMLNS, NS_XML)
        and not (a.namespaceURI == NS_RDF and a.localName in _RDF_NODE_ATTRS)
    ]


def _text(el: Element) -> str:
    return "".join(
        c.data for c in el.childNodes if c.nodeType in (Node.TEXT_NODE, Node.CDATA_SECTION_NODE)
    )


def _lang_alt_value(prop: Element) -> str | None:
    containers = _children(prop)
    if not containers:
        return _text(prop) if not prop.hasAttributeNS(NS_RDF, "resource") else None
    items = [e for c in containers for e in _children(c) if _is(e, NS_RDF, "li")]
    for item in items:
        if item.getAttributeNS(NS_XML, "lang").lower() == "x-default":
            return _text(item)
    return _text(items[0]) if items else None


def _merge_array_items(into: Element, extra: Element) -> None:
    """Move the rdf:li items of `extra`'s array into `into`'s array (when both have one)."""
    target = next((c for c in _children(into) if c.namespaceURI == NS_RDF), None)
    source = next((c for c in _children(extra) if c.namespaceURI == NS_RDF), None)
    if target is None or source is None:
        return
    for item in [e for e in _children(source) if _is(e, NS_RDF, "li")]:
        _remove(item)
        _append(target, item)


def _set_text(el: Element, text: str) -> None:
    _clear(el)
    el.appendChild(el.ownerDocument.createTextNode(text))


def _clear(el: Element) -> None:
    for child in list(el.childNodes):
        el.removeChild(child)


def _remove(el: Element) -> None:
    """Remove an element and the indentation before it."""
    parent = el.parentNode
    prev = el.previousSibling
    if prev is not None and prev.nodeType == Node.TEXT_NODE and not prev.data.strip():
        parent.removeChild(prev)
    parent.removeChild(el)


def _indent(el: Element) -> str:
    prev = el.previousSibling
    if prev is not None and prev.nodeType == Node.TEXT_NODE and not prev.data.strip():
        return prev.data.rsplit("\n", 1)[-1]
    return ""


def _append(parent: Element, child: Element, before: Element | None = None) -> None:
    """Insert `child` (before `before`, else last) with indentation like its neighbours."""
    dom = parent.ownerDocument
    inner = "\n" + _indent(parent) + " "
    if before is not None:
        parent.insertBefore(child, before)
        parent.insertBefore(dom.createTextNode(inner), before)
        return
    last = parent.lastChild
    if last is not None and last.nodeType == Node.TEXT_NODE and not last.data.strip():
        parent.insertBefore(dom.createTextNode(inner), last)
        parent.insertBefore(child, last)
    else:
        parent.appendChild(dom.createTextNode(inner))
        parent.appendChild(child)
        parent.appendChild(dom.createTextNode("\n" + _indent(parent)))


def _scope(el: Element) -> dict[str, str]:
    """Prefix -> namespace bindings in scope at `el`."""
    chain = []
    node: Node | None = el
    while node is not None and node.nodeType == Node.ELEMENT_NODE:
        chain.append(node)
        node = node.parentNode
    scope: dict[str, str] = {}
    for node in reversed(chain):
        for attr in node.attributes.values():
            if attr.name.startswith("xmlns:"):
                scope[attr.name[6:]] = attr.value
    return scope


def _ensure_prefix(desc: Element, ns: str, preferred: str) -> str:
    """A prefix bound to `ns` at `desc`, declaring `preferred` (or a free variant) when needed."""
    scope = _scope(desc)
    for prefix, uri in scope.items():
        if uri == ns:
            return prefix
    prefix, n = preferred, 1
    while prefix in scope:
        prefix, n = f"{preferred}{n}", n + 1
    desc.setAttributeNS(NS_XMLNS, f"xmlns:{prefix}", ns)
    return prefix


def _namespaces_used(el: Element) -> dict[str, str]:
    used: dict[str, str] = {}
    for node in [el, *el.getElementsByTagName("*")]:
        for item in [node, *node.attributes.values()]:
            if item.prefix and item.prefix not in ("xml", "xmlns") and item.namespaceURI:
                used[item.prefix] = item.namespaceURI
    return used


# -- serialisation ----------------------------------------------------------------------------------

_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)


def _escape(text: str, *, attr: bool) -> str:
    return text.translate(_ATTR_ESCAPES if attr else _TEXT_ESCAPES)


def _serialize(node: Node) -> str:
    out: list[str] = []
    _write(node, out)
    return "".join(out)


def _write(node: Node, out: list[str]) -> None:
    kind = node.nodeType
    if kind == Node.ELEMENT_NODE:
        out.append(f"<{node.tagName}")
        for attr in node.attributes.values():
            out.append(f' {attr.name}="{_escape(attr.value, attr=True)}"')
        if not node.childNodes:
            out.append("/>")
            return
        out.append(">")
        for child in node.childNodes:
            _write(child, out)
        out.append(f"</{node.tagName}>")
    elif kind == Node.TEXT_NODE:
        out.append(_escape(node.data, attr=False))
    elif kind == Node.CDATA_SECTION_NODE:
        out.append(f"<![CDATA[{node.data}]]>")
    elif kind == Node.COMMENT_NODE:
        out.append(f"<!--{node.data}-->")
    elif kind == Node.PROCESSING_INSTRUCTION_NODE:
        out.append(f"<?{node.target} {node.data}?>" if node.data else f"<?{node.target}?>")
