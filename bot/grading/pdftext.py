"""Best-effort plain text from a PDF, with the standard library only (zlib + regular expressions).

Enough for verification to read the method section of an arXiv paper: every content stream is
inflated (``/FlateDecode``; others are read as they are), and the strings shown by the text
operators ``Tj``, ``'``, ``"`` and ``TJ`` are collected in order; ``TJ`` kerning larger than a
space width becomes a space, and ``Td``/``TD``/``T*``/``ET`` become line breaks. Fonts with custom
encodings can yield garbage, so :func:`extract_text` returns "" when less than
``min_letter_share`` of the result is letters, digits, punctuation or spaces — callers then fall
back to the abstract page.
"""

from __future__ import annotations

import re
import zlib

STREAM_RE = re.compile(rb"<<(?P<dict>(?:(?!>>).)*?)>>\s*stream\r?\n(?P<data>.*?)\r?\n?endstream", re.S)
TOKEN_RE = re.compile(
    rb"\((?P<str>(?:\\.|[^\\)])*)\)\s*(?P<op>Tj|'|\")"
    rb"|\[(?P<arr>(?:\\.|[^\]\\])*)\]\s*TJ"
    rb"|(?P<nl>T\*|Td|TD|ET)(?![A-Za-z])",
    re.S,
)
ARRAY_PART_RE = re.compile(rb"\((?P<s>(?:\\.|[^\\)])*)\)|(?P<n>-?\d+(?:\.\d+)?)")
ESCAPES = {b"n": "\n", b"r": "\r", b"t": "\t", b"b": "\b", b"f": "\f", b"(": "(", b")": ")", b"\\": "\\"}


def _unescape(raw: bytes) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        c = raw[i : i + 1]
        if c == b"\\" and i + 1 < len(raw):
            nxt = raw[i + 1 : i + 2]
            octal = re.match(rb"[0-7]{1,3}", raw[i + 1 : i + 4])
            if octal:
                out.append(chr(int(octal.group(0), 8)))
                i += 1 + len(octal.group(0))
                continue
            out.append(ESCAPES.get(nxt, nxt.decode("latin-1")))
            i += 2
            continue
        out.append(c.decode("latin-1"))
        i += 1
    return "".join(out)


def _streams(pdf: bytes) -> list[bytes]:
    out = []
    for m in STREAM_RE.finditer(pdf):
        data = m.group("data")
        if b"/FlateDecode" in m.group("dict"):
            try:
                data = zlib.decompressobj().decompress(data)
            except zlib.error:
                continue
        elif b"/Filter" in m.group("dict"):
            continue  # images and other encodings
        out.append(data)
    return out


def _text_of(stream: bytes) -> str:
    parts: list[str] = []
    for m in TOKEN_RE.finditer(stream):
        if m.group("nl"):
            parts.append("\n")
        elif m.group("str") is not None:
            parts.append(_unescape(m.group("str")))
        else:
            for p in ARRAY_PART_RE.finditer(m.group("arr")):
                if p.group("s") is not None:
                    parts.append(_unescape(p.group("s")))
                elif float(p.group("n")) < -200:  # a large negative kern is a word gap
                    parts.append(" ")
    return "".join(parts)


def extract_text(pdf: bytes, *, min_letter_share: float = 0.8) -> str:
    """The text of ``pdf`` with whitespace collapsed per line, or "" when it looks like garbage."""
    if not pdf.startswith(b"%PDF"):
        return ""
    text = "\n".join(_text_of(s) for s in _streams(pdf))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    text = "\n".join(line for line in lines if line)
    if not text:
        return ""
    readable = sum(1 for ch in text if ch.isalnum() or ch.isspace() or ch in ".,;:()[]-–+=%/'\"!?")
    return text if readable / len(text) >= min_letter_share else ""
