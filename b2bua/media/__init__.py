"""Media for the calls the server answers itself (prompting for account codes):
RTP, G.711, tones, RFC 4733 events, in-band DTMF detection, digit collection
and the prompt session.  Every module here is sans-IO (no sockets, no clock, no
randomness); the asyncio shell that owns the RTP sockets lives in the runtime.
"""
