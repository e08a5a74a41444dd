"""One trading cycle: lock, load, reconcile, snapshot, decide, place, confirm, save, audit, release.

The decision is the pure `pipeline.decision.decide`; this module is the shell around it, a
sequence of small steps that return values. `_trade` runs them in order and is the one place
that records their results in the trace the audit record is built from. Nothing escapes
`run_cycle`: any exception becomes NO_TRADE `exception:{Type}`, is audited, and the lock is
released.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from trader.domain.codec import to_jsonable
from trader.domain.config import Config
from trader.domain.copying import quick_init
from trader.domain.errors import LockHeld, StateCorrupt
from trader.domain.ids import cycle_time
from trader.domain.lease import LockLease, check_lease
from trader.domain.memo import PerObject
from trader.domain.models import (
    Conversion,
    CycleResult,
    Fill,
    Intent,
    MarketSnapshot,
    Mode,
    NoTradeReason,
    Order,
    OrderStatus,
    PlannedOrder,
)
from trader.domain.state import PortfolioState, expire_cooldowns, roll_counters
from trader.pipeline.decision import CONFIGURED_RULES, Decision, Rules, decide, read_regime
from trader.pipeline.exits import orders_blocking_exits
from trader.pipeline.gauges import GaugeCache
from trader.pipeline.portfolio import Cooldowns, busy_products
from trader.pipeline.reconciliation import (
    Book,
    Reconciliation,
    reconcile_balances,
    set_apart_before_buying,
)
from trader.pipeline.scan import market_request
from trader.pipeline.trigger_windows import TriggerWindows
from trader.ports import (
    AuditSink,
    CycleLock,
    Exchange,
    PaperAccount,
    PaperAccounts,
    PersistentCache,
    StateStore,
)
from trader.ports import Clock as ClockPort
from trader.service.accounts import keep_paper_account
from trader.service.audit import CycleTrace, build_record
from trader.service.counting import CountingExchange
from trader.service.funding import convert_first
from trader.service.orders import (
    ExitCancel,
    cancel_for_exits,
    confirm,
    pending,
    place_all,
    reconcile,
    with_status,
    write_ahead,
)
from trader.service.snapshot import drop_stale_quotes, staleness, take_snapshot

log = logging.getLogger("trader.service.cycle")
Why = tuple[str, str | None]  # a no-trade reason and its detail


@quick_init
@dataclass(frozen=True, slots=True)
class CycleRequest:
    cycle_id: str
    mode: Mode
    owner: str  # lock owner: the Lambda request id, or host+pid locally
    remaining_seconds: Callable[[], float] | None = None  # Lambda time left; None = unbounded


@quick_init
@dataclass(frozen=True, slots=True)
class CycleDeps:
    config: Config
    exchange: Exchange
    store: StateStore
    lock: CycleLock
    audit: AuditSink
    clock: ClockPort
    paper: PaperAccounts  # the account DRY_RUN and PAPER trade on
    sleep: Callable[[float], None] = time.sleep
    candle_cache: PersistentCache | None = None  # loaded with the first requests, kept after
    # Runs the snapshot's requests (and LIVE's order calls). None: a pool of
    # cycle.request_threads threads per cycle. A replay passes one that runs each call at
    # once in the caller's thread (no threads to start for calls that do no I/O).
    executor: Executor | None = None
    rules: Rules = CONFIGURED_RULES  # the strategy's signals and exits (a replay may plug in)
    # Float copies of the regime's bars, kept between cycles (never changes a reading)
    gauges: GaugeCache = field(default_factory=GaugeCache)
    # The triggers' windows (running maxima and sums), kept likewise (never changes a signal)
    triggers: TriggerWindows = field(default_factory=TriggerWindows)


@quick_init
@dataclass(frozen=True, slots=True)
class ModeRules:
    """What a trading mode does with its plan."""

    reconciles: bool  # ask the account about the orders in flight
    sends: bool  # place the plan (DRY_RUN only records it)
    parallel: bool  # the account may be called from several threads (only the LIVE adapter)
    confirms: bool  # poll the fills of what was placed
    keeps_paper: bool  # carry the paper account in the state


MODE_RULES = {
    Mode.DRY_RUN: ModeRules(False, False, False, False, False),
    Mode.PAPER: ModeRules(True, True, False, False, True),
    Mode.LIVE: ModeRules(True, True, True, True, False),
}


@quick_init
@dataclass(frozen=True, slots=True)
class _Session:
    """What every step of one cycle may read."""

    deps: CycleDeps
    request: CycleRequest
    exchange: CountingExchange
    lease: LockLease
    pool: Executor
    now: datetime
    cooldown: Cooldowns  # the config's (every booking of a fill needs it)
    cfg: Config  # deps.config
    rules: ModeRules  # the request's mode's

    @property
    def parallel(self) -> Executor | None:
        return self.pool if self.rules.parallel else None


def _session(
    deps: CycleDeps,
    request: CycleRequest,
    exchange: CountingExchange,
    lease: LockLease,
    pool: Executor,
    now: datetime,
) -> _Session:
    cfg = deps.config
    cooldown, rules = _cooldowns(cfg.risk), MODE_RULES[request.mode]
    return _Session(deps, request, exchange, lease, pool, now, cooldown, cfg, rules)


_cooldowns = PerObject(Cooldowns.of)  # a frozen value per risk config, not one per cycle


def run_cycle(deps: CycleDeps, request: CycleRequest) -> CycleResult:
    exchange = CountingExchange(deps.exchange)
    trace = CycleTrace(request.cycle_id, request.mode, deps.clock.now())
    lease: LockLease | None = None
    orders: tuple[Order, ...] = ()
    try:
        lease = deps.lock.acquire(
            request.owner, trace.started_at, deps.config.cycle.lock_lease_seconds
        )
        orders = _trade_on_pool(deps, request, exchange, lease, trace)
        if deps.candle_cache is not None:
            deps.candle_cache.flush()  # after the orders: never on the trading path
    except LockHeld as exc:
        trace.stop(NoTradeReason.LOCK_HELD, str(exc))
    except Exception as exc:
        log.exception("cycle %s failed", request.cycle_id)
        trace.fail(exc)
    finished = deps.clock.now()
    try:
        trace.api_calls = exchange.calls()
        record = _record(trace, finished)
        _write_audit(deps.audit, record)
    finally:
        if lease is not None:
            _release(deps.lock, lease)
    return _result(trace, finished, orders, record)


def _trade_on_pool(
    deps: CycleDeps,
    request: CycleRequest,
    exchange: CountingExchange,
    lease: LockLease,
    trace: CycleTrace,
) -> tuple[Order, ...]:
    """The cycle's steps on the injected executor (kept open after the cycle), else on a pool
    for this cycle only."""
    now = trace.started_at
    if deps.executor is not None:
        return _trade(_session(deps, request, exchange, lease, deps.executor, now), trace)
    with ThreadPoolExecutor(deps.config.cycle.request_threads, thread_name_prefix="cycle") as pool:
        return _trade(_session(deps, request, exchange, lease, pool, now), trace)


def _trade(s: _Session, trace: CycleTrace) -> tuple[Order, ...]:
    """The steps in order; the one place their results are recorded for the audit."""
    state = trace.state = s.deps.store.load()
    trace.loaded_fill_ids = _fill_ids(state.seen_fill_ids)
    if _already_done(s.request.cycle_id, state.last_cycle_id):
        detail = f"cycle {s.request.cycle_id} is not after {state.last_cycle_id}"
        trace.stop(NoTradeReason.DUPLICATE_INVOCATION, detail)
        return ()
    state = expire_cooldowns(roll_counters(state, s.now), s.now)
    account = _open_account(s, state)
    state, trace.reconciled = _reconcile(s, account, state)
    snap, trace.charted, stale = _snapshot(s, account, state)
    trace.prices = {pid: q.mid for pid, q in snap.quotes.items()}
    recon = trace.reconciliation = _follow_the_exchange(s, state, snap)
    state = recon.state
    orders: tuple[Order, ...] = ()
    why: Why | None = (NoTradeReason.STALE_MARKET_DATA, stale) if stale else None
    if why is None:
        regime = read_regime(s.cfg, state, snap, s.deps.gauges)
        state, trace.exit_cancels = _free_exits(s, account, state, snap, regime.name)
        no_entry = _drifted(recon, snap)
        decision = trace.decision = decide(
            s.cfg,
            state,
            snap,
            s.request.cycle_id,
            no_entry,
            regime,
            s.deps.rules,
            trace.reconciled,
            s.deps.triggers,
        )
        state, why = decision.state, decision.no_trade or _time_check(s)
    if why is None:
        state = set_apart_before_buying(state, decision.planned, snap.balances, snap.products)
        state, orders, trace.conversions = _execute(s, account, state, decision)
        trace.placed, why = orders, _all_rejected(orders)
    if why is not None:
        trace.stop(*why)
    trace.state = _save_cycle(s, account, state)
    return orders


# The seen fill ids as a set, made once per tuple: the state carries the same tuple from
# cycle to cycle until a fill is booked (up to SEEN_FILL_IDS_KEPT ids to hash otherwise).
_fill_ids = PerObject(frozenset, size=2)


def _already_done(cycle_id: str, last_cycle_id: str | None) -> bool:
    """True when the state already holds this cycle or a later one (compared as times: the
    strings of years below 1000 sort wrong)."""
    if last_cycle_id is None:
        return False
    try:
        last = cycle_time(last_cycle_id)
    except ValueError:
        raise StateCorrupt(f"last_cycle_id: {last_cycle_id!r} is not a cycle id") from None
    return cycle_time(cycle_id) <= last


def _open_account(s: _Session, state: PortfolioState) -> Exchange:
    """LIVE trades on the exchange itself; DRY_RUN and PAPER on the injected paper account."""
    if s.request.mode is Mode.LIVE:
        return s.exchange
    return s.deps.paper.open(s.exchange, state)


def _reconcile(
    s: _Session, account: Exchange, state: PortfolioState
) -> tuple[PortfolioState, tuple[Order, ...]]:
    if not s.rules.reconciles or not state.open_orders:  # nothing in flight: nothing to ask
        return state, ()
    cancel_after = timedelta(seconds=s.cfg.execution.cancel_resting_after_seconds)
    return reconcile(state, account, s.now, s.cooldown, cancel_after, s.parallel)


def _free_exits(
    s: _Session, account: Exchange, state: PortfolioState, snap: MarketSnapshot, regime: str
) -> tuple[PortfolioState, tuple[ExitCancel, ...]]:
    """Cancel the orders in flight that hold back an exit rule that fires, before deciding."""
    if not s.rules.reconciles or not state.open_orders:  # nothing in flight holds an exit back
        return state, ()
    blocking = orders_blocking_exits(
        state, snap.quotes, s.now, s.cfg.exits, snap.fees.taker, regime
    )
    if not blocking:
        return state, ()
    return cancel_for_exits(state, account, blocking, s.now, s.cooldown, s.parallel)


def _held(state: PortfolioState) -> set[str]:
    """Products the snapshot quotes besides the candidates: held, in flight, or dust (valued
    at the bid in the audit)."""
    return {*busy_products(state), *state.dust}


def _snapshot(
    s: _Session, account: Exchange, state: PortfolioState
) -> tuple[MarketSnapshot, tuple[str, ...], str | None]:
    """The market now, the candidates charted, and why it is too stale to trade on (or None)."""
    cfg, held = s.cfg, _held(state)
    warm_up = (s.deps.candle_cache.load,) if s.deps.candle_cache is not None else ()
    snap, asked = take_snapshot(
        s.exchange,
        account,
        cfg,
        s.now,
        lambda products: market_request(products, cfg, held),
        s.pool,
        fills_cursor=state.cursors.get("fills"),
        alongside=warm_up,
    )
    received = len(snap.quotes)
    snap = drop_stale_quotes(snap, cfg.cycle.max_snapshot_age_seconds)
    reference, granularity = cfg.regime.reference_product, cfg.cycle.candle_granularity_seconds
    return snap, asked.charted, staleness(snap, received, reference, granularity)


def _follow_the_exchange(
    s: _Session, state: PortfolioState, snap: MarketSnapshot
) -> Reconciliation:
    """The booked positions against the account's balances; the state follows the account."""
    cash = s.cfg.cycle.cash_currencies
    book = Book(snap.balances, snap.products, snap.quotes, snap.account_fills, cash, s.now)
    return reconcile_balances(state, book, s.cfg.reconcile.adopt_external_holdings)


def _drifted(recon: Reconciliation, snap: MarketSnapshot) -> dict[str, str]:
    """No entry this cycle on a product whose coin drifted (exits still run)."""
    if not recon.drift:
        return {}  # most cycles
    why = {d.currency: f"balance_drift ({d.cause})" for d in recon.drift}
    return {pid: why[p.base_currency] for pid, p in snap.products.items() if p.base_currency in why}


def _time_check(s: _Session) -> Why | None:
    if _time_left(s.request, s.cfg):
        return None
    return NoTradeReason.INSUFFICIENT_TIME, "too little Lambda time left to place orders safely"


def _execute(
    s: _Session, account: Exchange, state: PortfolioState, decision: Decision
) -> tuple[PortfolioState, tuple[Order, ...], tuple[Conversion, ...]]:
    """Convert what the buys need, send the plan (written ahead first) and confirm it;
    DRY_RUN only records it."""
    plan = decision.planned
    if not s.rules.sends:
        dry = tuple(with_status(pending(p, s.now), OrderStatus.DRY_RUN) for p in plan)
        return state, dry, ()
    state, plan, converted = convert_first(
        state, account, plan, decision.conversions, lambda st: s.deps.store.save(st, s.lease)
    )
    # Write-ahead: the orders (and their trade counts) are in the state before they are sent.
    _check_lease(s)
    state = s.deps.store.save(write_ahead(state, plan, s.now), s.lease)
    # Sales of funding sources first, confirmed, so their proceeds can pay for the buys.
    funding = tuple(o for o in plan if o.intent is Intent.FUNDING)
    state, sold = _send(s, account, state, funding) if funding else (state, ())
    state, placed = _send(s, account, state, tuple(o for o in plan if o not in funding))
    return state, (*sold, *placed), converted


def _send(
    s: _Session, account: Exchange, state: PortfolioState, plan: tuple[PlannedOrder, ...]
) -> tuple[PortfolioState, tuple[Order, ...]]:
    """Place the orders, and in LIVE poll them until settled (bounded)."""
    guard = lambda: _check_lease(s)  # noqa: E731
    state, placed = place_all(state, account, plan, s.now, s.cooldown, s.parallel, guard)
    if not s.rules.confirms:
        return state, placed
    attempts, wait = s.cfg.execution.confirm_attempts, _waiter(s.deps, s.request, s.cfg)
    return confirm(state, account, placed, attempts, wait, s.cooldown, s.now, s.parallel)


def _all_rejected(placed: tuple[Order, ...]) -> Why | None:
    if not placed:  # every buy's conversion failed: nothing was sent
        return NoTradeReason.NO_ORDERS_AFTER_EXECUTION_FILTER, "funding: no conversion completed"
    if any(o.status is not OrderStatus.REJECTED for o in placed):
        return None
    return NoTradeReason.ORDERS_REJECTED, "; ".join(
        f"{o.product_id}: {o.failure_reason}" for o in placed
    )


def _save_cycle(s: _Session, account: Exchange, state: PortfolioState) -> PortfolioState:
    """Save the state (always: counters, watermarks, reconciled orders, the cycle id)."""
    stamp = {"last_cycle_id": s.request.cycle_id, "last_cycle_at": s.now}
    if s.rules.keeps_paper:
        paper = cast(PaperAccount, account)
        state = keep_paper_account(paper, state, s.cooldown, s.now, **stamp)
    else:
        state = state.replace(**stamp)
    return s.deps.store.save(state, s.lease)


def _check_lease(s: _Session) -> None:
    """LockLost when the lease lapses within the time a send needs (fencing covers the saves;
    this and the deterministic client_order_id cover the sends)."""
    check_lease(s.lease, s.deps.clock.now(), s.cfg.cycle.min_remaining_seconds_to_trade)


def _time_left(request: CycleRequest, cfg: Config) -> bool:
    if request.remaining_seconds is None:
        return True
    return request.remaining_seconds() >= cfg.cycle.min_remaining_seconds_to_trade


def _waiter(deps: CycleDeps, request: CycleRequest, cfg: Config) -> Callable[[], bool]:
    def wait() -> bool:
        deps.sleep(float(cfg.execution.confirm_interval_seconds))
        return _time_left(request, cfg)

    return wait


def _record(trace: CycleTrace, finished: datetime) -> dict[str, Any]:
    try:
        return build_record(trace, finished)
    except Exception as exc:
        log.exception("building the audit record failed")
        return {
            "schema_version": 1,
            "cycle_id": trace.cycle_id,
            "mode": trace.mode.value,
            "started_at": to_jsonable(trace.started_at),
            "finished_at": to_jsonable(finished),
            "no_trade_reason": trace.no_trade_reason,
            "exception": {"type": type(exc).__name__, "message": "audit record could not be built"},
        }


def _write_audit(audit: AuditSink, record: dict[str, Any]) -> None:
    try:
        audit.write(record)
    except Exception:  # an audit failure is logged and counted, never a crash (rule 4)
        log.exception("audit sink failed for cycle %s", record.get("cycle_id"))


def _release(lock: CycleLock, lease: LockLease) -> None:
    try:
        lock.release(lease)
    except Exception:
        log.exception("releasing the cycle lock failed")


def _result(
    trace: CycleTrace, finished: datetime, orders: tuple[Order, ...], record: dict[str, Any]
) -> CycleResult:
    state, valuation, recon = trace.state, trace.valuation, trace.reconciliation
    regime, protections = trace.regime, trace.protections
    return CycleResult(
        cycle_id=trace.cycle_id,
        mode=trace.mode,
        started_at=trace.started_at,
        finished_at=finished,
        no_trade_reason=trace.no_trade_reason,
        no_trade_detail=trace.no_trade_detail,
        orders=orders,
        reconciled=trace.reconciled,
        regime=regime.name if regime else None,
        equity=valuation.equity if valuation else None,
        exposure=valuation.total_exposure if valuation else None,
        drift=tuple([d.currency for d in recon.drift]) if recon and recon.drift else (),
        realized_pnl_today=state.realized_pnl_today if state else None,
        realized_pnl_total=state.realized_pnl_total if state else None,
        fees_total=state.fees_total if state else None,
        new_fills=_new_fills(trace),
        protection_tripped=protections.tripped if protections else None,
        record=record,
    )


def _new_fills(trace: CycleTrace) -> tuple[Fill, ...]:
    """The fills of this cycle's orders that the state did not hold when loaded (most cycles
    handle no order: none)."""
    if not (trace.reconciled or trace.exit_cancels or trace.placed):
        return ()
    new_fills: dict[str, Fill] = {}
    cancelled = (c.answer for c in trace.exit_cancels if c.answer is not None)
    for order in (*trace.reconciled, *cancelled, *trace.placed):
        for fill in order.fills:
            if fill.fill_id not in trace.loaded_fill_ids:
                new_fills.setdefault(fill.fill_id, fill)
    return tuple(new_fills.values())
