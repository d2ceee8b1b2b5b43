"""Just enough SDP (RFC 4566) for the B2BUA to refuse a body it should not relay.

The B2BUA relays session descriptions unchanged; a body that is not SDP at
all (no ``v=0`` first, no ``o=``/``s=``, a line that is not ``x=value``) is
answered 488 rather than passed to the other side.
"""

from __future__ import annotations


def looks_valid(body: bytes) -> bool:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln]
    if not lines or lines[0].strip() != "v=0":
        return False
    kinds = set()
    for ln in lines:
        if len(ln) < 2 or ln[1] != "=" or not ln[0].isalpha():
            return False
        kinds.add(ln[0])
    return {"o", "s", "t"} <= kinds
