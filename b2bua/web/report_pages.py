"""Report and record pages: ``/reports`` (the reports of ``b2bua report`` as a
table and charts, by account code, department, extension or trunk, over a date
range), ``/records`` (record search with paging) and ``/records/{ref}`` (one
record with its account-code segments).  The forms are GET forms (nothing
changes), so a report or a search is a link; ``format=csv`` or ``format=json``
exports what the page shows (CSV cells through ``csv_cell``).  Reading is in
:mod:`b2bua.web.report_query`.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import urllib.parse
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from b2bua.billing.records import DISPOSITIONS, selected
from b2bua.billing.reports import GROUPINGS, disposition, export_cdrs, render_report, segment_rows

from .report_query import (
    MAX_EXPORT, BillingStoreError, FieldError, Records, build_report, grouping, paging, period, record_filter,
    report_json,
)
from .sessions import Session

if TYPE_CHECKING:
    from .portal import Portal

log = logging.getLogger("b2bua.portal")
PAGE = 50  # records per page unless the form chooses
PAGE_SIZES = ("5", "10", "25", "50", "100", "200")
UNAVAILABLE = "The billing database cannot be read just now; try again shortly."


def download(body: str, fmt: str, name: str) -> Response:
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return Response(body, media_type=media, headers={"content-disposition": f'attachment; filename="{name}.{fmt}"'})


def export_format(params: Any) -> str:
    fmt = params.get("format", "")
    if fmt not in ("", "csv", "json"):
        raise FieldError("format", "format: csv or json")
    return str(fmt)


def routes(portal: Portal) -> list[Route]:
    records = Records(portal.config)
    env = portal.templates.env
    env.filters["utc"] = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    env.filters["disposition"] = disposition

    def today() -> datetime.date:
        return datetime.datetime.now(datetime.timezone.utc).date()

    def form_values(request: Request) -> dict[str, str]:
        return {k: v[:100] for k, v in request.query_params.items()}

    async def reports(request: Request, session: Session) -> Response:
        params = form_values(request)
        context: dict[str, Any] = {"title": "Reports", "groupings": list(GROUPINGS), "form": params, "report": None}
        try:
            fmt = export_format(params)
            by = grouping(params)
            start, end = period(params, today())
        except FieldError as err:
            return portal.render(request, "reports.html", 422, error=str(err), field=err.field, **context)
        context["form"] = {**params, "by": by, "from": start.isoformat(), "to": end.isoformat()}
        try:
            cdrs = await records.between(start, end, session.admin)
        except BillingStoreError as err:
            log.error("portal: report: %s", err)
            return portal.render(request, "reports.html", 503, error=UNAVAILABLE, **context)
        report = await asyncio.to_thread(build_report, cdrs, by, start, end)
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
                                   "form": params,
                                   "found": None}
        try:
            fmt = export_format(params)
            start, end = period(params, today())
            f = record_filter(params, session.admin)
            offset, limit = (0, MAX_EXPORT) if fmt else paging(params, PAGE)
        except FieldError as err:
            return portal.render(request, "records.html", 422, error=str(err), field=err.field, **context)
        shown = {**params, "from": start.isoformat(), "to": end.isoformat()}
        shown.pop("offset", None)
        try:
            if fmt:
                cdrs = await records.between(start, end, session.admin)
                page = (await asyncio.to_thread(selected, cdrs, f))[:MAX_EXPORT]
                total = len(page)
            else:
                total, page = await records.search(start, end, f, offset, limit, session.admin)
        except BillingStoreError as err:
            log.error("portal: record search: %s", err)
            return portal.render(request, "records.html", 503, error=UNAVAILABLE, **context)
        if fmt:
            return download(export_cdrs(page, fmt), fmt, "records")
        base = urllib.parse.urlencode({**{k: v for k, v in shown.items() if k != "format"}, "limit": limit})
        return portal.render(
            request, "records.html", records=page, offset=offset, limit=limit, query=base,
            **{**context, "form": {**shown, "limit": str(limit)}, "found": total},
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
        return portal.render(request, "record.html", title=f"Call record {cdr.ref}", cdr=cdr,
                             segments=segment_rows(cdr), disposition=disposition(cdr))

    return [
        Route("/reports", portal.page(reports), methods=["GET"]),
        Route("/records", portal.page(search), methods=["GET"]),
        Route("/records/{ref}", portal.page(record), methods=["GET"]),
    ]

