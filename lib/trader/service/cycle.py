"""One trading cycle: lock, load, reconcile, snapshot, decide, place, confirm, save, audit, release.

The decisions are the pure stages in trader.pipeline; this module is the shell around them.
Nothing escapes `run_cycle`: any exception becomes NO_TRADE `exception:{Type}`, is audited,
and the lock is released.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from trader.domain.codec import to_jsonable
from trader.domain.config import Config
from trader.domain.errors import LockHeld
from trader.domain.lease import LockLease
from trader.domain.models import (
    ZERO,
    CycleResult,
    Fill,
    MarketSnapshot,
    Mode,
    NoTradeReason,
    Order,
    OrderStatus,
    PlannedOrder,
    Product,
)
from trader.domain.state import PortfolioState, expire_cooldowns, roll_counters
from trader.pipeline.execution import OrderIds, plan_orders
from trader.pipeline.exits import propose_exits
from trader.pipeline.outcome import why_no_orders
from trader.pipeline.portfolio import mark_watermarks, value_book
from trader.pipeline.regime import detect_regime
from trader.pipeline.risk import RiskContext, check_risk
from trader.pipeline.rules import propose_entries
from trader.pipeline.scan import charted
from trader.pipeline.triggers import run_triggers
from trader.pipeline.universe import build_universe, candidates
from trader.ports import AuditSink, CycleLock, Exchange, PersistentCache, StateStore
from trader.ports import Clock as ClockPort
from trader.service.accounts import keep_account, open_account
from trader.service.audit import CycleTrace, build_record
from trader.service.counting import CountingExchange
from trader.service.orders import confirm, pending, place_all, reconcile, with_status, write_ahead
from trader.service.snapshot import drop_stale_quotes, staleness, take_snapshot

log = logging.getLogger("trader.service.cycle")
SNAPSHOT_WORKERS = 16  # the bounded scan (12) + reference + quotes fit in one wave


@dataclass(frozen=True, slots=True)
class CycleRequest:
    cycle_id: str
    mode: Mode
    owner: str  # lock owner: the Lambda request id, or host+pid locally
    remaining_seconds: Callable[[], float] | None = None  # Lambda time left; None = unbounded


@dataclass(frozen=True, slots=True)
class CycleDeps:
    config: Config
    exchange: Exchange
    store: StateStore
    lock: CycleLock
    audit: AuditSink
    clock: ClockPort
    sleep: Callable[[float], None] = time.sleep
    candle_cache: PersistentCache | None = None  # loaded with the first requests, kept after


def run_cycle(deps: CycleDeps, request: CycleRequest) -> CycleResult:
    exchange = CountingExchange(deps.exchange)
    trace = CycleTrace(request.cycle_id, request.mode, deps.clock.now())
    lease: LockLease | None = None
    orders: tuple[Order, ...] = ()
    try:
        lease = deps.lock.acquire(
            request.owner, trace.started_at, deps.config.cycle.lock_lease_seconds
        )
        with ThreadPoolExecutor(SNAPSHOT_WORKERS, thread_name_prefix="cycle") as pool:
            orders = _trade(deps, request, exchange, lease, trace, pool)
        if deps.candle_cache is not None:
            deps.candle_cache.flush()  # after the orders: never on the trading path
    except LockHeld as exc:
        trace.no_trade_reason, trace.no_trade_detail = NoTradeReason.LOCK_HELD, str(exc)
    except Exception as exc:
        log.exception("cycle %s failed", request.cycle_id)
        trace.no_trade_reason = NoTradeReason.exception(exc)
        trace.exception = exc
    finished = deps.clock.now()
    try:
        trace.api_calls = exchange.calls()
        record = _record(trace, finished)
        _write_audit(deps.audit, record)
    finally:
        if lease is not None:
            _release(deps.lock, lease)
    return _result(trace, finished, orders, record)


def _trade(
    deps: CycleDeps,
    request: CycleRequest,
    exchange: CountingExchange,
    lease: LockLease,
    trace: CycleTrace,
    pool: ThreadPoolExecutor,
) -> tuple[Order, ...]:
    cfg, now = deps.config, trace.started_at
    state = deps.store.load()
    trace.state = state
    trace.loaded_fill_ids = frozenset(state.seen_fill_ids)
    if state.last_cycle_id is not None and request.cycle_id <= state.last_cycle_id:
        trace.no_trade_reason = NoTradeReason.DUPLICATE_INVOCATION
        trace.no_trade_detail = f"cycle {request.cycle_id} is not after {state.last_cycle_id}"
        return ()
    state = expire_cooldowns(roll_counters(state, now), now)
    account = open_account(request.mode, exchange, state, cfg, deps.clock)
    cooldown = cfg.risk.cooldown_minutes_after_loss
    if request.mode is not Mode.DRY_RUN:
        cancel_after = timedelta(seconds=cfg.execution.cancel_resting_after_seconds)
        parallel = pool if request.mode is Mode.LIVE else None
        state, trace.reconciled = reconcile(state, account, now, cooldown, cancel_after, parallel)
    held = {*state.positions, *(o.product_id for o in state.open_orders.values())}

    def wanted(products: dict[str, Product]) -> tuple[list[str], list[str]]:
        """Quotes for every candidate and holding (one call); candles for a bounded few."""
        ranked, _ = candidates(products, cfg.universe, cfg.cycle.quote_currency)
        reference = cfg.regime.reference_product
        quoted = [reference, *(m.product_id for m in ranked), *sorted(held)]
        # The reference is charted anyway (regime); the scan's slots go to the others.
        others = [m for m in ranked if m.product_id != reference]
        scanned = charted(others, cfg.triggers.max_products_with_candles)
        has_reference = any(m.product_id == reference for m in ranked)
        trace.charted = (reference, *scanned) if has_reference else scanned
        return quoted, [reference, *scanned]

    warm_up = (deps.candle_cache.load,) if deps.candle_cache is not None else ()
    snap = take_snapshot(exchange, account, cfg, now, wanted, pool, alongside=warm_up)
    received = len(snap.quotes)
    snap = drop_stale_quotes(snap, cfg.cycle.max_snapshot_age_seconds)
    stale = staleness(
        snap, received, cfg.regime.reference_product, cfg.cycle.candle_granularity_seconds
    )
    if stale:
        return _finish(
            deps, request, account, state, lease, trace, NoTradeReason.STALE_MARKET_DATA, stale
        )
    state, plan, why = _decide(cfg, state, snap, held, request.cycle_id, trace)
    if why is not None:
        return _finish(deps, request, account, state, lease, trace, *why)
    if not _time_left(request, cfg):
        return _finish(
            deps,
            request,
            account,
            state,
            lease,
            trace,
            NoTradeReason.INSUFFICIENT_TIME,
            "too little Lambda time left to place orders safely",
        )
    if request.mode is Mode.DRY_RUN:
        dry = tuple(with_status(pending(p, now), OrderStatus.DRY_RUN) for p in plan)
        _finish(deps, request, account, state, lease, trace, None, None)
        trace.placed = dry
        return dry
    # Write-ahead: the orders (and their trade counts) are in the state before they are sent.
    state = deps.store.save(write_ahead(state, plan, now), lease)
    # Only the LIVE exchange adapter is thread-safe; the simulated paper account is not.
    parallel = pool if request.mode is Mode.LIVE else None
    state, placed = place_all(state, account, plan, now, cooldown, parallel)
    if request.mode is Mode.LIVE:
        state, placed = confirm(
            state,
            account,
            placed,
            cfg.execution.confirm_attempts,
            _waiter(deps, request, cfg),
            cooldown,
            now,
            parallel,
        )
    trace.placed = placed
    accepted = [o for o in placed if o.status is not OrderStatus.REJECTED]
    reason = None if accepted else NoTradeReason.ORDERS_REJECTED
    detail = None if accepted else "; ".join(f"{o.product_id}: {o.failure_reason}" for o in placed)
    _finish(deps, request, account, state, lease, trace, reason, detail)
    return placed


def _decide(
    cfg: Config,
    state: PortfolioState,
    snap: MarketSnapshot,
    held: set[str],
    cycle_id: str,
    trace: CycleTrace,
) -> tuple[PortfolioState, tuple[PlannedOrder, ...], tuple[str, str] | None]:
    """The pure stages in order; returns the plan, or why there is none (trace filled in)."""
    trace.regime = detect_regime(snap.candles.get(cfg.regime.reference_product, ()), cfg.regime)
    trace.universe = universe = build_universe(
        snap.products, snap.quotes, cfg.universe, cfg.cycle.quote_currency
    )
    state = state.replace(positions=mark_watermarks(state.positions, snap.quotes))
    cash = snap.balances.get(cfg.cycle.quote_currency)
    trace.valuation = valuation = value_book(
        state.positions, snap.quotes, cash.total if cash else ZERO
    )
    trace.signals = run_triggers(universe.product_ids, snap.candles, cfg.triggers)
    in_flight = {o.product_id for o in state.open_orders.values()}
    exits = propose_exits(state.positions, snap.quotes, snap.as_of, in_flight, cfg.exits)
    entries = propose_entries(
        trace.signals, universe, trace.regime, valuation.equity, held, cfg.rules
    )
    trace.skipped_entries = entries.skipped
    trace.proposals = (*exits, *entries.proposals)
    available = cash.available if cash else ZERO
    risk_ctx = RiskContext(state, valuation, available, snap.fees.taker, snap.as_of)
    trace.decisions = check_risk(trace.proposals, risk_ctx, cfg.risk)
    plan = plan_orders(
        [d.proposal for d in trace.decisions if d.approved],
        snap.products,
        snap.quotes,
        cfg.risk.min_notional_quote,
        cfg.execution,
        OrderIds(cfg.cycle.portfolio_id, cycle_id),
    )
    trace.planned, trace.dropped = plan.orders, plan.dropped
    if not plan.orders:
        reason, detail = why_no_orders(
            state.trading_state,
            universe,
            trace.signals,
            exits,
            trace.proposals,
            entries.skipped,
            trace.decisions,
            plan.dropped,
        )
        return state, plan.orders, (reason, detail)
    return state, plan.orders, None


def _finish(
    deps: CycleDeps,
    request: CycleRequest,
    account: Exchange,
    state: PortfolioState,
    lease: LockLease,
    trace: CycleTrace,
    reason: str | None,
    detail: str | None,
) -> tuple[Order, ...]:
    """Save the state (always: counters, watermarks, reconciled orders, the cycle id)."""
    trace.no_trade_reason, trace.no_trade_detail = reason, detail
    state = keep_account(
        request.mode, account, state, deps.config.risk.cooldown_minutes_after_loss, trace.started_at
    )
    state = state.replace(last_cycle_id=request.cycle_id, last_cycle_at=trace.started_at)
    trace.state = deps.store.save(state, lease)
    return ()


def _time_left(request: CycleRequest, cfg: Config) -> bool:
    if request.remaining_seconds is None:
        return True
    return request.remaining_seconds() >= cfg.cycle.min_remaining_seconds_to_trade


def _waiter(deps: CycleDeps, request: CycleRequest, cfg: Config) -> Callable[[], bool]:
    def wait() -> bool:
        deps.sleep(float(cfg.execution.confirm_interval_seconds))
        return _time_left(request, cfg)

    return wait


def _record(trace: CycleTrace, finished: Any) -> dict[str, Any]:
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
    trace: CycleTrace, finished: Any, orders: tuple[Order, ...], record: dict[str, Any]
) -> CycleResult:
    state, valuation = trace.state, trace.valuation
    new_fills: dict[str, Fill] = {}
    for order in (*trace.reconciled, *trace.placed):
        for fill in order.fills:
            if fill.fill_id not in trace.loaded_fill_ids:
                new_fills.setdefault(fill.fill_id, fill)
    return CycleResult(
        cycle_id=trace.cycle_id,
        mode=trace.mode,
        started_at=trace.started_at,
        finished_at=finished,
        no_trade_reason=trace.no_trade_reason,
        orders=orders,
        reconciled=trace.reconciled,
        regime=trace.regime.name if trace.regime else None,
        equity=valuation.equity if valuation else None,
        realized_pnl_total=state.realized_pnl_total if state else None,
        fees_total=state.fees_total if state else None,
        new_fills=tuple(new_fills.values()),
        record=record,
    )
