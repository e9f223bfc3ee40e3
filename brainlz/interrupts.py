"""Ctrl+C on the command line: a run stops (exit status 130, nothing half-written) or it finishes, never both.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread is; raised in a weakref callback or a
``__del__`` it is printed and dropped, and the run goes on.  Brian2 replaces Python's handler when it is imported
with one that, during a ``Network.run``, only asks the network to stop, and that raises TypeError in a process
started with SIGINT ignored.  While :func:`install`-ed (``brainlz run``):

- the handler records every interrupt and raises KeyboardInterrupt, except inside :func:`deferred` blocks (the
  rename that puts a finished results folder in place, the removal of a staging folder), where it only records it;
- :func:`check` raises KeyboardInterrupt for a recorded interrupt; called after every batch, between the stages of
  a run and right before the final rename, it stops a run whose interrupt Python dropped;
- :func:`completed`, called right after a run's final rename, ends interruption where that rename finishes the
  command (after :func:`single_run`): the results are complete and the run reports itself finished, whenever a
  later Ctrl+C comes;
- a process started with SIGINT ignored (``nohup``, ``cmd &`` in a script) keeps ignoring it, and so do the
  programs it starts.

Brian2's handler is put back by :func:`uninstall`.  Otherwise (brainlz as a library) :func:`check`,
:func:`deferred` and :func:`completed` change nothing.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

__all__ = ["install", "uninstall", "handling", "single_run", "check", "deferred", "completed", "settle",
           "requested"]

_STATE = {"active": False, "requested": False, "deferred": 0, "done": False, "final": False, "restore": None,
          "hook": None}


def _handler(signum, frame):
    """Record the interrupt; raise KeyboardInterrupt unless in a :func:`deferred` block or the run is complete."""
    if not _STATE["active"]:
        raise KeyboardInterrupt  # as Python's own handler (Brian2's calls this one after uninstall())
    _STATE["requested"] = True
    if not _STATE["deferred"] and not _STATE["done"]:
        raise KeyboardInterrupt


def _ignore(signum, frame):
    """A handler that does nothing (where the process was started with SIGINT ignored)."""


def install() -> None:
    """Handle Ctrl+C as described in the module docstring, until :func:`uninstall` (main thread only; imports
    Brian2, whose import would otherwise replace the handler in the middle of the run)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if _STATE["active"]:
        uninstall()
    original = signal.getsignal(signal.SIGINT)
    ignored = original is signal.SIG_IGN or getattr(original, "previous_handler", None) is signal.SIG_IGN
    first = _ignore if ignored else _handler
    _STATE.update(active=True, requested=False, deferred=0, done=False, final=False, restore=original,
                  hook=sys.unraisablehook)
    signal.signal(signal.SIGINT, first)
    import brian2  # noqa: F401  (installs its handler, around ours, on first import)

    installed = signal.getsignal(signal.SIGINT)
    if installed is not first:
        _STATE["restore"] = installed  # Brian2's, which calls ours (or does nothing, where SIGINT was ignored)
    signal.signal(signal.SIGINT, signal.SIG_IGN if ignored else _handler)
    sys.unraisablehook = _quiet


def _quiet(unraisable):
    """A KeyboardInterrupt that Python drops (raised in a weakref callback, a ``__del__``) is recorded, for
    :func:`check` to raise, instead of printed."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _STATE["requested"] = True
    else:
        _STATE["hook"](unraisable)


def uninstall(exiting: bool = False) -> None:
    """Put back the SIGINT handler (Brian2's, once imported) that :func:`install` replaced.

    Parameters
    ----------
    exiting : bool
        The process exits next, with the command's exit status: ignore SIGINT instead (Python resets its handlers
        while it exits, and a Ctrl+C then would kill a process whose run has finished).
    """
    if not _STATE["active"]:
        return
    restore = _STATE["restore"]
    if exiting:
        restore = signal.SIG_IGN
    signal.signal(signal.SIGINT, signal.SIG_DFL if restore is None else restore)  # None: not set from Python
    sys.unraisablehook = _STATE["hook"]
    _STATE.update(active=False, deferred=0, restore=None, hook=None)
    network = sys.modules.get("brian2.core.network")
    if network is not None:  # a network run that an interrupt ended says it is still running
        network.Network._globally_running = False


@contextlib.contextmanager
def handling():
    """:func:`install` for the duration of the block."""
    install()
    try:
        yield
    finally:
        uninstall()


def single_run() -> None:
    """The next :func:`completed` finishes the command (a single protocol run): later interrupts are ignored."""
    _STATE["final"] = True


def check() -> None:
    """Raise KeyboardInterrupt if an interrupt was recorded (and the run is not complete)."""
    if _STATE["active"] and _STATE["requested"] and not _STATE["done"]:
        raise KeyboardInterrupt


def requested() -> bool:
    """Whether an interrupt was recorded since :func:`install` (False when not installed)."""
    return _STATE["active"] and _STATE["requested"]


@contextlib.contextmanager
def deferred():
    """A block that a Ctrl+C does not interrupt (it is recorded; the next :func:`check` raises it)."""
    _STATE["deferred"] += 1
    try:
        yield
    finally:
        _STATE["deferred"] -= 1


def settle() -> None:
    """The command's outcome is decided: from now on interrupts are recorded, not raised."""
    _STATE["done"] = True


def completed() -> None:
    """A run's results are in place; after :func:`single_run` this ends the command's interruptions."""
    if _STATE["active"] and _STATE["final"]:
        _STATE["done"] = True
