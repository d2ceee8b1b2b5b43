"""Billing: rating, call detail records, durable storage, credit control, reports.

Pure (no clock, no I/O): ``rating`` (tariffs, ``rate_for``, ``cost``), ``cdr`` (``Cdr``
and ``CdrBuilder``: call events in, write operations out), ``credit.CreditController``,
``reports``.  Shell: ``store`` (the ``BillingStore`` interface), ``sqlite`` and
``postgres`` (the backends), ``record_sql`` (record search and report sums in SQL,
shared by both), ``backends`` (``open_billing_store``), ``writer`` (``CdrWriter``:
batched, journaled).

Wiring into the runtime
-----------------------
Start-up (``node`` names this server when several share one PostgreSQL database)::

    store = open_billing_store(url)           # a path (SQLite) or postgresql://...
    writer = CdrWriter(store, data_dir / "cdr-journal.jsonl")
    await writer.start()                      # opens the store, replays the journal
    if store.is_open:
        await store.recover_open_records(time.time(), node=node)
    builder = CdrBuilder(wall_offset=time.time() - loop.time(), node=node,
                         plans=load_rate_plans(config_rate_plans), default_plan="...")

Per call attempt:

* every call event: ``writer.submit(builder.handle(event))``.  A ``CallStarted``
  is billed from its ``account`` (code, source, validity, call class, rate plan
  name; ``billing_from_event``); a runtime without it passes ``billing =
  call_billing(plan, destination, call_class, account_code=..., ...)`` with the
  event, or later via ``builder.annotate(ref, billing)`` (replaces the code fields);
  a code given mid-call: ``writer.submit(builder.change_code(ref, at=..., ...))``;
* prepaid calls (``account.credit_account`` set), before ringing: ``check = await
  can_start(store, credit_account, billing.rate, billing.currency)``; if not ``check.ok`` refuse with ``check.status``
  (402, 403, 503), still reporting ``CallStarted``/``CallEnded`` so the attempt is
  recorded.  Emergency and internal calls (to an extension) are never credit-controlled;
* on ``CalleeAnswered`` (never on ``CallerConnected``: a caller the server answers
  itself, as while prompting, pays nothing yet): ``ctl = CreditController(ref=..., account=..., rate=...,
  currency=...)`` and run ``ctl.answered(now)``; on ``CallEnded``: ``ctl.ended(now)``,
  and once ``ctl.settled``, ``builder.limit(ref, ctl.charged_s)`` before the builder
  handles the ``CallEnded`` (the record then bills what the account is charged);
* commands: ``ReserveCredit`` -> ``ok = await perform(store, cmd)`` then
  ``ctl.reserve_result(loop.time(), ok)`` (run what it returns); ``CommitCredit`` ->
  ``await perform(store, cmd)`` until it returns True (idempotent by ref; at the next
  start ``store.recover_open_records`` commits what is still held); ``EndCall`` -> hang up both legs now, reporting
  ``CallEnded(status=200, hangup="server", cause=cmd.reason)``;
* one timer at the earliest of ``builder.next_deadline()`` and every
  ``ctl.next_deadline()``; when it fires, ``writer.submit(builder.handle_timer(now))``
  and run ``ctl.handle_timer(now)`` for the controllers that are due.

Shut-down: ``await writer.stop()`` then ``await store.close()``.
"""
