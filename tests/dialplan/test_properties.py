"""Properties of the account-code policy that must hold for every input.

* evaluate is total: any dial string, context, policy and code book gives a
  Decision, never an exception, never the internal-error fallback;
* emergency numbers (911/933 NANP, 112 and others E.164) are allowed
  whatever the policy, the mode, the code and its restrictions;
* adding a restriction to a code never turns a refused call into an allowed one;
* a decision's destination never contains the code (nor FAC/shortcut syntax);
* a wrong code gets the same answer whether it is unknown or merely inactive;
* '#' and '*' sent percent-encoded decide the same as sent plainly.
"""

from __future__ import annotations

import datetime

import msgspec
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dialplan import (
    AccountCode,
    CallClass,
    CallContext,
    CodeSource,
    Decision,
    E164Plan,
    ExtensionPlan,
    GroupPolicy,
    Mode,
    NorthAmericanPlan,
    NumberingPlan,
    Outcome,
    UserPolicy,
    Validation,
    classify,
    evaluate,
    is_exempt,
)
from dialplan.numbering import OUTSIDE_CLASSES
from tests.dialplan.book import TODAY

DIGITS = "0123456789"
SAMPLE_NUMBERS = [
    "911", "933", "611", "112", "999", "100", "1234", "5551234", "8016424655", "18016424655",
    "+18016424655", "18005551212", "19005551234", "9761234", "011442071234567", "+442071234567",
    "02071234567", "08001234567", "0049301234567", "9209881234", "4352221234", "6465551234",
]

codes_text = st.text(DIGITS, min_size=2, max_size=14)
prefixes = st.lists(st.text(DIGITS, min_size=1, max_size=4), max_size=3).map(tuple)
outside_classes = st.sets(st.sampled_from(sorted(OUTSIDE_CLASSES)), min_size=1).map(frozenset)
any_classes = st.sets(st.sampled_from(list(CallClass))).map(frozenset)
dates = st.dates(min_value=datetime.date(2023, 1, 1), max_value=datetime.date(2026, 1, 1))

extension_plans = st.builds(
    ExtensionPlan,
    min_digits=st.integers(2, 4),
    max_digits=st.integers(4, 6),
    first_digits=st.sampled_from(["12345678", "1", "", "2345"]),
    numbers=st.sets(st.text(DIGITS, min_size=1, max_size=6), max_size=3).map(frozenset),
)
nanp_plans = st.builds(
    NorthAmericanPlan,
    extensions=extension_plans,
    home_area_code=st.sampled_from(["", "212", "801"]),
    local_area_codes=st.sets(st.sampled_from(["646", "385", "801", "920"])).map(frozenset),
    outside_access_code=st.sampled_from(["", "9", "8"]),
)
e164_plans = st.builds(
    E164Plan,
    country_code=st.sampled_from(["44", "49", "33", "353"]),
    national_prefix=st.sampled_from(["0", ""]),
    international_prefix=st.sampled_from(["00", "011"]),
    emergency=st.sets(st.sampled_from(["112", "999", "110", "15"]), min_size=1).map(frozenset),
    service=st.sets(st.sampled_from(["101", "111", "118118"])).map(frozenset),
    extensions=extension_plans,
    local_prefixes=st.sets(st.sampled_from(["20", "30", "1"])).map(frozenset),
    toll_free_prefixes=st.sets(st.sampled_from(["800", "808"])).map(frozenset),
    premium_prefixes=st.sets(st.sampled_from(["9", "90"])).map(frozenset),
    outside_access_code=st.sampled_from(["", "9"]),
)
plans: st.SearchStrategy[NumberingPlan] = st.one_of(nanp_plans, e164_plans)


@st.composite
def groups(draw: st.DrawFn) -> GroupPolicy:
    mode = draw(st.sampled_from(list(Mode)))
    fac = draw(st.sampled_from(["*88", "*5", "#9", "*123"])) if mode is Mode.FAC else draw(
        st.sampled_from(["", "*88", "#9"]))
    return GroupPolicy(
        mode=mode,
        fac=fac,
        code_length=draw(st.none() | st.integers(2, 14)),
        validation=draw(st.sampled_from(list(Validation))),
        required_classes=draw(outside_classes) if mode is Mode.CLASSES else frozenset(),
        required_prefixes=draw(prefixes.filter(bool)) if mode is Mode.PREFIXES else (),
    )


@st.composite
def accounts(draw: st.DrawFn, code: str | None = None) -> AccountCode:
    lo = draw(st.none() | st.integers(1, 10))
    hi = draw(st.none() | st.integers(lo or 1, 18))
    start = draw(st.none() | dates)
    end = draw(st.none() | dates.filter(lambda d: start is None or d >= start))
    return AccountCode(
        code=code if code is not None else draw(codes_text),
        active=draw(st.booleans()),
        active_from=start,
        active_until=end,
        min_digits=lo,
        max_digits=hi,
        blocked_prefixes=draw(prefixes),
        allowed_numbers=draw(st.lists(st.sampled_from(SAMPLE_NUMBERS).map(lambda n: n.lstrip("+")), max_size=2)
                             .map(tuple)),
        allowed_prefixes=draw(prefixes),
        allowed_classes=draw(any_classes),
    )


numbers = st.one_of(st.sampled_from(SAMPLE_NUMBERS), st.text(DIGITS + "+-", max_size=16))


@st.composite
def dial_strings(draw: st.DrawFn, fac: str, code: st.SearchStrategy[str] = codes_text) -> str:
    number = draw(numbers)
    c = draw(code)
    send = draw(st.sampled_from(["", "#"]))
    return draw(st.sampled_from([
        number + send,
        f"{c}**{number}{send}",
        f"{fac or '*88'}{c}#{number}{send}",
        f"{fac or '*88'}{c}{number}",
        fac,
    ]))


any_dialed = st.one_of(
    st.text(max_size=40),
    st.text("0123456789*#+%23aA- ", max_size=40),
    dial_strings("*88"),
)


@st.composite
def contexts(draw: st.DrawFn, dialed: st.SearchStrategy[str] | None = None) -> CallContext:
    group = draw(groups())
    return CallContext(
        caller="1001",
        group=group,
        dialed=draw(dialed if dialed is not None else st.one_of(any_dialed, dial_strings(group.fac))),
        user=UserPolicy(mode=draw(st.none() | st.sampled_from(list(Mode))), assigned_code=draw(st.none() | codes_text)),
        source=draw(st.sampled_from(["phone", "trunk"])),
        trunk_code=draw(st.none() | codes_text | st.text(max_size=16)),
    )


code_books = st.lists(accounts(), max_size=4).map(lambda xs: {a.code: a for a in xs})


def check_conventions(d: Decision) -> None:
    assert d.rule != "internal_error", d
    assert (d.status is None) == (d.outcome is Outcome.ALLOW), d
    assert d.status in (None, 403, 404, 484, 503), d
    assert (d.code is None) == (d.code_valid is None), d
    assert (d.code is None) == (d.code_source is CodeSource.NONE), d
    assert "\r" not in d.reason and "\n" not in d.reason and d.reason, d
    assert not set(d.destination) & set("*#%"), d


@settings(max_examples=800)
@given(contexts(), plans, code_books, dates)
def test_evaluate_is_total(ctx: CallContext, plan: NumberingPlan, book: dict[str, AccountCode],
                           today: datetime.date) -> None:
    check_conventions(evaluate(ctx, plan, book, today))


@given(ctx=contexts(), plan=plans, book=code_books, code=codes_text, today=dates)
def test_known_codes_too(ctx: CallContext, plan: NumberingPlan, book: dict[str, AccountCode], code: str,
                         today: datetime.date) -> None:
    # the same, with the dialed code present in the book more often
    book = {**book, code: AccountCode(code=code)}
    ctx = msgspec.structs.replace(ctx, dialed=f"{code}**{ctx.dialed}")
    check_conventions(evaluate(ctx, plan, book, today))


@st.composite
def emergency_calls(draw: st.DrawFn) -> tuple[CallContext, NumberingPlan, str]:
    plan = draw(plans)
    number = draw(st.sampled_from(sorted(plan.emergency)))
    ctx = draw(contexts(dialed=st.just("")))
    fac = ctx.group.fac or "*88"
    bad = draw(st.text(DIGITS + "abcxyz", max_size=20))  # any code, good or garbage
    send = draw(st.sampled_from(["", "#", "%23"]))
    dialed = draw(st.sampled_from([
        number,
        number + send,
        plan.outside_access_code + number,
        f"{bad}**{number}{send}",
        f"{bad}%2A%2A{number}",
        f"{fac}{bad}#{number}{send}",
        f"{fac}{bad}%23{number}",
        f"{fac}{number}",
        f"{fac}{number}{send}",
    ]))
    return msgspec.structs.replace(ctx, dialed=dialed), plan, number


@settings(max_examples=500)
@given(emergency_calls(), code_books, dates)
def test_emergency_always_allowed(call: tuple[CallContext, NumberingPlan, str], book: dict[str, AccountCode],
                                  today: datetime.date) -> None:
    ctx, plan, number = call
    # even when every code in the book forbids everything
    book = {
        c: msgspec.structs.replace(a, allowed_classes=frozenset({CallClass.LOCAL}), blocked_prefixes=("1", "9", "0"))
        for c, a in book.items()
    }
    d = evaluate(ctx, plan, book, today)
    assert d.outcome is Outcome.ALLOW, (ctx.dialed, d)
    assert d.call_class is CallClass.EMERGENCY
    assert d.destination == number
    assert d.code is None


# --- adding a restriction ---------------------------------------------------------------


@st.composite
def tightened(draw: st.DrawFn, a: AccountCode) -> AccountCode:
    """``a`` with one more restriction (never one fewer)."""
    kind = draw(st.sampled_from(["block", "classes", "allow", "min", "max", "inactive", "until", "from"]))
    if kind == "block":
        return msgspec.structs.replace(a, blocked_prefixes=a.blocked_prefixes + (draw(st.text(DIGITS, min_size=1,
                                                                                               max_size=4)),))
    if kind == "classes":
        base = sorted(a.allowed_classes or set(CallClass))
        kept = draw(st.sets(st.sampled_from(base), min_size=1))
        return msgspec.structs.replace(a, allowed_classes=frozenset(kept))
    if kind == "allow":
        entries = [("n", x) for x in a.allowed_numbers] + [("p", x) for x in a.allowed_prefixes]
        if not entries:
            return msgspec.structs.replace(a, allowed_prefixes=(draw(st.text(DIGITS, min_size=1, max_size=3)),))
        keep = draw(st.lists(st.sampled_from(entries), min_size=1, unique=True))
        return msgspec.structs.replace(
            a,
            allowed_numbers=tuple(x for k, x in keep if k == "n"),
            allowed_prefixes=tuple(x for k, x in keep if k == "p"),
        )
    if kind == "min":
        low = max(a.min_digits or 1, 1)
        new = draw(st.integers(low, a.max_digits or 18))
        return msgspec.structs.replace(a, min_digits=new)
    if kind == "max":
        high = a.max_digits or 18
        new = draw(st.integers(a.min_digits or 1, high))
        return msgspec.structs.replace(a, max_digits=new)
    if kind == "inactive":
        return msgspec.structs.replace(a, active=False)
    if kind == "until":
        until = TODAY - datetime.timedelta(days=draw(st.integers(1, 30)))
        if a.active_from is not None and a.active_from > until:
            return msgspec.structs.replace(a, active=False)
        return msgspec.structs.replace(a, active_until=min(until, a.active_until or until))
    start = TODAY + datetime.timedelta(days=draw(st.integers(1, 30)))
    if a.active_until is not None and a.active_until < start:
        return msgspec.structs.replace(a, active=False)
    return msgspec.structs.replace(a, active_from=max(start, a.active_from or start))


@st.composite
def restriction_pairs(draw: st.DrawFn) -> tuple[CallContext, NumberingPlan, AccountCode, AccountCode]:
    code = draw(codes_text)
    ctx = draw(contexts(dialed=st.just("")))
    how = draw(st.sampled_from(["shortcut", "assigned", "trunk"]))
    number = draw(numbers)
    if how == "shortcut":
        ctx = msgspec.structs.replace(ctx, dialed=f"{code}**{number}")
    elif how == "assigned":
        ctx = msgspec.structs.replace(ctx, dialed=number, user=UserPolicy(mode=ctx.user.mode, assigned_code=code))
    else:
        ctx = msgspec.structs.replace(ctx, dialed=number, source="trunk", trunk_code=code)
    a = draw(accounts(code=code))
    b = draw(tightened(a))
    return ctx, draw(plans), a, b


@settings(max_examples=800)
@given(restriction_pairs())
def test_adding_a_restriction_never_allows_more(pair: tuple[CallContext, NumberingPlan, AccountCode,
                                                            AccountCode]) -> None:
    ctx, plan, loose, tight = pair
    before = evaluate(ctx, plan, {loose.code: loose}, TODAY)
    after = evaluate(ctx, plan, {tight.code: tight}, TODAY)
    if not before.allowed:
        assert not after.allowed, (ctx.dialed, before, after)


# --- the code stays out of the destination --------------------------------------------------


@settings(max_examples=400)
@given(contexts(dialed=st.just("")), plans, code_books, codes_text,
       st.sampled_from(SAMPLE_NUMBERS) | st.text(DIGITS, min_size=1, max_size=15), st.sampled_from(["", "#", "%23"]),
       st.sampled_from(["shortcut", "fac"]))
def test_destination_never_contains_the_code(ctx: CallContext, plan: NumberingPlan, book: dict[str, AccountCode],
                                             code: str, number: str, send: str, form: str) -> None:
    assume(code not in number)
    fac = ctx.group.fac or "*88"
    dialed = f"{code}**{number}{send}" if form == "shortcut" else f"{fac}{code}#{number}{send}"
    ctx = msgspec.structs.replace(ctx, dialed=dialed)
    d = evaluate(ctx, plan, book, TODAY)
    assert code not in d.destination, (dialed, d)


# --- guessing protection -------------------------------------------------------------------


@given(contexts(dialed=st.just("")), plans, accounts(), numbers)
def test_inactive_code_answer_equals_unknown_code_answer(ctx: CallContext, plan: NumberingPlan, a: AccountCode,
                                                         number: str) -> None:
    group = msgspec.structs.replace(ctx.group, validation=Validation.LIST)
    ctx = msgspec.structs.replace(ctx, group=group, dialed=f"{a.code}**{number}")
    inactive = msgspec.structs.replace(a, active=False)
    assert evaluate(ctx, plan, {a.code: inactive}, TODAY) == evaluate(ctx, plan, {}, TODAY)


@given(contexts(), plans, code_books)
def test_percent_encoding_changes_nothing(ctx: CallContext, plan: NumberingPlan,
                                          book: dict[str, AccountCode]) -> None:
    assume("%" not in ctx.dialed)
    encoded = msgspec.structs.replace(ctx, dialed=ctx.dialed.replace("#", "%23").replace("*", "%2A"))
    assume(len(encoded.dialed) <= 3 * 64)
    assert evaluate(ctx, plan, book, TODAY) == evaluate(encoded, plan, book, TODAY)


@given(st.text(max_size=30), plans)
def test_classify_is_total(text: str, plan: NumberingPlan) -> None:
    got = classify(text, plan)
    assert got.incomplete is False or got.call_class is CallClass.INVALID


@given(contexts(), plans, code_books)
def test_nothing_unrouted_passes_as_internal(ctx: CallContext, plan: NumberingPlan,
                                             book: dict[str, AccountCode]) -> None:
    d = evaluate(ctx, plan, book, TODAY, internal=frozenset())
    check_conventions(d)
    assert d.call_class is not CallClass.INTERNAL, (ctx.dialed, d)


@given(contexts(), plans, code_books)
def test_exempt_is_what_evaluate_allows_unasked(ctx: CallContext, plan: NumberingPlan,
                                                book: dict[str, AccountCode]) -> None:
    d = evaluate(ctx, plan, book, TODAY)
    assert is_exempt(ctx, plan) == (d.rule in ("emergency", "service")), (ctx.dialed, d)
