"""The chaos run's referee: what each invocation did, and the invariants checked after each step.

The observer sees the run from outside the bot: lock grants, releases and state writes as
DynamoDB answered them (botocore hooks), creates as the exchange received them, audit
records as S3 and the CloudWatch logger took them, metrics as the handlers counted them,
and the stored state and the account as they are. It never trusts the bot's own account of
what happened. Each check is counted; a failed one is kept with where it happened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from account_checks import mismatches

from trader.domain.errors import StateCorrupt
from trader.domain.models import ZERO, Order, Product, Side, TradingState
from trader.domain.state import PortfolioState

INVARIANTS: dict[str, str] = {
    "handler_never_raises": "every event gets an answer; nothing escapes a handler (rule 4)",
    "audited_or_counted": "each run is audited in S3 and CloudWatch, or each sink that missed "
    "it is counted (NeedsOperator audit_sink_failed); a cycle counts one CycleOutcome; a refused "
    "event counts CycleOutcome failed, a refused request NeedsOperator liquidation_failed",
    "written_ahead": "a create's client_order_id is in the stored state before it is sent",
    "one_order_per_intent": "never a 2nd filled buy of a coin before a sell of it (a retried "
    "or concurrent cycle buys once)",
    "no_negative_position": "stored positions > 0, dust and unbooked >= 0, the account's "
    "balances >= 0; the stored state stays readable",
    "state_version_increasing": "each committed save is the last version + 1; the stored "
    "version is the last committed one",
    "single_lock_holder": "fencing tokens strictly increase; no save and no create by a lease "
    "that was superseded or released",
    "no_order_while_halted": "no order from a cycle that began HALTED, no buy from one that "
    "began REDUCING; an operator's HALTED is never undone by a cycle",
    "booked_equals_exchange": "after recovery (faults off, clean cycles) booked = the "
    "account's available + hold per coin within one increment; fees booked = the fills' fees",
    "exceptions_explained": "a run that ends in `exception:<Type>` names an error a fault "
    "explains (never a TypeError, KeyError, StateCorrupt, ...)",
}
# What the injected faults can surface as: their own errors, and what the bot makes of them.
EXPLAINED = frozenset(
    {"ChaosCrash", "ReadTimeoutError", "ConnectionClosedError"}
    | {"ProvisionedThroughputExceededException", "InternalServerError", "ClientError"}
    | {"ConditionalCheckFailedException", "TransactionCanceledException"}
    | {"StateConflict", "StateInvalid", "LockLost", "LockHeld", "OutcomeUnknown"}
    | {"OrderRejected"}
    | {"RateLimited", "ExchangeUnavailable", "ExchangeTimeout", "OrderNotVisible"}
    | {"AuthError", "PermissionDenied", "BadRequest", "NotFound", "MalformedResponse"}
    | {"ExchangeError"}
)
CASH = frozenset({"USD", "USDC"})


@dataclass
class Invocation:
    """One handler invocation as the observer saw it."""

    seq: int
    function: str  # "cycle" or "liquidation"
    owner: str  # the Lambda request id: the lock owner
    label: str  # the cycle id or the liquidation request id
    nested: bool  # run inside another invocation (a concurrent container)
    began: TradingState  # the stored trading state when it began
    chaotic: bool = True
    focus: str = "any"  # the layer whose calls may fail
    token: int | None = None  # the fencing token of its lease, once granted
    released: bool = False
    died: bool = False
    raised: str | None = None
    answer: dict[str, Any] | None = None
    metrics: Counter[str] = field(default_factory=Counter)  # EMF counts, by name[:dims]
    needs: Counter[str] = field(default_factory=Counter)  # NeedsOperator, by what for
    s3_audits: int = 0
    cloudwatch_audits: int = 0
    port_calls: int = 0
    concurrent_used: bool = False
    sites: Counter[str] = field(default_factory=Counter)  # occurrences per fault site


@dataclass
class StoreView:
    """How the observer reads what is stored (its own client: no hooks, no faults)."""

    load: Callable[[], PortfolioState]
    trading_state: Callable[[], TradingState]
    has_order: Callable[[str], bool]  # is this client_order_id in the stored open orders


class Observer:
    def __init__(self, view: StoreView, where: Callable[[], str]) -> None:
        self.view = view
        self.where = where  # e.g. "sim step 412": where a violation happened
        self.checked: Counter[str] = Counter()
        self.violations: dict[str, list[str]] = {name: [] for name in INVARIANTS}
        self.stack: list[Invocation] = []
        self.invocations: list[Invocation] = []
        self.last_token = 0
        self.holder: tuple[str, int] | None = None  # the lease on record (owner, token)
        self.version = 0  # the last committed state version
        self.created: list[tuple[str, str, Side]] = []  # new orders, in the order made
        self._judged: set[str] = set()  # buys checked by check_entries

    # --- bookkeeping ----------------------------------------------------------------------

    @property
    def current(self) -> Invocation | None:
        return self.stack[-1] if self.stack else None

    def begin(
        self, function: str, owner: str, label: str, chaotic: bool, focus: str = "any"
    ) -> Invocation:
        began = self.view.trading_state()
        nested = bool(self.stack)
        seq = len(self.invocations) + 1
        inv = Invocation(seq, function, owner, label, nested, began, chaotic, focus)
        self.invocations.append(inv)
        self.stack.append(inv)
        return inv

    def end(self, inv: Invocation) -> None:
        self.stack.remove(inv)
        self._check_answer(inv)

    def check(self, name: str, ok: bool, detail: Callable[[], str]) -> None:
        self.checked[name] += 1
        if not ok:
            self.violations[name].append(f"{self.where()}: {detail()}")

    @property
    def violation_count(self) -> int:
        return sum(len(found) for found in self.violations.values())

    # --- what DynamoDB committed (botocore after-call hooks) ------------------------------

    def on_grant(self, owner: str, token: int) -> None:
        previous = self.last_token
        self.check(
            "single_lock_holder",
            token > previous,
            lambda: f"lock token {token} granted to {owner} after token {previous}",
        )
        self.last_token = max(token, previous)
        self.holder = (owner, token)
        for inv in self.stack:
            if inv.owner == owner:
                inv.token = token

    def on_release(self, owner: str, token: int) -> None:
        if self.holder == (owner, token):
            self.holder = None
        for inv in self.invocations:
            if (inv.owner, inv.token) == (owner, token):
                inv.released = True

    def on_state_write(self, version: int, owner: str | None, token: int | None) -> None:
        last = self.version
        self.check(
            "state_version_increasing",
            version == last + 1,
            lambda: f"state version {version} committed after version {last}",
        )
        self.version = max(version, last)
        holder = self.holder
        self.check(
            "single_lock_holder",
            owner is not None and holder == (owner, token),
            lambda: f"state saved by {owner} (token {token}) while the lease on record is {holder}",
        )

    # --- what the exchange received -------------------------------------------------------

    def on_create(self, coid: str, product_id: str, side: Side) -> None:
        """A create reached the exchange (a repeat of a known id too)."""
        inv, holder = self.current, self.holder
        what = f"create {coid} ({product_id} {side.value})"
        self.check(
            "single_lock_holder",
            inv is not None and holder == (inv.owner, inv.token) and not inv.released,
            lambda: (
                f"{what} by {inv and inv.owner} (token {inv and inv.token}) while the "
                f"lease on record is {holder}"
            ),
        )
        ahead = self.view.has_order(coid)
        self.check("written_ahead", ahead, lambda: f"{what} not written ahead")
        if inv is None or inv.function != "cycle":
            return  # a liquidation sells whatever the trading state (DESIGN.md)
        began = inv.began
        self.check(
            "no_order_while_halted",
            began is not TradingState.HALTED
            and not (began is TradingState.REDUCING and side is Side.BUY),
            lambda: f"{what} by cycle {inv.label}, which began {began.value}",
        )

    def on_new_order(self, coid: str, product_id: str, side: Side) -> None:
        self.created.append((coid, product_id, side))

    # --- after each step --------------------------------------------------------------------

    def check_stored(self, balances: Mapping[str, Decimal], switch: TradingState | None) -> None:
        """The stored state and the account: readable, nothing negative, versions in step."""
        try:
            state = self.view.load()
        except StateCorrupt as exc:
            why = str(exc)
            self.check("no_negative_position", False, lambda: f"stored state unreadable: {why}")
            return
        negative = _negatives(state, balances)
        self.check("no_negative_position", not negative, lambda: f"negative: {negative}")
        stored, last = state.version, self.version
        self.check(
            "state_version_increasing",
            stored == last,
            lambda: f"stored version {stored}, last committed {last}",
        )
        if switch is TradingState.HALTED:
            now = state.trading_state
            self.check(
                "no_order_while_halted",
                now is TradingState.HALTED,
                lambda: f"the operator's HALTED reads {now.value}",
            )

    def check_entries(self, orders: Mapping[str, Order]) -> None:
        """One entry per position: a coin is bought again only after it was sold. Replayed
        from the first order each time (a resting order may fill later); each buy is judged
        once, when it first shows a fill."""
        holding: dict[str, str] = {}  # coin -> the filled buy not yet sold
        for coid, product_id, side in self.created:
            order = orders.get(coid)
            if order is None or order.filled_size <= 0:
                continue
            coin = product_id.split("-", 1)[0]
            if side is Side.SELL:
                holding.pop(coin, None)
                continue
            before = holding.get(coin)
            if coid not in self._judged:
                self._judged.add(coid)
                self.check(
                    "one_order_per_intent",
                    before is None,
                    lambda coid=coid, coin=coin, before=before: (
                        f"buy {coid} of {coin} while buy {before} was not sold"
                    ),
                )
            holding[coin] = coid

    def check_recovered(
        self,
        state: PortfolioState,
        totals: Mapping[str, Decimal],
        products: Mapping[str, Product],
        orders: Mapping[str, Order],
    ) -> None:
        """After clean cycles the book is the account's (DESIGN.md: reconciliation)."""
        coins = {c for c, amount in totals.items() if amount != 0}
        coins |= {pid.split("-", 1)[0] for pid in (*state.positions, *state.dust)}
        coins = (coins | set(state.unbooked)) - CASH
        apart = mismatches(state, totals, products, coins)
        self.check("booked_equals_exchange", not apart, lambda: f"booked != exchange: {apart}")
        fees = sum((f.fee for o in orders.values() for f in o.fills), ZERO)
        self.check(
            "booked_equals_exchange",
            state.fees_total == fees,
            lambda: f"fees booked {state.fees_total} != fees at the exchange {fees}",
        )
        stuck = sorted(
            coid
            for coid, known in state.open_orders.items()
            if (o := orders.get(coid)) is not None and o.status.is_final
        )
        self.check(
            "booked_equals_exchange", not stuck, lambda: f"settled orders still in flight: {stuck}"
        )

    # --- each invocation's answer -------------------------------------------------------------

    def _check_answer(self, inv: Invocation) -> None:
        raised = inv.raised
        self.check("handler_never_raises", raised is None, lambda: f"{inv.label}: {raised}")
        if inv.died or raised is not None or inv.answer is None:
            return
        if not ran(inv):
            self._check_refusal_counted(inv)
            return
        failure = _exception_type(inv.function, inv.answer)
        self.check(
            "exceptions_explained",
            failure is None or failure in EXPLAINED,
            lambda: f"{inv.function} {inv.label} ended in an unexplained {failure}: {inv.answer}",
        )
        if inv.function == "cycle":
            outcomes = inv.metrics["CycleOutcome"]
            self.check(
                "audited_or_counted",
                outcomes == 1,
                lambda: f"cycle {inv.label}: {outcomes} CycleOutcome counts, not 1",
            )
        missed = (inv.s3_audits == 0) + (inv.cloudwatch_audits == 0)
        counted = min(inv.needs["audit_sink_failed"], inv.metrics["NeedsOperator"])
        self.check(
            "audited_or_counted",
            counted >= missed,
            lambda: (
                f"{inv.function} {inv.label}: {missed} sink(s) without the record, "
                f"{counted} counted (NeedsOperator audit_sink_failed)"
            ),
        )

    def _check_refusal_counted(self, inv: Invocation) -> None:
        """A refused event or request is counted: CycleOutcome failed, or NeedsOperator
        liquidation_failed."""
        if inv.function == "cycle":
            counted = inv.metrics["CycleOutcome:failed"] == 1
            what = "CycleOutcome{outcome=failed}"
        else:
            counted = inv.needs["liquidation_failed"] > 0 and inv.metrics["NeedsOperator"] > 0
            what = "NeedsOperator liquidation_failed"
        self.check(
            "audited_or_counted",
            counted,
            lambda: f"{inv.function} {inv.label} refused without {what}: {inv.answer}",
        )


def ran(inv: Invocation) -> bool:
    """The invocation got past its event or request and its settings: a cycle answers ok;
    a liquidation made a call (its lock) before answering."""
    if inv.function == "cycle":
        return inv.answer is not None and inv.answer.get("ok") is True
    return inv.port_calls > 0


def _negatives(state: PortfolioState, balances: Mapping[str, Decimal]) -> dict[str, Decimal]:
    found = {f"position {p}": pos.size for p, pos in state.positions.items() if pos.size <= 0}
    found |= {f"dust {p}": size for p, size in state.dust.items() if size < 0}
    found |= {f"unbooked {c}": size for c, size in state.unbooked.items() if size < 0}
    found |= {f"balance {c}": amount for c, amount in balances.items() if amount < 0}
    return found


def _exception_type(function: str, answer: Mapping[str, Any]) -> str | None:
    """The error type a run ended in (`exception:<Type>...`), or None."""
    text = answer.get("no_trade_reason") if function == "cycle" else answer.get("error")
    if not isinstance(text, str) or not text.startswith("exception:"):
        return None
    return text.removeprefix("exception:").split(":", 1)[0]
