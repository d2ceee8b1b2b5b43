"""Flash + VSC's shell: the media side of :mod:`b2bua.calls.flash` on calls
whose media passes through the server (``[media] anchor``, the relay of
:mod:`b2bua.runtime.prompts`).

* ``hold``: the relay stops both ways (the callee hears nothing and sends
  nothing to the caller; no SIP request: the callee's dialog is untouched);
  the caller's keys are listened for in RFC 4733 events and in its audio;
* ``play``: a tone of the configured plan (``[media] tones``) to the caller
  alone, looped (recall dial tone) or for the given seconds (confirmation,
  reorder); ``stop``: the tone ends (the first key keyed);
* ``reconnect``: the tone stopped, the relay both ways again.

A call whose media goes end to end (not anchored) cannot be held here:
``can_hold`` is False and the flash is refused (488).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .prompts import PromptService, _Prompt


class AnchoredFlash:
    """:class:`b2bua.calls.flash.FlashMedia` on the prompts' anchored streams."""

    def __init__(self, prompts: "PromptService") -> None:
        self.prompts = prompts

    def _anchored(self, ref: str) -> "_Prompt | None":
        p = self.prompts.by_ref.get(ref)
        return p if p is not None and p.phase == "anchored" and p.stream is not None else None

    def can_hold(self, ref: str) -> bool:
        return self._anchored(ref) is not None

    def hold(self, ref: str) -> None:
        p = self._anchored(ref)
        if p is not None:
            p.held = True

    def play(self, ref: str, role: str, seconds: float | None) -> None:
        p = self._anchored(ref)
        if p is not None and p.stream is not None:
            p.stream.play(self.prompts.frames(f"tone:{role}", p.codec, seconds=seconds))

    def stop(self, ref: str) -> None:
        p = self._anchored(ref)
        if p is not None and p.stream is not None:
            p.stream.stop()

    def reconnect(self, ref: str) -> None:
        p = self._anchored(ref)
        if p is not None and p.stream is not None:
            p.held = False
            p.stream.stop()
