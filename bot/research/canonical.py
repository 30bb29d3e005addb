"""Identity of a research item: canonical URL, arXiv id without version, DOI, title key.

Two items are the same paper when any of these agree (see :mod:`bot.research.dedup`):

* **canonical URL** — scheme and ``www.`` dropped, host lower-cased, default ports, fragments,
  tracking parameters (``utm_*``, ``ref``, ``source``…) and trailing slashes removed; arXiv
  ``abs``/``pdf`` URLs (with or without version or ``.pdf``) become ``arxiv.org/abs/<id>``;
  ``doi.org``/``dx.doi.org`` URLs become ``doi:<doi>``;
* **arXiv id** without its version (``2403.01234v2`` → ``2403.01234``; old style
  ``cs/0101001`` kept);
* **DOI**, lower-cased (DOIs are case-insensitive); arXiv's own DOIs (``10.48550/arXiv.<id>``)
  map to the arXiv id;
* **title key** — NFKD-folded, lower-cased, punctuation and whitespace collapsed.
  Near-identical titles (same key, or ≥ 0.93 similar within the same first-words block, with
  the same numbers) match.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from urllib.parse import parse_qsl, urlencode

_TRACKING = re.compile(r"^(utm_.*|ref|ref_src|source|fbclid|gclid|mc_cid|mc_eid|s|via)$", re.I)
_ARXIV_NEW = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(v\d+)?(?!\d)")
_ARXIV_OLD = re.compile(r"\b([a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?\b")
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf|html)/([^?#]+?)(?:\.pdf)?/?$", re.I)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)", re.I)
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.I)
TITLE_SIMILARITY = 0.93
_DIGITS = re.compile(r"\d+")
_DIGITS_ONLY = bytes(c if 48 <= c <= 57 else 32 for c in range(256))


def arxiv_id(text: str) -> str:
    """The arXiv id (no version) found in an id, URL or DOI string; "" when none."""
    if not text:
        return ""
    text = text.strip()
    m = _ARXIV_DOI.match(text)
    if m:
        text = m.group(1)
    m = _ARXIV_URL.search(text)
    if m:
        text = m.group(1)
    text = re.sub(r"^arxiv:", "", text, flags=re.I)
    m = _ARXIV_NEW.search(text)
    if m:
        return m.group(1)
    m = _ARXIV_OLD.search(text)
    if m:
        return m.group(1)
    return ""


def doi(text: str) -> str:
    """The DOI in ``text`` (lower-cased, trailing punctuation stripped); "" when none."""
    if not text:
        return ""
    m = _DOI.search(text)
    if not m:
        return ""
    return m.group(1).rstrip(".,;)").lower()


_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?")


def canonical_url(url: str) -> str:
    """A comparable form of ``url`` ("" for an empty or non-HTTP URL)."""
    url = (url or "").strip()
    if not url:
        return ""
    m = _URL.match(url if "://" in url else "https://" + url)
    if m is None:
        return url.lower()
    scheme, netloc, path, qs = m.group(1).lower(), m.group(2), m.group(3), m.group(4) or ""
    if scheme not in ("http", "https"):
        return ""
    host, _, port = netloc.rpartition("@")[2].lower().partition(":")
    if host.startswith("www."):
        host = host[4:]
    if host in ("doi.org", "dx.doi.org"):
        d = doi(path.lstrip("/"))
        if d:
            return "doi:" + d
    if host.endswith("arxiv.org"):
        aid = arxiv_id(path)
        if aid:
            return "arxiv.org/abs/" + aid
    if port and port not in ("80", "443"):
        host = f"{host}:{port}"
    query = ""
    if qs:
        query = urlencode(
            sorted((k, v) for k, v in parse_qsl(qs, keep_blank_values=True) if not _TRACKING.match(k))
        )
    path = path.rstrip("/")
    return f"{host}{path}?{query}" if query else f"{host}{path}"


_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# ASCII titles: letters lower-cased, digits kept, every other byte a space (bytes.translate is a
# table lookup per byte, several times faster than the regex; split/join collapses the spaces)
_ASCII_FOLD = bytes(ord(chr(c).lower()) if c < 128 and chr(c).isalnum() else 32 for c in range(256))


def title_key(title: str) -> str:
    """Lower-case ASCII-folded words of ``title``, single-spaced."""
    folded = title or ""
    if folded.isascii():
        return " ".join(folded.encode("ascii").translate(_ASCII_FOLD).decode("ascii").split())
    folded = unicodedata.normalize("NFKD", folded)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return _NON_ALNUM.sub(" ", folded.lower()).strip()


def title_block(key: str) -> str:
    """The blocking key for fuzzy title matching: its numbers (which must match anyway, see
    :func:`similar_titles`), its first two words and its length in tens of characters —
    near-identical titles share it, different ones rarely do, so few candidates are compared."""
    words = key.split(" ", 2)  # title keys are single-spaced
    first_two = words[0] + " " + words[1] if len(words) > 1 else words[0]
    if key.isascii():  # (title keys are) the digit runs, by a byte table rather than the regex
        numbers = " ".join(key.encode("ascii").translate(_DIGITS_ONLY).decode("ascii").split())
    else:
        numbers = " ".join(_DIGITS.findall(key))
    return f"{numbers}|{first_two}|{len(key) // 10}"


def similar_titles(a: str, b: str, threshold: float = TITLE_SIMILARITY) -> bool:
    """Whether two title *keys* are near-identical: the same numbers in the same order (so
    "Llama 2" is not "Llama 3", "… study 12" not "… study 13") and ≥ ``threshold`` similar."""
    if a == b:
        return bool(a)
    if not a or not b or min(len(a), len(b)) < 12:
        return False
    if _DIGITS.findall(a) != _DIGITS.findall(b):
        return False
    sm = SequenceMatcher(None, a, b, autojunk=False)
    if sm.real_quick_ratio() < threshold or sm.quick_ratio() < threshold:
        return False
    return sm.ratio() >= threshold
