"""A code for the caller's last call by dialing the mid-call VSC alone (sans-IO).

Theory of operation
-------------------
Within the group's ``post_call_window`` after an answered call ends, its caller
may dial the group's ``midcall_vsc`` (``*89``) alone, as a new call.  The policy
answers ``collect`` (rule ``post_call_prompt``); admission asks
:meth:`LastCalls.has_last` whether the caller has such a call (none: 403 ``No
recent call to assign an account code to``, before any prompt), then prompts
(the prompt is answered 200: the call ends by BYE).  The code keyed is handed to
:meth:`LastCalls.attach_last`: the same checks and the same path as a
Target-Dialog request naming the ended call (``MidCallCodes.attach``: the
code's restrictions for that call's destination, the guessing lockout, once per
call, ``CodeChanged(post_call=True)``).  Accepted, the caller hears "thank you"
and the server hangs up; refused, "invalid code, please try again" while
attempts are left, then the failure announcement and a BYE.

The prompted call itself is never billed: it reaches no callee.  Its record
(route ``prompt``, dialed ``*89``) says what happened: status 200 and cause
``Account code assigned to the last call``, or the refusal's status and reason.

Public API
----------
``LastCallCodes(midcall)``: ``has_last(user, now)``, ``attach_last(user, code,
address, now) -> (status, reason)``; set as ``Admission.last_calls``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .prompting import NO_LAST_CALL

if TYPE_CHECKING:
    from .midcall import MidCallCodes


class LastCallCodes:
    """See the module docstring."""

    def __init__(self, midcall: "MidCallCodes") -> None:
        self.midcall = midcall

    def _last(self, user: str, now: float) -> tuple[str, str, str] | None:
        """The dialog key of ``user``'s most recent ended call still in its window."""
        recent = self.midcall.recent
        for key in reversed(recent):  # in the order the calls ended: the last first
            ended = recent[key]
            if ended.started.caller_user == user:
                return key if now - ended.at <= ended.window else None
        return None

    def has_last(self, user: str, now: float) -> bool:
        return bool(user) and self._last(user, now) is not None

    def attach_last(self, user: str, code: str, address: str, now: float) -> tuple[int, str]:
        key = self._last(user, now) if user else None
        if key is None:
            return 403, NO_LAST_CALL
        return self.midcall.attach(key, code, user, address, now)
