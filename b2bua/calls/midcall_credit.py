"""A mid-call code of another credit account (sans-IO): the prepaid call's credit
moves with the code (b2bua.calls.midcall; the controller's side is
``b2bua.billing.credit.CreditController.move``).

Theory of operation
-------------------
A code accepted by the policy whose credit account or rate plan differs from
the prepaid call's is not in force yet: the request that carried it stays
unanswered while the shell reserves the rest of the call on the new account
(:class:`MoveCredit` out; ``CreditMoves.done`` with the
:class:`~b2bua.billing.credit.MoveResult` back).  Held: the code becomes the
call's from the result's ``at`` (the record splits there, where the credit
controller started the new segment) and the request is answered 200.  Refused
(no such account, another currency, not enough credit for the next chunk, the
database unreachable, the call not paid ahead right now): 403 ``Credit refused:
REASON`` and the call goes on under its previous code and account (fail closed).
One move at a time per call (another code meanwhile: 491 Request Pending).

Public API
----------
``CreditMoves()``; ``start(call, account, set_by, reply) -> (status, reason)``
(0 when pending); ``take() -> list[MoveCredit]`` for the shell;
``done(ref, result) -> pending or None``.
"""

from __future__ import annotations

from typing import Callable

import msgspec

from b2bua.billing.credit import MoveResult

from .commands import CreditRequest
from .events import AccountInfo, CallStarted

MOVING_REASON = "Request Pending"  # 491: another code is moving this call's credit
NO_MOVE = "Account code of another credit account"  # no credit control, or keys in the media (no later answer)

Reply = Callable[[int, str, float], None]  # (status, reason, now): answers the request that carried the code


class MoveCredit(msgspec.Struct, frozen=True, kw_only=True):
    """Move the prepaid call ``ref`` to the credit account (and rates) of
    ``request.account``; answer with ``MidCallCodes.credit_moved``."""

    ref: str
    request: CreditRequest


class Pending(msgspec.Struct, kw_only=True):
    account: AccountInfo
    set_by: str
    reply: Reply


class CreditMoves:
    """See the module docstring."""

    def __init__(self) -> None:
        self.pending: dict[str, Pending] = {}
        self.outbox: list[MoveCredit] = []
        self.enabled = False  # the shell moves credit (else such codes are refused 403)

    def start(
        self, ref: str, started: CallStarted, account: AccountInfo, set_by: str, reply: Reply | None
    ) -> tuple[int, str]:
        """Ask for the move of call ``ref`` to ``account``: (0, "") while it is asked."""
        if reply is None or not self.enabled:
            return 403, NO_MOVE
        if ref in self.pending:
            return 491, MOVING_REASON
        self.pending[ref] = Pending(account=account, set_by=set_by, reply=reply)
        self.outbox.append(MoveCredit(ref=ref, request=CreditRequest(
            caller=started.caller, caller_user=started.caller_user, group=started.group, dialed=started.dialed,
            destination=started.destination, route=started.route, account=account,
        )))
        return 0, ""

    def take(self) -> list[MoveCredit]:
        out, self.outbox = self.outbox, []
        return out

    def done(self, ref: str, result: MoveResult | None) -> tuple[Pending, MoveResult] | None:
        """The shell's answer (None: it failed): the move asked and its outcome."""
        pending = self.pending.pop(ref, None)
        if pending is None:
            return None
        return pending, result if result is not None else MoveResult(ok=False, reason="credit unavailable")
