"""The account-code policy: does this call need a code, is the code good, may it call there.

Theory of operation
-------------------
:func:`evaluate` is pure and total: given a :class:`CallContext`, a numbering
plan, a :class:`~dialplan.codes.CodeLookup` and today's date, it returns a
:class:`Decision` and never raises (an unexpected error becomes a 500 refusal:
fail closed).  The steps, in order (each one may end the evaluation):

1. Parse the dial string (:mod:`dialplan.dialstring`) and classify the number
   (:mod:`dialplan.numbering`).  A number is internal only if the plan says
   so (a configured extension or the extension pattern) **and** it routes
   internally: given ``internal`` (the numbers the router reaches as
   extensions), one that is not in it goes to a trunk and is classified as an
   outside number (:func:`dialplan.numbering.classify_outside`: a short number
   the plan cannot place, such as the ``11880`` premium directory, is premium
   and needs a code in every mode that requires codes for some calls:
   ``mandatory``, ``classes``, ``prefixes``).  Without ``internal`` every
   number the plan calls internal is taken to route internally.
2. **Emergency and service calls are allowed**, whatever the mode, the code
   or its restrictions, with any dialed code stripped (BroadWorks seed: "All
   emergency (911) and repair (611) calls are never prompted").  They are
   also found behind a garbled code or a stray star code (``*88911``,
   ``*67911``, ``x1**911``, ``*88 123456#911``): routing such a string to
   911 is the safe mistake.  :func:`is_exempt` answers this step alone, for
   callers that must not refuse such calls before evaluating them (the
   account-code lockout, :mod:`dialplan.lockout`).
3. A malformed dial string is refused (484, naming the fault); an invalid
   number is refused (404, or 484 when more digits could make it valid).
4. Mode ``off``: account codes are not used; codes dialed in the shortcut
   or FAC form are stripped, assigned and trunk codes ignored.
5. The code is taken from, first to last: the dial string (``shortcut`` or
   ``fac``), the prompt (``collected_code``), a trusted trunk (``trunk_code``,
   only when ``source == "trunk"``), the user's assignment.  An empty
   string counts as no code.
6. No code: ``collect`` if the mode requires one for this call
   (``mandatory``: every outside call; ``classes``: the chosen call classes;
   ``prefixes``: destinations starting with a chosen prefix; ``fac``: calls
   dialed with the feature access code), otherwise allow.  Internal calls
   never require a code (Telcordia seed: "outside of the group").
7. A code that is present is always checked, even where none was required
   (a lobby phone's assigned code restricts its internal calls too):
   ``length``: its digit count only; ``list``: it must exist and be active
   today, otherwise 403 "Invalid account code" whatever the cause, so a
   guesser cannot tell an expired code from one that never existed;
   ``flag``: an unknown or inactive code is allowed and flagged
   (``code_valid=False``, GR-605 seed: "flagged in the billing record").
   A lookup that raises is a 503 (fail closed).
8. The code's restrictions (:func:`dialplan.codes.check_restrictions`); the
   first broken one refuses with 403 and says which.

Authorization codes (:mod:`dialplan.authcodes`) are checked between steps 3
and 4, whatever the account-code mode: dialed as ``AUTH_FAC CODE #`` before
the rest (``*77246810#12345**2125551234``), split off first
(:func:`dialplan.dialstring.split_auth`).  A code that is unknown or
disabled is refused 403 "Invalid authorization code" (rule
``invalid_auth_code``, counted by the lockout like a wrong account code);
one below the group's ``auth_level`` or whose classes do not include the
call's refused 403; without one, a call of the group's ``auth_classes`` is
``collect`` (403 "Authorization code required ...").  An allowed decision
names the code by :class:`~dialplan.authcodes.AuthGrant` (description and
level) and never carries its digits; a lookup that raises or is missing is
503.  Emergency and service calls are found behind an authorization FAC too.

Status conventions (RFC 3261 §21): 403 for a wrong code or a restricted
destination; 484 for a dial string that is malformed or unfinished (bad
characters, code of the wrong length, nothing after the code); 404 for a
well-formed number that is not in the numbering plan; 503 when the code
database cannot be asked; 500 for a bug.  ``collect`` decisions carry the
status to refuse with while prompting does not exist: 403 "Account code
required ...", or 484 after a bare feature access code.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Container
from typing import Final, Literal

import msgspec

from dialplan.authcodes import AuthCodeLookup, AuthGrant, Level
from dialplan.codes import (
    CLASS_NAMES,
    FORBIDDEN,
    AccountCode,
    CodeLookup,
    blocked_by_prefix,
    canonical_class,
    check_restrictions,
)
from dialplan.dialstring import (
    ADDRESS_INCOMPLETE,
    MAX_CODE_DIGITS,
    MAX_VSC_CHARS,
    MIN_CODE_DIGITS,
    VSC_STARTS,
    DialForm,
    Fault,
    ParsedDial,
    code_format_fault,
    mask_code,
    parse_dial_string,
    percent_decode,
    split_auth,
)
from dialplan.numbering import (
    OUTSIDE_CLASSES,
    UNRESTRICTED_CLASSES,
    CallClass,
    Classified,
    NumberingPlan,
    classify,
    classify_outside,
)

NOT_FOUND: Final = 404  # RFC 3261 §21.4.5: no such number in the plan
SERVER_ERROR: Final = 500  # RFC 3261 §21.5.1: a bug here; refused all the same
SERVICE_UNAVAILABLE: Final = 503  # RFC 3261 §21.5.4: the code database did not answer
INVALID_CODE_REASON: Final = "Invalid account code"  # the one answer to every bad code
_FAC_CHARS: Final = frozenset("0123456789*#")


class Mode(enum.StrEnum):
    """When a code is required (BroadWorks/Telcordia seeds)."""

    OFF = "off"  # account codes not used
    OPTIONAL = "optional"  # never required; a code given is checked
    MANDATORY = "mandatory"  # every outside call
    CLASSES = "classes"  # outside calls of the chosen classes, e.g. long distance
    PREFIXES = "prefixes"  # destinations starting with chosen prefixes
    FAC = "fac"  # only calls dialed with the feature access code; others go through


class Validation(enum.StrEnum):
    LIST = "list"  # must exist and be active (3CX: "verified against a database")
    FLAG = "flag"  # any well-formed code; unknown ones flagged (GR-605)
    LENGTH = "length"  # digit count only (GR-605: "sufficient number of digits")


class Prompt(enum.StrEnum):
    """How a caller without a required code is asked for one (the seeds: BroadWorks
    announces the number of digits; CUCM plays a tone only)."""

    OFF = "off"  # not asked: refused 403 as without prompting
    ANNOUNCEMENT = "announcement"  # "please enter your N-digit account code ..."
    TONE = "tone"  # a tone only


class Outcome(enum.StrEnum):
    ALLOW = "allow"
    REFUSE = "refuse"
    COLLECT = "collect"  # a code is required and there is none: prompt for it


class CodeSource(enum.StrEnum):
    """How a call's account code was obtained: the one vocabulary of the policy, the
    call events (``AccountInfo.source``) and the billing records (``code_source``;
    stored and exported as these strings)."""

    NONE = "none"
    ASSIGNED = "assigned"  # the user's own code
    SHORTCUT = "shortcut"  # CODE** before the number
    FAC = "fac"  # feature access code, e.g. *88CODE#
    TRUNK = "trunk"  # passed by a trusted trunk
    PROMPT = "prompt"  # collected after a prompt
    INFO = "info"  # sent in a SIP INFO during the call (legacy INFO, no Info-Package)
    MIDCALL = "midcall"  # changed while the call was up (by an unnamed means)
    INFO_PACKAGE = "info_package"  # INFO with the account-code Info-Package (RFC 6086)
    TARGET_DIALOG = "target_dialog"  # out-of-dialog request naming the call (RFC 4538)
    DTMF_INFO = "dtmf_info"  # *VSC code # keyed during the call, as INFO digits
    RFC4733 = "rfc4733"  # *VSC code # keyed during the call, as RTP events (media anchored)
    FLASH = "flash"  # hook flash, then *VSC code #
    POST_CALL = "post_call"  # attached to the caller's call after it ended (Target-Dialog)
    PORTAL = "portal"  # set on a live call by an administrator (portal or JSON API)

    @classmethod
    def of(cls, text: str) -> "CodeSource":
        """The source named ``text``; NONE for a name this vocabulary lacks."""
        try:
            return cls(text)
        except ValueError:
            return cls.NONE


_DIALED_SOURCES: Final = frozenset({CodeSource.SHORTCUT, CodeSource.FAC, CodeSource.PROMPT})
_REQUIRABLE_CLASSES: Final = OUTSIDE_CLASSES


def _check_code_field(name: str, code: str) -> None:
    if not (code.isascii() and code.isdigit() and MIN_CODE_DIGITS <= len(code) <= MAX_CODE_DIGITS):
        raise ValueError(f"{name} must be {MIN_CODE_DIGITS} to {MAX_CODE_DIGITS} digits")


class GroupPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A business group's account-code settings.

    ``fac``: the feature access code (e.g. ``"*88"``), "" for none; its dial
    string form is recognised in every mode (in ``off`` the code is then
    stripped and ignored), and mode ``fac`` requires it.  ``code_length``:
    fixed length N (2..14), or None for variable 2..14-digit codes ended by
    ``#``.  ``required_classes`` / ``required_prefixes``: for modes
    ``classes`` / ``prefixes``; prefixes are digits read under the numbering
    plan and matched on the canonical destination, as blocked prefixes are
    (:mod:`dialplan.codes`).
    """

    mode: Mode = Mode.OFF
    fac: str = ""
    code_length: int | None = None
    validation: Validation = Validation.LIST
    required_classes: frozenset[CallClass] = frozenset()
    required_prefixes: tuple[str, ...] = ()
    # authorization codes: their FAC (e.g. "*77"), the call classes that need
    # one, and the lowest level accepted
    auth_fac: str = ""
    auth_classes: frozenset[CallClass] = frozenset()
    auth_level: Level = 0
    # prompting for a missing code: how, whether the server answers the caller
    # (for phones that send no DTMF in early media) or gives it early media (183),
    # and how many codes a caller may try
    prompt: Prompt = Prompt.ANNOUNCEMENT
    prompt_answer: bool = False
    prompt_attempts: int = 3
    # the minimal-prompt access number (3CX's "9 for minimal prompts"): dialed
    # alone, a beep, then "code**number#" keyed as one string; "" for none
    minimal_access: str = ""
    # the vertical service code keyed during a call to set its account code
    # (``*89 CODE #`` as INFO digits, b2bua.calls.midcall); "" turns it off
    midcall_vsc: str = "*89"
    # flash + VSC (b2bua.calls.flash): after the code's verdict, a second flash
    # reconnects the held far end ("flash"), or the end of entry does ("entry")
    flash_reconnect: Literal["flash", "entry"] = "flash"
    # seconds after a call ends during which its caller may still attach a code to
    # it (a Target-Dialog request naming it); 0 turns that off
    post_call_window: int = 300

    def __post_init__(self) -> None:
        if not 1 <= self.prompt_attempts <= 10:
            raise ValueError("prompt_attempts must be 1 to 10")
        if not 0 <= self.post_call_window <= 86400:
            raise ValueError("post_call_window must be 0 to 86400 seconds")
        for name, fac in (("fac", self.fac), ("auth_fac", self.auth_fac), ("midcall_vsc", self.midcall_vsc)):
            if fac and not (2 <= len(fac) <= MAX_VSC_CHARS and fac[0] in VSC_STARTS and set(fac) <= _FAC_CHARS):
                raise ValueError(f"{name} must be * or # then digits, at most {MAX_VSC_CHARS} characters, e.g. *88")
        if "#" in self.midcall_vsc[1:]:
            raise ValueError("midcall_vsc may not contain # after its first character (# ends the code)")
        access = self.minimal_access
        if access and not (1 <= len(access) <= MAX_VSC_CHARS and set(access) <= _FAC_CHARS):
            raise ValueError(f"minimal_access must be digits, * or #, at most {MAX_VSC_CHARS} characters, e.g. *90")
        if access and access in (self.fac, self.auth_fac, self.midcall_vsc):
            raise ValueError("minimal_access must differ from fac, auth_fac and midcall_vsc")
        if self.auth_fac and (self.auth_fac.startswith(self.fac or "\0") or self.fac.startswith(self.auth_fac)):
            raise ValueError("auth_fac and fac must differ, neither a prefix of the other")
        if not self.auth_classes <= _REQUIRABLE_CLASSES:
            raise ValueError("auth_classes may only name outside call classes")
        if (self.auth_classes or self.auth_level) and not self.auth_fac:
            raise ValueError("auth_classes and auth_level need an auth_fac")
        if self.mode is Mode.FAC and not self.fac:
            raise ValueError("mode 'fac' needs a fac")
        if self.code_length is not None and not MIN_CODE_DIGITS <= self.code_length <= MAX_CODE_DIGITS:
            raise ValueError(f"code_length must be {MIN_CODE_DIGITS} to {MAX_CODE_DIGITS}")
        if not self.required_classes <= _REQUIRABLE_CLASSES:
            raise ValueError("required_classes may only name outside call classes")
        if self.mode is Mode.CLASSES and not self.required_classes:
            raise ValueError("mode 'classes' needs required_classes")
        for prefix in self.required_prefixes:
            if not (prefix.isascii() and prefix.isdigit()):
                raise ValueError(f"required_prefixes: {prefix!r} must be digits")
        if self.mode is Mode.PREFIXES and not self.required_prefixes:
            raise ValueError("mode 'prefixes' needs required_prefixes")


class UserPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-user overrides: a mode instead of the group's, and a code the user's calls carry."""

    mode: Mode | None = None
    assigned_code: str | None = None

    def __post_init__(self) -> None:
        if self.assigned_code is not None:
            _check_code_field("assigned_code", self.assigned_code)


class CallContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the policy knows about one call attempt (no SIP objects).

    ``dialed``: the Request-URI user part as received (``%23`` allowed);
    ``trunk_code``: the code a trunk passed (X-Account-Code or ``ac=``),
    used only when ``source == "trunk"`` (the runtime decides which trunks
    are trusted); ``collected_code``: digits collected by a prompt or a
    mid-call activation (not produced yet).
    """

    caller: str
    group: GroupPolicy
    dialed: str
    user: UserPolicy = UserPolicy()
    source: Literal["phone", "trunk"] = "phone"
    trunk_code: str | None = None
    collected_code: str | None = None


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The policy's answer for one call attempt.

    ``destination``: the number to route, without code or FAC/shortcut
    syntax ("" when none could be found); ``status``: the SIP status to
    refuse with (None when allowed); ``reason``: a reason phrase naming the
    rule, for people; ``rule``: the same for machines; ``account``: the
    matching record (rate plan, credit account) when one was looked up.
    """

    outcome: Outcome
    destination: str
    call_class: CallClass
    code: str | None
    code_source: CodeSource
    code_valid: bool | None
    status: int | None
    reason: str
    rule: str
    account: AccountCode | None = None
    authorization: AuthGrant | None = None  # the authorization code that allowed it (never its digits)

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    @property
    def code_rejected(self) -> bool:
        """A wrong code was tried: what guessing protection (dialplan.lockout) counts."""
        return self.rule in ("invalid_code", "invalid_auth_code")


def _codeless(outcome: Outcome, dest: Classified | None, status: int | None, reason: str, rule: str) -> Decision:
    """A decision that takes no code: allowed without one, refused before one, or a
    prompt for one (no destination: a number is still to be keyed)."""
    return Decision(
        outcome=outcome,
        destination=dest.number if dest is not None else "",
        call_class=dest.call_class if dest is not None else CallClass.INVALID,
        code=None,
        code_source=CodeSource.NONE,
        code_valid=None,
        status=status,
        reason=reason,
        rule=rule,
    )


def _allow(dest: Classified, rule: str, reason: str) -> Decision:
    return _codeless(Outcome.ALLOW, dest, None, reason, rule)


def _refuse(dest: Classified | None, status: int, reason: str, rule: str) -> Decision:
    return _codeless(Outcome.REFUSE, dest, status, reason, rule)


def _collect(dest: Classified | None, status: int, reason: str, rule: str) -> Decision:
    return _codeless(Outcome.COLLECT, dest, status, reason, rule)


def _from_fault(dest: Classified | None, fault: Fault) -> Decision:
    return _refuse(dest, fault.status, fault.reason, fault.rule)


def _pick_code(ctx: CallContext, parsed: ParsedDial) -> tuple[str | None, CodeSource]:
    if parsed.code is not None:
        return parsed.code, CodeSource.FAC if parsed.form is DialForm.FAC else CodeSource.SHORTCUT
    if ctx.collected_code:
        return ctx.collected_code, CodeSource.PROMPT
    if ctx.source == "trunk" and ctx.trunk_code:
        return ctx.trunk_code, CodeSource.TRUNK
    if ctx.user.assigned_code is not None:
        return ctx.user.assigned_code, CodeSource.ASSIGNED
    return None, CodeSource.NONE


def requirement(
    mode: Mode, group: GroupPolicy, dest: Classified, form: DialForm, plan: NumberingPlan
) -> str | None:
    """Why this call needs a code (the reason phrase), or None if it does not.

    Classes and prefixes are those of the number, however it was spelled
    (:mod:`dialplan.codes`): the class as dialed or of the canonical form,
    a required prefix under any of its readings."""
    if dest.call_class not in OUTSIDE_CLASSES:
        return None
    if mode is Mode.MANDATORY:
        return "Account code required"
    if mode is Mode.CLASSES:
        for call_class in (dest.call_class, canonical_class(dest, plan)):
            if call_class in group.required_classes:
                return f"Account code required for {CLASS_NAMES[call_class]} calls"
    if dest.unplanned and mode in (Mode.CLASSES, Mode.PREFIXES):  # unknown cost: fail closed
        return "Account code required for numbers outside the numbering plan"
    if mode is Mode.PREFIXES:
        for prefix in group.required_prefixes:
            if blocked_by_prefix(prefix, dest, plan):
                return f"Account code required for calls to {prefix}"
    if mode is Mode.FAC and form is DialForm.FAC:
        return f"Account code required after {group.fac}"
    return None


def _lookup(codes: CodeLookup, code: str) -> AccountCode | None | Exception:
    try:
        found = codes.get(code)
    except Exception as exc:  # the database's failure must not escape: fail closed
        return exc
    if found is not None and (not isinstance(found, AccountCode) or found.code != code):
        return LookupError(f"lookup for {code} returned {found!r}")
    return found


def _parse(ctx: CallContext, plan: NumberingPlan) -> tuple[str | None, ParsedDial, Classified | None]:
    """Step 1: the authorization code, the dial string and its number, classified."""
    group = ctx.group
    auth, rest = split_auth(ctx.dialed, group.auth_fac)
    parsed = parse_dial_string(rest, fac=group.fac, code_length=group.code_length)
    if auth is not None:  # an emergency number may hide behind a garbled authorization code too
        whole = parse_dial_string(ctx.dialed, fac=group.fac, code_length=group.code_length)
        parsed = msgspec.structs.replace(parsed, alternates=parsed.alternates + whole.alternates + (auth,))
    return auth, parsed, classify(parsed.number, plan) if parsed.number is not None else None


def _unrestricted(parsed: ParsedDial, dest: Classified | None, plan: NumberingPlan) -> Classified | None:
    """Step 2: the emergency or service number this dial string reaches, if any."""
    if dest is not None and dest.call_class in UNRESTRICTED_CLASSES:
        return dest
    for alternate in parsed.alternates:
        found = classify(alternate, plan)
        if found.call_class in UNRESTRICTED_CLASSES:
            return found
    return None


def is_exempt(ctx: CallContext, plan: NumberingPlan) -> bool:
    """Whether this call is an emergency or service call, which :func:`evaluate`
    allows whatever the mode and codes (step 2): guessing protection
    (:mod:`dialplan.lockout`) must not refuse it.  Total: never raises."""
    try:
        _, parsed, dest = _parse(ctx, plan)
        return _unrestricted(parsed, dest, plan) is not None
    except Exception:  # a bug must not block an emergency call: evaluate decides
        return True


def _evaluate(
    ctx: CallContext,
    plan: NumberingPlan,
    codes: CodeLookup,
    today: datetime.date,
    internal: Container[str] | None,
    auth_codes: AuthCodeLookup | None,
) -> Decision:
    group = ctx.group
    mode = ctx.user.mode if ctx.user.mode is not None else group.mode
    auth, parsed, dest = _parse(ctx, plan)
    unrouted = internal is not None and dest is not None and dest.number not in internal
    if dest is not None and dest.call_class is CallClass.INTERNAL and unrouted:
        dest = classify_outside(dest.number, plan)  # looks like an extension, goes to a trunk

    # 2. emergency and service: before any fault, mode or code
    unrestricted = _unrestricted(parsed, dest, plan)
    if unrestricted is not None:
        what = "Emergency" if unrestricted.call_class is CallClass.EMERGENCY else "Service"
        return _allow(unrestricted, unrestricted.call_class.value, f"{what} call: no account code asked")

    # the minimal-prompt access number alone: the dial string is keyed after a beep
    if group.minimal_access and mode is not Mode.OFF and percent_decode(ctx.dialed) == group.minimal_access:
        return _collect(None, ADDRESS_INCOMPLETE, f"Account code and number expected after {group.minimal_access}",
                        "minimal_prompt")

    # the mid-call VSC alone, as a call of its own: a code for the caller's last call
    # (post-call assignment; the server prompts, attaches it, and hangs up)
    vsc = group.midcall_vsc
    if vsc and group.post_call_window > 0 and mode is not Mode.OFF and percent_decode(ctx.dialed) in (vsc, vsc + "#"):
        return _collect(None, ADDRESS_INCOMPLETE, f"Account code for the last call expected after {vsc}",
                        "post_call_prompt")

    # 3. the dial string and the number
    if parsed.fault is not None:
        return _from_fault(dest, parsed.fault)
    if dest is None:  # a bare feature access code: prompt for code (and number)
        if mode is Mode.OFF:
            return _refuse(None, ADDRESS_INCOMPLETE, "No number dialed", "empty_number")
        return _collect(None, ADDRESS_INCOMPLETE, f"Account code and number expected after {group.fac}", "fac_prompt")
    if dest.call_class is CallClass.INVALID:
        if dest.incomplete:
            return _refuse(dest, ADDRESS_INCOMPLETE, "Address incomplete", "incomplete_number")
        return _refuse(dest, NOT_FOUND, "Number not in the numbering plan", "invalid_number")

    # authorization codes, then the account-code steps
    grant = _authorize(group, plan, dest, auth, auth_codes)
    if isinstance(grant, Decision):
        return grant
    decided = _account_code(ctx, mode, parsed, dest, plan, codes, today)
    return msgspec.structs.replace(decided, authorization=grant) if grant is not None else decided


def _authorize(
    group: GroupPolicy, plan: NumberingPlan, dest: Classified, auth: str | None, auth_codes: AuthCodeLookup | None
) -> AuthGrant | Decision | None:
    """The authorization code's grant, a refusal, or None when none is given nor needed."""
    classes = (dest.call_class, canonical_class(dest, plan))
    if auth is None:
        needed = next((c for c in classes if c in group.auth_classes), None)
        if needed is None:
            return None
        return _collect(dest, FORBIDDEN, f"Authorization code required for {CLASS_NAMES[needed]} calls",
                        "auth_code_required")
    if auth_codes is None:
        return _refuse(dest, SERVICE_UNAVAILABLE, "Authorization code check unavailable", "auth_lookup_failed")
    try:
        found = auth_codes.find(auth)
    except Exception:  # the store's failure must not escape: fail closed
        return _refuse(dest, SERVICE_UNAVAILABLE, "Authorization code check unavailable", "auth_lookup_failed")
    if found is None or not found.active:
        return _refuse(dest, FORBIDDEN, "Invalid authorization code", "invalid_auth_code")
    if found.level < group.auth_level:
        return _refuse(dest, FORBIDDEN, "Authorization code level too low", "auth_level_too_low")
    for call_class in classes:
        if found.classes and call_class not in found.classes:
            what = f"Authorization code may not make {CLASS_NAMES[call_class]} calls"
            return _refuse(dest, FORBIDDEN, what, "auth_class_not_allowed")
    return found.grant


def _account_code(
    ctx: CallContext,
    mode: Mode,
    parsed: ParsedDial,
    dest: Classified,
    plan: NumberingPlan,
    codes: CodeLookup,
    today: datetime.date,
) -> Decision:
    """Steps 4 to 8."""
    group = ctx.group
    # 4. mode off
    if mode is Mode.OFF:
        return _allow(dest, "codes_off", "Account codes not used")

    # 5.-6. the code, or whether one is needed
    code, source = _pick_code(ctx, parsed)
    if code is None:
        needed = requirement(mode, group, dest, parsed.form, plan)
        if needed is not None:
            return _collect(dest, FORBIDDEN, needed, "code_required")
        return _allow(dest, "code_not_required", "No account code required")
    return _check_code(group, plan, dest, code, source, codes, today)


def _check_code(
    group: GroupPolicy,
    plan: NumberingPlan,
    dest: Classified,
    code: str,
    source: CodeSource,
    codes: CodeLookup,
    today: datetime.date,
) -> Decision:
    """Steps 7 and 8: validate a present code, then apply its restrictions."""

    def decided(
        outcome: Outcome,
        valid: bool,
        status: int | None,
        reason: str,
        rule: str,
        account: AccountCode | None = None,
    ) -> Decision:
        return Decision(
            outcome=outcome,
            destination=dest.number,
            call_class=dest.call_class,
            code=code,
            code_source=source,
            code_valid=valid,
            status=status,
            reason=reason,
            rule=rule,
            account=account,
        )

    fault = code_format_fault(code, group.code_length)
    if fault is not None and source in _DIALED_SOURCES:
        return _from_fault(dest, fault)
    verdict = _validate(group, code, codes, today)
    if isinstance(verdict, tuple):
        return decided(*verdict)
    found, valid = verdict.found, verdict.valid
    if found is not None:
        broken = check_restrictions(found, dest, plan)
        if broken is not None:
            # an assigned code may be a secret the person at the phone does not know
            # and a dialed one is shown masked: reasons are logged and recorded
            who = "Assigned account code" if source is CodeSource.ASSIGNED else f"Account code {mask_code(code)}"
            return decided(Outcome.REFUSE, valid, FORBIDDEN, f"{who} may not {broken.what}", broken.rule, found)
    if valid:
        return decided(Outcome.ALLOW, True, None, "Account code accepted", "code_accepted", found)
    return decided(Outcome.ALLOW, False, None, "Unknown account code flagged", "code_flagged", found)


class _Valid(msgspec.Struct, frozen=True):
    found: AccountCode | None
    valid: bool


def _validate(
    group: GroupPolicy, code: str, codes: CodeLookup, today: datetime.date
) -> _Valid | tuple[Outcome, bool, int | None, str, str]:
    """Step 7: the code's format and the group's validation: the code as found (and
    whether it is valid), or the decision's (outcome, valid, status, reason, rule)."""
    if code_format_fault(code, group.code_length) is not None:
        return Outcome.REFUSE, False, FORBIDDEN, INVALID_CODE_REASON, "invalid_code"
    if group.validation is Validation.LENGTH:
        return Outcome.ALLOW, True, None, "Account code accepted", "code_accepted"
    found = _lookup(codes, code)
    if isinstance(found, Exception):
        return Outcome.REFUSE, False, SERVICE_UNAVAILABLE, "Account code check unavailable", "lookup_failed"
    valid = found is not None and found.is_active(today)
    if not valid and group.validation is Validation.LIST:
        # the same answer for unknown, inactive and expired codes: no hint to a guesser
        return Outcome.REFUSE, False, FORBIDDEN, INVALID_CODE_REASON, "invalid_code"
    return _Valid(found, valid)


def check_code_alone(group: GroupPolicy, code: str, codes: CodeLookup, today: datetime.date) -> Decision:
    """The first half of a feature-access-code prompt ("*88", then the code, then
    the number): is ``code`` one the group takes (step 7: format and validation),
    before the destination is known?  Its restrictions are checked with the number
    (:func:`evaluate` with ``collected_code``).  Total: never raises."""

    def decided(outcome: Outcome, valid: bool, status: int | None, reason: str, rule: str) -> Decision:
        return Decision(
            outcome=outcome, destination="", call_class=CallClass.INVALID, code=code,
            code_source=CodeSource.PROMPT, code_valid=valid, status=status, reason=reason, rule=rule,
        )

    try:
        verdict = _validate(group, code, codes, today)
        if isinstance(verdict, tuple):
            return decided(*verdict)
        return decided(Outcome.ALLOW, verdict.valid, None, "Account code accepted", "code_accepted")
    except Exception:  # a bug in a rule must not become an exception in the call path
        return _refuse(None, SERVER_ERROR, "Account code policy error", "internal_error")


MIDCALL_SOURCES: Final = frozenset({
    CodeSource.INFO, CodeSource.MIDCALL, CodeSource.INFO_PACKAGE, CodeSource.TARGET_DIALOG,
    CodeSource.DTMF_INFO, CodeSource.RFC4733, CodeSource.FLASH, CodeSource.PORTAL,
})


def check_midcall_code(
    group: GroupPolicy,
    user: UserPolicy,
    destination: str,
    code: str,
    source: CodeSource,
    plan: NumberingPlan,
    codes: CodeLookup,
    today: datetime.date,
    *,
    internal: Container[str] | None = None,
) -> Decision:
    """May ``code`` become the account code of a call already up to
    ``destination`` (the routed number, no dial-string syntax)?  The same
    checks as a code dialed with the call: the number classified as in step 1,
    mode ``off`` refused (403 ``codes_off``), then steps 7 and 8 (format,
    validation, restrictions for this destination).  An emergency or service
    call takes no code (403 ``unrestricted_call``).  Total: never raises."""
    try:
        mode = user.mode if user.mode is not None else group.mode
        dest = classify(destination, plan)
        if dest.call_class is CallClass.INTERNAL and internal is not None and dest.number not in internal:
            dest = classify_outside(dest.number, plan)
        if dest.call_class in UNRESTRICTED_CLASSES:
            return _refuse(dest, FORBIDDEN, "No account code on emergency or service calls", "unrestricted_call")
        if mode is Mode.OFF:
            return _refuse(dest, FORBIDDEN, "Account codes not used", "codes_off")
        return _check_code(group, plan, dest, code, source, codes, today)
    except Exception:  # a bug in a rule must not become an exception in the call path
        return _refuse(None, SERVER_ERROR, "Account code policy error", "internal_error")


def evaluate(
    ctx: CallContext,
    plan: NumberingPlan,
    codes: CodeLookup,
    today: datetime.date,
    *,
    internal: Container[str] | None = None,
    auth_codes: AuthCodeLookup | None = None,
) -> Decision:
    """Decide one call attempt; total: never raises (see the module docstring).

    ``internal``: the numbers that route internally (the extensions the router
    reaches, e.g. its set or dict of users); a number the plan calls internal
    and not in it is an outside call (step 1).  None, the default, keeps the
    older meaning: every number the plan calls internal routes internally.
    ``auth_codes``: the authorization codes (None: a dialed one is refused 503).
    """
    try:
        return _evaluate(ctx, plan, codes, today, internal, auth_codes)
    except Exception:  # a bug in a rule must not become an exception in the call path
        return _refuse(None, SERVER_ERROR, "Account code policy error", "internal_error")
