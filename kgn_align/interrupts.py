"""How a command stops when asked to: Ctrl-C (SIGINT) and SIGTERM both end it through
KeyboardInterrupt, so that the same clean-up runs (a load rolled back, a backfill's resume
hint, a server that did not finish starting stopped), and a load stops only between two
transactions.

Python's default for SIGTERM ends the process at once, with no ``finally`` run: a demo then
left its server running and a backfill stopped without saying how to resume (``kill`` is
what a service manager, a container runtime or a CI timeout sends).
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

#: Set when the KeyboardInterrupt that ends a command came from SIGTERM, not Ctrl-C (the
#: CLI then exits 143 instead of 130).
terminated = threading.Event()

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _sigterm_as_interrupt(*_: object) -> None:
    terminated.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within it, SIGTERM raises KeyboardInterrupt, as Ctrl-C does, and sets
    :data:`terminated`; the handler before it is back afterwards. Outside the main thread
    this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    terminated.clear()
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stopped_by() -> tuple[str, int]:
    """The last line and exit status of a command a KeyboardInterrupt ended:
    ``("Terminated.", 143)`` after SIGTERM, ``("Interrupted.", 130)`` after Ctrl-C."""
    if terminated.is_set():
        return "Terminated.", 128 + signal.SIGTERM
    return "Interrupted.", 128 + signal.SIGINT


@contextlib.contextmanager
def interrupt_between_transactions() -> Iterator[None]:
    """Within it, Ctrl-C (SIGINT) or SIGTERM stops work between two transactions: the one in
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
        if signum == signal.SIGTERM:
            terminated.set()
        if interrupt_requested.is_set():
            raise KeyboardInterrupt
        interrupt_requested.set()

    interrupt_requested.clear()
    previous = {sig: signal.signal(sig, request) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if interrupt_requested.is_set():
            log.warning("a stop request came after the last transaction; the work it would have "
                        "stopped is complete")
        interrupt_requested.clear()
