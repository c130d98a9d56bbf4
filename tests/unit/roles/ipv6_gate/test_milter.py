"""The pymilter glue's error paths: an exception never turns into an accept.

pymilter needs libmilter and a running MTA, and molecule/ipv6_inbound drives the real thing end to end.
What a real MTA cannot produce on demand is an exception inside a callback, so here a minimal stand-in
for the ``Milter`` module (the parts milter.py uses, with pymilter's reply semantics) lets the glue run
without libmilter.
"""

import importlib
import sys
import types

import pytest

CONTINUE, TEMPFAIL, ACCEPT, REJECT, NOREPLY = "continue", "tempfail", "accept", "reject", "noreply"
P_NR_HELO, P_NR_HDR = 0x10000, 0x80
NO_REPLY_MASKS = {"hello": P_NR_HELO, "header": P_NR_HDR}


def fake_milter_module():
    module = types.ModuleType("Milter")
    module.CONTINUE, module.TEMPFAIL, module.ACCEPT = CONTINUE, TEMPFAIL, ACCEPT
    module.REJECT, module.NOREPLY = REJECT, NOREPLY
    module.ADDHDRS, module.CHGHDRS = 0x1, 0x10

    def noreply(func):
        # pymilter: NOREPLY when the MTA agreed not to wait, and a callback must then return CONTINUE
        mask = NO_REPLY_MASKS[func.__name__]

        def wrapper(self, *args):
            rc = func(self, *args)
            if self._protocol & mask:
                if rc != CONTINUE:
                    raise RuntimeError(f"{func.__name__} return code must be CONTINUE with @noreply")
                return NOREPLY
            return rc

        wrapper.__name__ = func.__name__
        wrapper.milter_protocol = mask
        return wrapper

    class Base:
        _protocol = P_NR_HELO | P_NR_HDR

        def __init__(self):
            self.replies = []
            self.macros = {}

        def setreply(self, code, xcode=None, msg=None, *more):
            self.replies.append((code, xcode, msg))

        def getsymval(self, name):
            return self.macros.get(name)

    module.noreply = noreply
    module.Base = Base
    return module


class ExplodingSession:
    """A GateSession whose chosen event raises."""

    client_text = "2001:db8:25::10"

    def __init__(self, explode_in):
        self.explode_in = explode_in
        self.events = []

    def __getattr__(self, name):
        def event(*args):
            self.events.append(name)
            if name == self.explode_in:
                raise ValueError(f"boom in {name}")
            if name in ("connect", "mail_from"):
                return True
            return None

        return event


@pytest.fixture
def gate_milter(monkeypatch):
    monkeypatch.setitem(sys.modules, "Milter", fake_milter_module())
    monkeypatch.delitem(sys.modules, "v6gate_gate.milter", raising=False)
    module = importlib.import_module("v6gate_gate.milter")

    def make(explode_in):
        milter = module.GateMilter.__new__(module.GateMilter)
        sys.modules["Milter"].Base.__init__(milter)
        milter.session = ExplodingSession(explode_in)
        milter.failed_in = None
        return milter

    yield make
    sys.modules.pop("v6gate_gate.milter", None)


GATE_ERROR = ("451", "4.3.0")


def test_error_in_a_header_callback_tempfails_at_end_of_message(gate_milter):
    milter = gate_milter("header")
    assert milter.connect("tx", 10, ("2001:db8:25::10", 25, 0, 0)) == CONTINUE
    assert milter.hello("tx.example") == NOREPLY
    assert milter.envfrom("<a@example.com>") == CONTINUE
    assert milter.envrcpt("<b@contoso.example>") == CONTINUE
    assert milter.header("Subject", "hello") == NOREPLY  # Postfix is not waiting: nothing to answer yet
    assert milter.header("From", "a@example.com") == NOREPLY
    assert milter.eom() == TEMPFAIL
    assert [r[:2] for r in milter.replies] == [GATE_ERROR]
    # the remembered failure answers for the session; later events are not run
    assert milter.session.events.count("header") == 1
    assert "end_of_message" not in milter.session.events


def test_error_in_hello_tempfails_the_next_command(gate_milter):
    milter = gate_milter("hello")
    milter.connect("tx", 10, ("2001:db8:25::10", 25, 0, 0))
    assert milter.hello("tx.example") == NOREPLY
    assert milter.envfrom("<a@example.com>") == TEMPFAIL
    assert [r[:2] for r in milter.replies] == [GATE_ERROR]


@pytest.mark.parametrize("event, callback", [("recipient", "envrcpt"), ("end_of_message", "eom")])
def test_error_in_a_callback_that_answers_is_a_tempfail(gate_milter, event, callback):
    milter = gate_milter(event)
    milter.connect("tx", 10, ("2001:db8:25::10", 25, 0, 0))
    milter.envfrom("<a@example.com>")
    answers = {"envrcpt": lambda: milter.envrcpt("<b@contoso.example>"), "eom": milter.eom}
    if callback == "eom":
        assert milter.envrcpt("<b@contoso.example>") == CONTINUE
    assert answers[callback]() == TEMPFAIL
    assert [r[:2] for r in milter.replies] == [GATE_ERROR]


def test_a_gate_error_is_counted(gate_milter):
    class Counting:
        errors = 0

        def error(self):
            self.errors += 1

    milter = gate_milter("recipient")
    milter.metrics = Counting()
    milter.connect("tx", 10, ("2001:db8:25::10", 25, 0, 0))
    milter.envfrom("<a@example.com>")
    assert milter.envrcpt("<b@contoso.example>") == TEMPFAIL
    assert milter.metrics.errors == 1


def test_end_of_message_applies_removals_then_adds_our_headers(gate_milter):
    from v6gate_gate.session import EndOfMessage

    milter = gate_milter(None)
    edits = []
    milter.chgheader = lambda name, index, value: edits.append(("chg", name, index, value))
    milter.addheader = lambda name, value, index: edits.append(("add", name, value, index))
    outcome = EndOfMessage(
        None, [("X-V6gate-Monitor", 1)], "mx.example; dkim=none", ["mx.example; mode=monitor"]
    )
    milter.session.end_of_message = lambda queue_id: outcome
    assert milter.eom() == ACCEPT
    assert edits == [
        ("chg", "X-V6gate-Monitor", 1, ""),
        ("add", "Authentication-Results", "mx.example; dkim=none", 0),
        ("add", "X-V6gate-Monitor", "mx.example; mode=monitor", 0),
    ]
