"""Report and record pages: ``/reports`` (the reports of ``b2bua report`` as a
table and charts, by account code, department, extension or trunk, over a date
range), ``/records`` (record search, "Next" and "Previous" pages by keyset cursors)
and ``/records/{ref}`` (one record with its account-code segments).  The forms
are GET forms (nothing changes), so a report or a search is a link;
``format=csv`` or ``format=json`` exports what the page shows (CSV cells
through ``csv_cell``; a record export streams, a chunk of records at a time).
Dates and times are those of ``[billing] timezone``.  Reading is in
:mod:`b2bua.web.report_query`.
"""

from __future__ import annotations

import datetime
import json
import logging
import urllib.parse
from typing import TYPE_CHECKING, Any, AsyncGenerator, AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from b2bua.billing.cdr import Cdr
from b2bua.billing.records import DISPOSITIONS, encode
from b2bua.billing.reports import (
    GROUPINGS, disposition, export_end, export_piece, render_report, segment_rows, utc_offset,
)

from .report_query import (
    BillingStoreError, FieldError, Records, grouping, paging, period, record_filter, report_json,
)
from .sessions import Session

if TYPE_CHECKING:
    from .portal import Portal

log = logging.getLogger("b2bua.portal")
PAGE = 50  # records per page unless the form chooses
PAGE_SIZES = ("5", "10", "25", "50", "100", "200")
UNAVAILABLE = "The billing database cannot be read just now; try again shortly."


def _download_headers(fmt: str, name: str) -> tuple[str, dict[str, str]]:
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return media, {"content-disposition": f'attachment; filename="{name}.{fmt}"'}


def download(body: str, fmt: str, name: str) -> Response:
    media, headers = _download_headers(fmt, name)
    return Response(body, media_type=media, headers=headers)


async def _export_text(first: list[Cdr], rest: AsyncGenerator[list[Cdr], None], fmt: str,
                       zone: Any) -> AsyncIterator[str]:
    """The export's text, the first chunk already read (so that an unreadable
    database is a 503, not a cut download); a later failure ends it short."""
    if not first:
        await rest.aclose()
        yield export_end(fmt, first=True)
        return
    yield export_piece(first, fmt, zone, first=True)
    try:
        async for chunk in rest:
            yield export_piece(chunk, fmt, zone, first=False)
    except BillingStoreError as err:
        log.error("portal: record export cut short: %s", err)
        return
    finally:
        await rest.aclose()
    yield export_end(fmt, first=False)


def export_format(params: Any) -> str:
    fmt = params.get("format", "")
    if fmt not in ("", "csv", "json"):
        raise FieldError("format", "format: csv or json")
    return str(fmt)


def routes(portal: Portal) -> list[Route]:
    records = Records(portal.config)
    env = portal.templates.env
    zone = records.zone
    env.filters["local"] = lambda t: datetime.datetime.fromtimestamp(t, zone).strftime("%Y-%m-%d %H:%M:%S")
    env.filters["utcoffset"] = lambda t: utc_offset(t, zone)
    env.filters["disposition"] = disposition
    today = records.today

    def form_values(request: Request) -> dict[str, str]:
        return {k: v[:100] for k, v in request.query_params.items()}

    async def reports(request: Request, session: Session) -> Response:
        params = form_values(request)
        context: dict[str, Any] = {"title": "Reports", "groupings": list(GROUPINGS), "form": params, "report": None,
                                   "zone": zone.key}
        try:
            fmt = export_format(params)
            by = grouping(params)
            start, end = period(params, today())
        except FieldError as err:
            return portal.render(request, "reports.html", 422, error=str(err), field=err.field, **context)
        context["form"] = {**params, "by": by, "from": start.isoformat(), "to": end.isoformat()}
        try:
            report = await records.report(by, start, end, session.admin)
        except BillingStoreError as err:
            log.error("portal: report: %s", err)
            return portal.render(request, "reports.html", 503, error=UNAVAILABLE, **context)
        if fmt == "csv":
            return download(render_report(report.rows, "csv", by), fmt, f"report-{by}")
        if fmt == "json":
            return download(json.dumps(report_json(report), indent=2) + "\n", fmt, f"report-{by}")
        query = urllib.parse.urlencode(context["form"])
        return portal.render(request, "reports.html", report=report, export=query, **{
            k: v for k, v in context.items() if k != "report"})

    async def search(request: Request, session: Session) -> Response:
        params = form_values(request)
        context: dict[str, Any] = {"title": "Call records", "dispositions": DISPOSITIONS, "sizes": PAGE_SIZES,
                                   "form": params, "found": None, "zone": zone.key}
        try:
            fmt = export_format(params)
            start, end = period(params, today())
            f = record_filter(params, session.admin)
            offset, limit, after, before = paging(params, PAGE)
        except FieldError as err:
            return portal.render(request, "records.html", 422, error=str(err), field=err.field, **context)
        shown = {k: v for k, v in params.items() if k not in ("offset", "after", "before", "format")}
        shown.update({"from": start.isoformat(), "to": end.isoformat()})
        try:
            if fmt:
                chunks = records.export(start, end, f)
                first: list[Cdr] = await anext(chunks, [])
            else:
                page = await records.search(start, end, f, limit, after=after, before=before, offset=offset)
        except BillingStoreError as err:
            log.error("portal: record search: %s", err)
            return portal.render(request, "records.html", 503, error=UNAVAILABLE, **context)
        if fmt:
            media, headers = _download_headers(fmt, "records")
            return StreamingResponse(_export_text(first, chunks, fmt, zone), media_type=media, headers=headers)
        base = urllib.parse.urlencode({**shown, "limit": limit})
        return portal.render(
            request, "records.html", records=page.records, page=page, limit=limit, query=base,
            next=encode(page.after) if page.after else "", previous=encode(page.before) if page.before else "",
            **{**context, "form": {**shown, "limit": str(limit)}, "found": page.total},
        )

    async def record(request: Request, session: Session) -> Response:
        ref = request.path_params["ref"]
        cdr = None
        if len(ref) <= 100:
            try:
                cdr = await records.one(ref, session.admin)
            except BillingStoreError as err:
                log.error("portal: record %s: %s", ref[:40], err)
                return portal.refuse(request, 503, UNAVAILABLE)
        if cdr is None:  # another group's record is answered as an unknown one
            return portal.refuse(request, 404, "No such call record (or not one of your group's).")
        return portal.render(request, "record.html", title=f"Call record {cdr.ref}", cdr=cdr, zone=zone.key,
                             segments=segment_rows(cdr, zone), disposition=disposition(cdr))

    return [
        Route("/reports", portal.page(reports), methods=["GET"]),
        Route("/records", portal.page(search), methods=["GET"]),
        Route("/records/{ref}", portal.page(record), methods=["GET"]),
    ]

