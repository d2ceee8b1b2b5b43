"""Account-code policy: number classification and the account-code rules.

Pure policy (no SIP objects, no I/O, no clock): ``evaluate(context, plan,
codes, today) -> Decision``.  See :mod:`dialplan.policy` for the rules,
:mod:`dialplan.numbering` for call classes, :mod:`dialplan.dialstring` for
the dial-string forms, :mod:`dialplan.codes` for account codes and their
restrictions, :mod:`dialplan.lockout` for guessing protection.
"""

from dialplan.codes import AccountCode, CodeLookup, check_restrictions, parse_prefix_list
from dialplan.dialstring import DialForm, Fault, ParsedDial, parse_dial_string, percent_decode
from dialplan.lockout import KeyKind, Lockout, LockoutState, lockout_keys
from dialplan.numbering import (
    CallClass,
    Classified,
    E164Plan,
    ExtensionPlan,
    NorthAmericanPlan,
    NumberingPlan,
    classify,
    normalise,
)
from dialplan.policy import (
    CallContext,
    CodeSource,
    Decision,
    GroupPolicy,
    Mode,
    Outcome,
    Prompt,
    UserPolicy,
    Validation,
    evaluate,
    is_exempt,
)

__all__ = [
    "AccountCode",
    "CallClass",
    "CallContext",
    "Classified",
    "CodeLookup",
    "CodeSource",
    "Decision",
    "DialForm",
    "E164Plan",
    "ExtensionPlan",
    "Fault",
    "GroupPolicy",
    "KeyKind",
    "Lockout",
    "LockoutState",
    "Mode",
    "NorthAmericanPlan",
    "NumberingPlan",
    "Outcome",
    "ParsedDial",
    "Prompt",
    "UserPolicy",
    "Validation",
    "check_restrictions",
    "classify",
    "evaluate",
    "is_exempt",
    "lockout_keys",
    "normalise",
    "parse_dial_string",
    "parse_prefix_list",
    "percent_decode",
]
