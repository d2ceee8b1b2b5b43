"""Account-code pages: list (search, paging), add, edit, disable/enable, CSV
import and export.  They write through the same ``account_codes`` table as
``b2bua codes`` (:class:`b2bua.runtime.codes.CodeStore`: its validation, its
CSV parser with line-numbered errors, its spreadsheet-safe export), so a
change applies to the next call as one made on the command line does.

A system administrator manages every group; a group administrator only their
own: a page or form naming another group is refused (403).

With billing on, the form offers a system administrator the stored rate plans
and credit accounts as suggestions, and refuses a name that is neither (a typo
would leave the code's calls unrated, or refused for want of credit).
"""

from __future__ import annotations

import logging
import math
import urllib.parse
from typing import TYPE_CHECKING

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from b2bua.runtime.audit import Entry
from b2bua.billing.store import BillingStore, BillingStoreError
from b2bua.runtime.codes import COLUMNS, CodeError, code_from_fields, code_to_fields, restrictions
from dialplan.codes import AccountCode
from dialplan.dialstring import mask_code

from .sessions import Session

if TYPE_CHECKING:
    from .portal import Portal

log = logging.getLogger("b2bua.portal")
PAGE_SIZE = 50
MAX_QUERY = 100  # characters of a search
SUGGESTED = 500  # credit accounts offered in the form at most

# the form's fields after group and code: (column, label, placeholder)
FORM_FIELDS = (
    ("name", "Name (client, matter, project)", ""),
    ("department", "Department", ""),
    ("active", "Active", ""),
    ("active_from", "Active from", "YYYY-MM-DD"),
    ("active_until", "Active until", "YYYY-MM-DD"),
    ("min_digits", "Shortest number it may call (digits)", ""),
    ("max_digits", "Longest number it may call (digits)", ""),
    ("blocked_prefixes", "Blocked prefixes", "e.g. 900,1900"),
    ("allowed_numbers", "Only these numbers", "e.g. 1001,2125551234"),
    ("allowed_prefixes", "Only these prefixes", "e.g. 1212,1646"),
    ("allowed_classes", "Only these call classes", "e.g. local,long_distance"),
    ("rate_plan", "Rate plan", ""),
    ("credit_account", "Credit account", ""),
)


def routes(portal: Portal, store: BillingStore | None = None) -> list[Route]:
    db = portal.db

    async def known_groups(session: Session) -> list[str]:
        """The groups this administrator may manage (configured ones, those with codes)."""
        if session.admin.role == "group":
            assert session.admin.group is not None
            return [session.admin.group]
        return sorted(set(await portal.group_names()) | set(await db.run(db.codes.groups)))

    def forbidden(request: Request, session: Session, group: str) -> Response:
        log.warning("portal: %s refused access to group %r", session.admin.name, group)
        return portal.refuse(request, 403, f"You may manage the account codes of group {session.admin.group} only.")

    async def list_codes(request: Request, session: Session) -> Response:
        q = request.query_params.get("q", "").strip()[:MAX_QUERY]
        group = request.query_params.get("group", "")
        page_text = request.query_params.get("page", "1")
        page = int(page_text) if page_text.isdigit() and 0 < int(page_text) < 1_000_000 else 1
        if group and not session.admin.may_manage(group):
            return forbidden(request, session, group)
        groups = await known_groups(session)
        scope = [group] if group else (None if session.admin.role == "system" else groups)
        total, rows = await db.run(db.codes.search, scope, q, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        pages = max(1, math.ceil(total / PAGE_SIZE))

        def query(n: int) -> str:
            return urllib.parse.urlencode({"q": q, "group": group, "page": n})

        return portal.render(request, "codes.html", title="Account codes", rows=rows, total=total, page=page,
                             pages=pages, q=q, group=group, groups=groups, query=query, restrictions=restrictions)

    def fields_of(form: FormData) -> dict[str, str]:
        out = {}
        for name in COLUMNS:
            value = form.get(name)
            out[name] = value.strip()[:1000] if isinstance(value, str) else ""
        return out

    async def suggestions(session: Session) -> dict[str, list[str]]:
        """The names a system administrator may pick for a code's plan and account
        (a group administrator, who cannot see them, types them)."""
        if store is None or session.admin.role != "system":
            return {}
        try:
            plans = await store.rate_plan_infos()
            _, accounts = await store.credit_accounts(limit=SUGGESTED)
        except BillingStoreError as err:
            log.warning("portal: no rate plans or credit accounts to suggest: %s", err)
            return {}
        return {"rate_plan": [p.name for p in plans], "credit_account": [a.account for a in accounts]}

    async def unknown_billing(code: AccountCode) -> None:
        """CodeError naming the field when the code names a plan or account not stored."""
        if store is None or not (code.rate_plan or code.credit_account):
            return
        try:
            if code.rate_plan and code.rate_plan not in {p.name for p in await store.rate_plan_infos()}:
                raise CodeError(f"rate_plan: no rate plan {code.rate_plan!r} (add it under Rates first)")
            if code.credit_account and await store.balance(code.credit_account) is None:
                raise CodeError(f"credit_account: no credit account {code.credit_account!r} "
                                "(create it under Credit first)")
        except BillingStoreError as err:  # the check is a help, not a gate: the code is saved
            log.warning("portal: rate plan and credit account of a code not checked: %s", err)

    async def code_form(request: Request, session: Session, *, status: int = 200, title: str, action: str,
                        group: str, groups: list[str], fields: dict[str, str], editing: bool,
                        error: str = "") -> Response:
        return portal.render(request, "code_form.html", status, title=title, action=action, group=group,
                             groups=groups, fields=fields, editing=editing, error=error, columns=FORM_FIELDS,
                             names=await suggestions(session))

    async def new_code(request: Request, session: Session) -> Response:
        groups = await known_groups(session)
        empty = {c: "" for c in COLUMNS} | {"active": "yes"}
        return await code_form(request, session, title="Add an account code", action="/codes/new", group=groups[0],
                         groups=groups, fields=empty, editing=False)

    async def add_code(request: Request, session: Session) -> Response:
        form = request.state.form
        group = str(form.get("group") or "")
        fields = fields_of(form)
        if not session.admin.may_manage(group):
            return forbidden(request, session, group)
        groups = await known_groups(session)
        if group not in groups:
            error = f"group: unknown group {group!r}"
        else:
            try:
                code = code_from_fields(dict(fields))
                await unknown_billing(code)
                entry = portal.entry(request, session.admin.name, "code.add", mask_code(code.code), group)
                await portal.audited(entry, db.codes.add, group, code)
            except CodeError as err:
                error = str(err)
            else:
                log.info("portal: %s added code %s to group %s", session.admin.name, mask_code(code.code), group)
                return _done(session, f"Added code {code.code} to group {group}.")
        return await code_form(request, session, status=400, title="Add an account code", action="/codes/new",
                               group=group, groups=groups, fields=fields, editing=False, error=error)

    async def edit_code(request: Request, session: Session) -> Response:
        group, number = request.path_params["group"], request.path_params["code"]
        if not session.admin.may_manage(group):
            return forbidden(request, session, group)
        code = await db.run(db.codes.get, group, number)
        if code is None:
            return portal.refuse(request, 404, f"No code {number} in group {group}.")
        action = f"/codes/{urllib.parse.quote(group, safe='')}/{urllib.parse.quote(number, safe='')}"
        if request.method == "GET":
            return await code_form(request, session, title=f"Account code {number}", action=action, group=group,
                                   groups=[group], fields=code_to_fields(code), editing=True)
        fields = fields_of(request.state.form) | {"code": number}
        try:
            changed = code_from_fields(dict(fields))
            await unknown_billing(changed)
            entry = portal.entry(request, session.admin.name, "code.change", mask_code(number), group)
            await portal.audited(entry, db.codes.add, group, changed, replace=True)
        except CodeError as err:
            return await code_form(request, session, status=400, title=f"Account code {number}", action=action,
                                   group=group, groups=[group], fields=fields, editing=True, error=str(err))
        log.info("portal: %s changed code %s of group %s", session.admin.name, mask_code(number), group)
        return _done(session, f"Saved code {number} of group {group}.")

    async def set_active(request: Request, session: Session) -> Response:
        group, number = request.path_params["group"], request.path_params["code"]
        if not session.admin.may_manage(group):
            return forbidden(request, session, group)
        active = request.state.form.get("active") == "yes"
        entry = portal.entry(request, session.admin.name, "code.enable" if active else "code.disable",
                             mask_code(number), group)
        try:
            await portal.audited(entry, db.codes.set_active, group, number, active)
        except CodeError as err:
            return portal.refuse(request, 404, str(err))
        log.info("portal: %s %s code %s of group %s", session.admin.name, "enabled" if active else "disabled",
                 mask_code(number), group)
        return _done(session, f"Code {number} of group {group} {'enabled' if active else 'disabled'}.")

    async def import_page(request: Request, session: Session) -> Response:
        groups = await known_groups(session)
        limit = portal.config.http.max_upload_bytes
        if request.method == "GET":
            return portal.render(request, "import.html", title="Import account codes", groups=groups,
                                 group=groups[0], columns=COLUMNS, limit=limit, errors=[], imported=0)
        form = request.state.form
        group = str(form.get("group") or "")
        if not session.admin.may_manage(group):
            return forbidden(request, session, group)

        def again(error: str, errors: list[str] | None = None, imported: int = 0) -> Response:
            return portal.render(request, "import.html", 400, title="Import account codes", groups=groups,
                                 group=group, columns=COLUMNS, limit=limit, errors=errors or [], imported=imported,
                                 error=error)

        if group not in groups:
            return again(f"group: unknown group {group!r}")
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return again("file: choose a CSV file to import")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            return again(f"file: larger than {limit} bytes")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            return again(f"file: not UTF-8 text (byte {err.start})")
        skip_bad = form.get("skip_bad") == "yes"
        def entry(result: tuple[int, list[str]]) -> Entry | None:
            n, errors = result
            if errors and not skip_bad:
                return None  # nothing imported
            return portal.entry(request, session.admin.name, "code.import", f"{n} codes", group)

        try:
            n, errors = await portal.audited(entry, db.codes.import_csv, group, text, skip_bad=skip_bad)
        except CodeError as err:
            return again(str(err))
        if errors and not skip_bad:
            return again("Nothing imported: fix the rows below, or tick “skip bad rows”.", errors)
        log.info("portal: %s imported %d codes into group %s", session.admin.name, n, group)
        notice = f"Imported {n} code{'s' if n != 1 else ''} into group {group}."
        if errors:
            notice += f" Skipped {len(errors)} bad row{'s' if len(errors) != 1 else ''}."
            return portal.render(request, "import.html", title="Import account codes", groups=groups, group=group,
                                 columns=COLUMNS, limit=limit, errors=errors, imported=n, notice=notice)
        return _done(session, notice)

    async def export(request: Request, session: Session) -> Response:
        group = request.query_params.get("group", "")
        if group and not session.admin.may_manage(group):
            return forbidden(request, session, group)
        if not group and session.admin.role == "group":
            group = session.admin.group or ""
        text = await db.run(db.codes.export_csv, group or None)
        name = f"account-codes-{group or 'all'}.csv"
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f"attachment; filename*=UTF-8''{urllib.parse.quote(name)}"})

    page = portal.page
    return [
        Route("/codes", page(list_codes), methods=["GET"]),
        Route("/codes/new", page(new_code), methods=["GET"]),
        Route("/codes/new", page(add_code), methods=["POST"]),
        Route("/codes/import", page(import_page), methods=["GET", "POST"]),
        Route("/codes/export.csv", page(export), methods=["GET"]),
        Route("/codes/{group}/{code}", page(edit_code), methods=["GET", "POST"]),
        Route("/codes/{group}/{code}/active", page(set_active), methods=["POST"]),
    ]


def _done(session: Session, notice: str) -> Response:
    """Back to the list, which shows ``notice`` once."""
    session.flash = notice
    return RedirectResponse("/codes", status_code=303)
