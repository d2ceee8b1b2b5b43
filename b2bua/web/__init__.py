"""The HTTP side of the server: the administration portal and Prometheus
``/metrics``, served by uvicorn in the SIP server's own process and event loop.

Part of the shell (it does I/O): the deciding layers (``b2bua.sip``,
``b2bua.calls``, ``b2bua.billing``, ``dialplan``) never import it.  Nothing here
blocks the loop: database work runs in worker threads (``asyncio.to_thread``),
one at a time on the portal's own SQLite connection.
"""
