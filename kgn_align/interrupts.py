"""How a command stops when asked to: Ctrl-C (SIGINT), SIGTERM and SIGHUP all end it through
KeyboardInterrupt, so that the same clean-up runs (a load rolled back, a backfill's resume
hint, a server that did not finish starting stopped), and a load stops only between two
transactions.

Python's default for SIGTERM and SIGHUP ends the process at once, with no ``finally`` run: a
demo then left its server running and a backfill stopped without saying how to resume
(``kill`` is what a service manager, a container runtime or a CI timeout sends; SIGHUP what
a closed terminal or a dropped SSH session sends). A SIGHUP ignored when the command started
(``nohup``) stays ignored.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

#: Set by a Ctrl-C or SIGTERM inside :func:`interrupt_between_transactions`; the next
#: transaction to start clears it and raises KeyboardInterrupt instead (graph.py).
interrupt_requested = threading.Event()

#: The signals that stop a command, and the last line it then prints (its exit status is
#: 128 + the signal's number, as a shell reports a process that signal killed).
STOP_SIGNALS = {signal.SIGINT: "Interrupted.", signal.SIGTERM: "Terminated.",
                signal.SIGHUP: "Hung up."}

#: The signal behind the KeyboardInterrupt that ends a command (Ctrl-C unless
#: :func:`record` says otherwise).
_received = [signal.SIGINT]


def record(signum: int | None) -> None:
    """Note the stop signal a command received (``None``: Ctrl-C, or asked in code)."""
    _received[0] = signal.Signals(signum) if signum in STOP_SIGNALS else signal.SIGINT


def handle_stop_signals(handler: object, signals: tuple[int, ...] = tuple(STOP_SIGNALS)) -> dict[int, object]:
    """Install ``handler`` for ``signals`` (default: every stop signal), but not for a SIGHUP
    already ignored (``nohup``); returns the handlers it replaced, for :func:`restore`.
    Main thread only."""
    previous = {}
    for sig in signals:
        if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
            continue
        previous[sig] = signal.signal(sig, handler)  # type: ignore[arg-type]
    return previous


def restore(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]


def _kill_as_interrupt(signum: int, _frame: object) -> None:
    record(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within it, SIGTERM and SIGHUP raise KeyboardInterrupt, as Ctrl-C does, and are noted
    for :func:`stopped_by`; the handlers before it are back afterwards. Outside the main
    thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    record(None)
    previous = handle_stop_signals(_kill_as_interrupt, (signal.SIGTERM, signal.SIGHUP))
    try:
        yield
    finally:
        restore(previous)


def stopped_by() -> tuple[str, int]:
    """The last line and exit status of a command a KeyboardInterrupt ended:
    ``("Terminated.", 143)`` after SIGTERM, ``("Hung up.", 129)`` after SIGHUP,
    ``("Interrupted.", 130)`` after Ctrl-C."""
    sig = _received[0]
    return STOP_SIGNALS[sig], 128 + sig


@contextlib.contextmanager
def interrupt_between_transactions() -> Iterator[None]:
    """Within it, Ctrl-C (SIGINT), SIGTERM or SIGHUP stops work between two transactions: the one in
    flight finishes (commits or fails on its own), and the next :class:`~kgn_align.graph.Graph`
    query raises KeyboardInterrupt before it starts. A second request before that raises at
    once.

    Why: Python raises KeyboardInterrupt wherever the main thread happens to be. Inside the
    driver that can leave a connection mid-message; inside a destructor (seen: the driver's
    ``Workspace.__del__``) Python prints the exception and drops it, and a load went on to
    its end as if no Ctrl-C had come. Outside the main thread this does nothing (signal
    handlers belong to the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request(signum: int, _frame: object) -> None:
        if signum != signal.SIGINT:
            record(signum)
        if interrupt_requested.is_set():
            raise KeyboardInterrupt
        interrupt_requested.set()

    interrupt_requested.clear()
    previous = handle_stop_signals(request)
    try:
        yield
    finally:
        restore(previous)
        if interrupt_requested.is_set():
            log.warning("a stop request came after the last transaction; the work it would have "
                        "stopped is complete")
        interrupt_requested.clear()


@contextlib.contextmanager
def stops_deferred(what: str) -> Iterator[None]:
    """Within it (inside :func:`interrupt_between_transactions`, after the work a stop request
    would have undone is complete) a first Ctrl-C, SIGTERM or SIGHUP no longer stops anything:
    the queries that record ``what`` as complete run, and a WARNING at the end says the
    request came too late to stop it. A request held from before it counts as that first
    one; a second request raises at once (a person insisting). Outside the main thread this
    does nothing.

    Why: a load whose every row was in, stopped while it recorded itself as finished, printed
    only "Interrupted." and left its record unfinished (the next load of it had nothing to do)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    asked = [interrupt_requested.is_set()]
    interrupt_requested.clear()

    def note(signum: int, _frame: object) -> None:
        if signum != signal.SIGINT:
            record(signum)
        if asked[0]:
            raise KeyboardInterrupt
        asked[0] = True

    previous = handle_stop_signals(note)
    try:
        yield
    finally:
        restore(previous)
        if asked[0]:
            log.warning("a stop request came after %s was complete: it stays complete", what)
