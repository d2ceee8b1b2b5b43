"""SIP, SIPS and tel URIs (RFC 3261 §19.1 and §25.1, RFC 3966, RFC 5118).

``parse_uri`` returns a :class:`SipUri` for ``sip:``/``sips:``, a :class:`TelUri`
for ``tel:`` and an :class:`AbsoluteUri` for any other well-formed scheme (the
endpoint answers those with 416).  User and password are kept unescaped;
``str()`` escapes what the grammar does not allow unescaped.  IPv6 hosts are
kept without brackets and written with them (RFC 5118 §4.1).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Union

import msgspec

from .errors import ParseError

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
_HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?\Z"
)
_IPV4_RE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\Z")
_EXTRA_COLON_RE = re.compile(r"(?<=[0-9A-Fa-f]):::(?=[0-9]{1,3}(?:\.[0-9]{1,3}){3}\Z)")
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# unreserved = alphanum / mark; RFC 3261 §25.1
_UNRESERVED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()")
_USER_OK = _UNRESERVED | frozenset("&=+$,;?/")
USER_CHARS = _USER_OK  # what a user part may hold unescaped
_PASSWORD_OK = _UNRESERVED | frozenset("&=+$,")
_PARAM_OK = _UNRESERVED | frozenset("[]/:&+$")  # paramchar less escaped, RFC 3261 §25.1
_WS = frozenset(" \t\r\n")
# The same checks as one C-level regex scan each instead of a Python loop per
# character: URIs are parsed for every From, To, Contact and Request-URI.
_WS_RE = re.compile(r"[ \t\r\n]")
_BAD_URI_CHAR_RE = re.compile(r"[ \t\r\n<>]")
_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]*\Z")  # _USER_OK and "%"
_PASSWORD_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,%]*\Z")  # _PASSWORD_OK and "%"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
_IPV4_OK_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}\Z")  # ASCII, each octet <= 255
# _FAST_HOST: a host that parse_host returns unchanged (ASCII IPv4 or hostname).
_FAST_HOST = (
    rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
    r"|(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?"
)
# The usual sip/sips URI after the scheme, "user@host:port;name=value;flag": user
# without escapes, password or "?"; an IPv4 address or hostname; no URI headers.
# What it matches, _parse_sip's general path parses to the same SipUri, and
# parse_uri's checks pass (no white space or angle bracket anywhere).
_SIP_FAST_RE = re.compile(
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$,;/]+)@)?"
    rf"({_FAST_HOST})"
    r"(?::([0-9]{1,5}))?"
    r"((?:;[^;=?@\s<>]+(?:=[^;?@\s<>]*)?)*)\Z"
)


def unescape(text: str) -> str:
    """Decode %HH escapes (UTF-8, RFC 3261 §19.1.2); a bad escape is a 400."""
    if "%" not in text:
        return text
    if _BAD_ESCAPE_RE.search(text):
        raise ParseError(f"Bad escape sequence in URI: {text!r}")
    raw = _ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), text)
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def escape(text: str, allowed: frozenset[str]) -> str:
    if allowed.issuperset(text):
        return text
    out = []
    for ch in text:
        if ch in allowed:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def parse_host(text: str) -> str:
    """Validate ``host`` (hostname, IPv4address or IPv6reference); return it
    without IPv6 brackets, as given otherwise."""
    if text.startswith("["):
        if not text.endswith("]"):
            raise ParseError(f"Bad IPv6 reference: {text!r}")
        inner = text[1:-1]
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            # RFC 5118 §4.10: RFC 3261's ABNF (from RFC 2373) allows an extra colon
            # before an embedded IPv4 address, "2001:db8:::192.0.2.1"; tolerate
            # it and keep the corrected form.
            fixed = _EXTRA_COLON_RE.sub("::", inner, count=1)
            try:
                ipaddress.IPv6Address(fixed)
            except ValueError:
                raise ParseError(f"Bad IPv6 reference: {text!r}") from None
            return fixed
        return inner
    if _IPV4_OK_RE.match(text):
        return text
    if _IPV4_RE.match(text):
        if any(int(part) > 255 for part in text.split(".")):
            raise ParseError(f"Bad IPv4 address: {text!r}")
        return text
    if _HOSTNAME_RE.match(text):
        return text
    raise ParseError(f"Bad host: {text!r}")


def parse_hostport(text: str) -> tuple[str, int | None]:
    """``host [":" port]`` -> (host without brackets, port or None)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ParseError(f"Bad IPv6 reference: {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ParseError(f"Bad host and port: {text!r}")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_ = text.partition(":")
        port_text = port_text_ if sep else None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
            raise ParseError(f"Bad port: {text!r}")
        port = int(port_text)
        if port > 65535:
            raise ParseError(f"Bad port: {text!r}")
    return parse_host(host), port


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _parse_params(text: str, what: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    if not text:
        return params
    ws = _WS_RE.search(text) is not None
    for item in text.split(";"):
        if not item:
            raise ParseError(f"Empty {what} parameter")
        name, sep, value = item.partition("=")
        if not name or (ws and any(c in _WS for c in item)):
            raise ParseError(f"Bad {what} parameter: {item!r}")
        if "%" in item:
            # escaped is part of paramchar: ";%6C%72" is ";lr" (RFC 3261 §19.1.2, RFC 4475 §3.1.1.3)
            name, value = unescape(name), unescape(value)
        params[name.lower()] = value if sep else None
    return params


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(
        f";{escape(k, _PARAM_OK)}" if v is None else f";{escape(k, _PARAM_OK)}={escape(v, _PARAM_OK)}"
        for k, v in params.items()
    )


class SipUri(msgspec.Struct, frozen=True, kw_only=True):
    """sip: or sips: URI.  ``params`` keys are lowercase; names and values
    unescaped (``str()`` escapes them again)."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str
    port: int | None = None
    params: dict[str, str | None] = {}
    headers: str | None = None  # raw text after '?', escaped

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(escape(self.user, _USER_OK))
            if self.password is not None:
                out.append(":")
                out.append(escape(self.password, _PASSWORD_OK))
            out.append("@")
        out.append(format_host(self.host))
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(_format_params(self.params))
        if self.headers is not None:
            out.append("?" + self.headers)
        return "".join(out)

    @property
    def transport(self) -> str:
        t = self.params.get("transport")
        return t.lower() if t else ("tls" if self.scheme == "sips" else "udp")

    def with_(self, **changes: object) -> "SipUri":
        return msgspec.structs.replace(self, **changes)


class TelUri(msgspec.Struct, frozen=True, kw_only=True):
    """tel: URI (RFC 3966): the number and its parameters."""

    number: str
    params: dict[str, str | None] = {}

    @property
    def user(self) -> str:
        return self.number

    def __str__(self) -> str:
        return "tel:" + self.number + _format_params(self.params)


class AbsoluteUri(msgspec.Struct, frozen=True, kw_only=True):
    """Any other scheme: kept whole (the endpoint answers 416 for a Request-URI)."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = Union[SipUri, TelUri, AbsoluteUri]


def parse_uri(text: str) -> Uri:
    """Parse a URI as found in a Request-URI or inside ``<...>``."""
    if text.startswith("sip:"):
        uri = _fast_sip("sip", text[4:])
        if uri is not None:
            return uri
    scheme, sep, rest = text.partition(":")
    if not sep or not _SCHEME_RE.match(scheme):
        raise ParseError(f"Bad URI: {text!r}")
    if _BAD_URI_CHAR_RE.search(text):
        raise ParseError(f"Bad URI (white space or angle bracket): {text!r}")
    lscheme = scheme.lower()
    if lscheme in ("sip", "sips"):
        return _parse_sip(lscheme, rest, text)
    if lscheme == "tel":
        number, _, ptext = rest.partition(";")
        if not number or not re.fullmatch(r"\+?[0-9A-Fa-f*#\-.()pPwW]+", number):
            raise ParseError(f"Bad tel URI: {text!r}")
        return TelUri(number=number, params=_parse_params(ptext, "tel URI"))
    if not rest:
        raise ParseError(f"Bad URI: {text!r}")
    return AbsoluteUri(scheme=lscheme, rest=rest)


def _fast_sip(scheme: str, rest: str) -> SipUri | None:
    """The usual URI (see _SIP_FAST_RE) parsed in one regex scan, else None."""
    fast = _SIP_FAST_RE.match(rest)
    if fast is None:
        return None
    user, host, port_text, ptext = fast.groups()
    port = int(port_text) if port_text is not None else None
    if port is not None and port > 65535 or "%" in ptext:
        return None  # the general path checks the port and unescapes parameters
    params: dict[str, str | None] = {}
    if ptext:
        for item in ptext[1:].split(";"):
            name, sep, value = item.partition("=")
            params[name.lower()] = value if sep else None
    return SipUri(scheme=scheme, user=user, host=host, port=port, params=params)


def _parse_sip(scheme: str, rest: str, text: str) -> SipUri:
    fast = _fast_sip(scheme, rest)
    if fast is not None:
        return fast
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        u, sep, p = userinfo.partition(":")
        if not u and not sep:
            raise ParseError(f"Empty user part in URI: {text!r}")
        if not _USER_RE.match(u):
            raise ParseError(f"Bad user part in URI: {text!r}")
        user = unescape(u)
        if sep:
            if not _PASSWORD_RE.match(p):
                raise ParseError(f"Bad password in URI: {text!r}")
            password = unescape(p)
    headers = None
    q = rest.find("?")
    if q >= 0:
        rest, headers = rest[:q], rest[q + 1 :]
    semi = rest.find(";")
    if rest.startswith("["):
        close = rest.find("]")
        semi = rest.find(";", close) if close >= 0 else semi
    if semi >= 0:
        hostport, ptext = rest[:semi], rest[semi + 1 :]
    else:
        hostport, ptext = rest, ""
    if not hostport:
        raise ParseError(f"Missing host in URI: {text!r}")
    host, port = parse_hostport(hostport)
    return SipUri(
        scheme=scheme,
        user=user,
        password=password,
        host=host,
        port=port,
        params=_parse_params(ptext, "URI"),
        headers=headers,
    )


def uri_equal(a: Uri, b: Uri) -> bool:
    """URI comparison, RFC 3261 §19.1.4 (the parts this server relies on)."""
    if isinstance(a, SipUri) and isinstance(b, SipUri):
        if (a.scheme, a.user, a.password, a.host.lower(), a.port) != (
            b.scheme,
            b.user,
            b.password,
            b.host.lower(),
            b.port,
        ):
            return False
        for key in ("user", "ttl", "method", "maddr", "transport"):
            if (key in a.params or key in b.params) and (
                (a.params.get(key) or "").lower() != (b.params.get(key) or "").lower()
            ):
                return False
        for key in a.params.keys() & b.params.keys():
            if (a.params[key] or "").lower() != (b.params[key] or "").lower():
                return False
        return True
    return str(a).lower() == str(b).lower()
