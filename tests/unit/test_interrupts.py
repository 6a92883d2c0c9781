"""Ctrl-C inside a load stops it between two transactions (interrupts.interrupt_between_transactions):
a first SIGINT is held until the next query starts, a second one raises at once, and the
process's own handler is back afterwards. No server is needed: the held interrupt is raised
before any connection is tried (the Graph below points at a closed port)."""

from __future__ import annotations

import os
import signal

import pytest

from kgn_align.config import ConnectionConfig
from kgn_align.errors import ServerUnavailable
from kgn_align.graph import Graph
from kgn_align.interrupts import interrupt_between_transactions


@pytest.fixture
def nowhere() -> Graph:
    graph = Graph(ConnectionConfig(uri="bolt://127.0.0.1:1", user="neo4j", password="x",
                                   max_retry_time=0.1))
    yield graph
    graph.close()


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler before the next bytecode


def test_first_ctrl_c_waits_for_the_next_query(nowhere: Graph) -> None:
    with interrupt_between_transactions():
        _ctrl_c()  # held: nothing raised here
        with pytest.raises(KeyboardInterrupt):
            nowhere.read("server_components")
        # consumed: a clean-up query after it runs (and here fails on the closed port)
        with pytest.raises(ServerUnavailable):
            nowhere.read("server_components")


def test_second_ctrl_c_raises_at_once() -> None:
    with interrupt_between_transactions():
        _ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            _ctrl_c()


def test_handler_restored_and_late_ctrl_c_dropped(nowhere: Graph, caplog) -> None:
    before = signal.getsignal(signal.SIGINT)
    with interrupt_between_transactions():
        _ctrl_c()  # after the last query: the work is done
    assert signal.getsignal(signal.SIGINT) is before
    assert "after the last transaction" in caplog.text
    with pytest.raises(ServerUnavailable):  # nothing left held for a later query
        nowhere.read("server_components")


def test_a_stop_request_after_the_work_is_complete_does_not_stop_its_recording(nowhere: Graph,
                                                                                caplog) -> None:
    """A load stopped after its last row but before it recorded itself finished printed only
    "Interrupted." and left its record unfinished: once the work is complete, stops_deferred
    lets the recording queries run (here they reach the closed port) and says the request
    came too late; a second request still stops at once."""
    from kgn_align.interrupts import stops_deferred

    before = signal.getsignal(signal.SIGINT)
    with interrupt_between_transactions():
        _ctrl_c()  # held from the last batch's transaction
        with stops_deferred("the load"):
            with pytest.raises(ServerUnavailable):  # the query ran: no KeyboardInterrupt
                nowhere.read("server_components")
            with pytest.raises(KeyboardInterrupt):  # the second request
                _ctrl_c()
    assert "after the load was complete" in caplog.text
    assert "after the last transaction" not in caplog.text  # said once, by the one that knows
    assert signal.getsignal(signal.SIGINT) is before
    caplog.clear()
    with interrupt_between_transactions(), stops_deferred("the load"):
        _ctrl_c()  # a first request inside: noted, nothing raised
        with pytest.raises(ServerUnavailable):
            nowhere.read("server_components")
    assert "after the load was complete" in caplog.text


def test_sigterm_is_held_as_ctrl_c_is_and_said_as_a_kill(nowhere: Graph) -> None:
    from kgn_align.interrupts import sigterm_interrupts, stopped_by

    before = signal.getsignal(signal.SIGTERM)
    with sigterm_interrupts():
        assert stopped_by() == ("Interrupted.", 130)
        with interrupt_between_transactions():
            os.kill(os.getpid(), signal.SIGTERM)  # held, as a first Ctrl-C
            with pytest.raises(KeyboardInterrupt):
                nowhere.read("server_components")
        assert stopped_by() == ("Terminated.", 143)
        with pytest.raises(KeyboardInterrupt):  # outside a load: raised where it lands
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("second, said", [(signal.SIGTERM, ("Terminated.", 143)),
                                          (signal.SIGINT, ("Interrupted.", 130))])
def test_a_busy_workers_second_stop_request_ends_it_as_that_signal(nowhere: Graph, second, said) -> None:
    """The first request lets the running job finish; the second stops at once, and the CLI's
    last line and exit status name the signal that did it (a second SIGTERM said
    'Interrupted.' and exited 130)."""
    from kgn_align.interrupts import stopped_by
    from kgn_align.worker import Worker

    worker = Worker(nowhere, {})
    worker.request_stop(signal.SIGTERM, None)  # the first: no exception, the loop ends later
    with pytest.raises(KeyboardInterrupt):
        worker.request_stop(second, None)
    assert stopped_by() == said


def test_a_hangup_ends_a_command_as_a_kill_does_unless_nohup_ignored_it() -> None:
    """SIGHUP (a closed terminal) ended a command at once, no clean-up run (a server that did
    not finish starting was left running); now it is KeyboardInterrupt, said as 'Hung up.',
    129. Under ``nohup`` (SIGHUP ignored when the command started) it stays ignored."""
    from kgn_align.interrupts import sigterm_interrupts, stopped_by

    before = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        with sigterm_interrupts():
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGHUP)
            assert stopped_by() == ("Hung up.", 129)
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        with sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGHUP)  # ignored: nothing raised
            assert stopped_by() == ("Interrupted.", 130)
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


def test_a_stop_request_ends_a_worker_waiting_for_an_absent_server_promptly() -> None:
    """With the server away, each claim waited out the driver's retries (30 s by default)
    before the worker looked at its stop request again: a new user's trial saw 'stopping'
    logged, then 35 s of claiming. The worker's claims retry for
    ``WAITING_RETRY_SECONDS`` only (its own loop retries after that), so a stop ends it
    within a few seconds, however long the connection lets a transaction retry."""
    import threading

    from kgn_align.worker import WAITING_RETRY_SECONDS, Worker

    graph = Graph(ConnectionConfig(uri="bolt://127.0.0.1:1", user="neo4j", password="x", max_retry_time=60.0))
    worker = Worker(graph, {"backfill": lambda j: {}}, poll_seconds=0.1)
    ran = threading.Thread(target=worker.run, daemon=True)
    try:
        ran.start()
        ran.join(1.0)  # claiming by now, the server away
        worker.request_stop()  # a first stop request, as a SIGTERM's
        ran.join(WAITING_RETRY_SECONDS + 20)
        assert not ran.is_alive(), "the worker kept claiming after the stop request"
    finally:
        graph.close()
