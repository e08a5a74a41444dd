"""Liquidation on request: every holding into the target (USDC or USD) but what is kept or
worth less than `min_value`.

    lock (waits a bounded time for a running cycle) ─► load state ─► halt trading if asked
    ─► book the orders in flight ─► products, quotes, balances ─► plan (pure)
    ─► dry run: answer the plan ─► each route's legs in order, each confirmed before the
    next ─► the state follows the balances left ─► save ─► one audit record ─► release

The account is the one the deployment's mode trades on: the exchange in LIVE, the paper
account of the state in PAPER. DRY_RUN never sends an order, so it only plans.

Nothing is sold twice. The plan is recomputed from the balances at every invocation, so
the same request invoked again only resumes what is left; each leg's client id is derived
from the request, the currency, the leg and its size, so a retried leg whose answer was
lost is answered with the existing order, and each conversion is written ahead in the
state, so it is never sent twice. The first leg that does not complete stops the
invocation: the answer lists the legs done and what remains, and the state keeps every
order it sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from trader.domain.config import Config
from trader.domain.errors import ExchangeError, LiquidationRefused, LockHeld, LockLost
from trader.domain.lease import LockLease, check_lease
from trader.domain.liquidation import LiquidationRequest
from trader.domain.models import ZERO, Mode, TradingState
from trader.domain.money import HUNDRED
from trader.domain.state import PortfolioState
from trader.pipeline.liquidation import (
    ConvertLeg,
    CurrencyPlan,
    Leg,
    LiquidationPlan,
    plan_liquidation,
)
from trader.pipeline.liquidation_legs import (
    LiquidationMarket,
    Remaining,
    actual_size,
    consumed,
    market_view,
    planned_remaining,
    produced,
    quoted_ids,
    remaining_after,
)
from trader.pipeline.portfolio import Cooldowns
from trader.pipeline.reconciliation import Book, reconcile_balances
from trader.ports import AuditSink, CycleLock, Exchange, PaperAccount
from trader.service.accounts import keep_paper_account
from trader.service.audit import MAX_EXCEPTION_TEXT
from trader.service.counting import CountingExchange
from trader.service.cycle import CycleDeps
from trader.service.liquidation_legs import Desk, LegResult, convert, sell
from trader.service.liquidation_report import LiquidationTrace, answer, audit_record
from trader.service.orders import reconcile

log = logging.getLogger("trader.service.liquidation")
LOCK_POLL_SECONDS = 2.0  # how often a liquidation asks again for a lock a cycle holds


@dataclass(frozen=True, slots=True)
class _Run:
    """What every step of one invocation may read."""

    deps: CycleDeps
    request: LiquidationRequest
    mode: Mode
    exchange: CountingExchange
    lease: LockLease
    now: datetime
    remaining_seconds: Callable[[], float] | None

    @property
    def cfg(self) -> Config:
        return self.deps.config

    def save(self, state: PortfolioState) -> PortfolioState:
        return self.deps.store.save(state, self.lease)


def run_liquidation(
    deps: CycleDeps,
    request: LiquidationRequest,
    owner: str,
    remaining_seconds: Callable[[], float] | None = None,
    *,
    mode: Mode = Mode.LIVE,
) -> dict[str, Any]:
    """Plan (a dry run) or execute one request; the answer of DESIGN.md. Never raises.

    `owner` holds the lock (the Lambda request id); `remaining_seconds` is the Lambda's time
    left (None: unbounded); `mode` names the account (LIVE: `deps.exchange` itself).
    """
    exchange = CountingExchange(deps.exchange)
    trace = LiquidationTrace(request, mode, deps.clock.now())
    lease: LockLease | None = None
    try:
        _refuse_dry_run_mode(request, mode)
        lease = _acquire_waiting(deps, owner, remaining_seconds)
        run = _Run(deps, request, mode, exchange, lease, trace.started_at, remaining_seconds)
        _liquidate(run, trace)
    except LockHeld as exc:
        trace.error = f"lock_held: {exc}; nothing was sold"
    except LiquidationRefused as exc:
        trace.error = f"refused: {exc}"
    except Exception as exc:
        log.exception("liquidation %s failed", request.request_id)
        trace.error = f"exception:{type(exc).__name__}: {str(exc)[:MAX_EXCEPTION_TEXT]}"
        trace.remaining = trace.remaining or _unfinished_forecast(trace)
    trace.api_calls = exchange.calls()
    try:
        _write_audit(deps.audit, trace, deps.clock.now())
    finally:
        if lease is not None:
            _release(deps.lock, lease)
    return answer(trace)


def _acquire_waiting(
    deps: CycleDeps, owner: str, remaining_seconds: Callable[[], float] | None = None
) -> LockLease:
    """The cycle's lock, waiting up to `liquidation.lock_wait_seconds` (never past the
    Lambda's time to trade) for a running cycle to let go; LockHeld if it does not."""
    cfg = deps.config
    budget = float(cfg.liquidation.lock_wait_seconds)
    if remaining_seconds is not None:
        budget = min(budget, remaining_seconds() - cfg.cycle.min_remaining_seconds_to_trade)
    waited = 0.0
    while True:
        try:
            return deps.lock.acquire(owner, deps.clock.now(), cfg.liquidation.lock_lease_seconds)
        except LockHeld as exc:
            step = min(LOCK_POLL_SECONDS, budget - waited)
            if step <= 0:
                raise LockHeld(f"{exc} (waited {waited:g} s)") from exc
            deps.sleep(step)
            waited += step


def _refuse_dry_run_mode(request: LiquidationRequest, mode: Mode) -> None:
    if request.executes and mode is Mode.DRY_RUN:
        raise LiquidationRefused(
            "the trading mode is DRY_RUN, which never sends an order; nothing was sold. Ask "
            "for a dry run to see the plan, or execute in PAPER or LIVE mode"
        )


def _liquidate(run: _Run, trace: LiquidationTrace) -> None:
    """The steps in order; the one place their results are recorded."""
    state = _load(run)
    trace.trading_state = state.trading_state
    account = _open_account(run, state)
    if run.request.executes:
        state = _book_in_flight(run, account, state)
    market = read_market(account, run.cfg)
    plan = trace.plan = _plan(run.request, market)
    if not run.request.executes:
        trace.remaining = planned_remaining(plan)
        return
    state, trace.error, unfinished = _execute(run, account, state, market, plan, trace.legs)
    state, trace.remaining = _follow(run, account, state, market, plan, unfinished)
    trace.trading_state = state.trading_state


def _load(run: _Run) -> PortfolioState:
    """The state; with `halt_trading`, HALTED and saved before anything is sold."""
    state = run.deps.store.load()
    halt = run.request.halt_trading and run.request.executes
    if halt and state.trading_state is not TradingState.HALTED:
        state = run.save(state.replace(trading_state=TradingState.HALTED))
    return state


def _open_account(run: _Run, state: PortfolioState) -> Exchange:
    if run.mode is Mode.LIVE:
        return run.exchange
    return run.deps.paper.open(run.exchange, state)


def _book_in_flight(run: _Run, account: Exchange, state: PortfolioState) -> PortfolioState:
    """Orders left in flight (an earlier invocation's, a cycle's) read and booked first."""
    if not state.open_orders:
        return state
    cancel_after = timedelta(seconds=run.cfg.execution.cancel_resting_after_seconds)
    state, _ = reconcile(state, account, run.now, Cooldowns.of(run.cfg.risk), cancel_after)
    return state


def read_market(account: Exchange, cfg: Config) -> LiquidationMarket:
    """Products (aliases as products of their own), quotes, balances and the taker fee."""
    products = account.list_products()
    balances = account.get_balances()
    quotes = account.get_quotes(quoted_ids(products, balances))
    cash = cfg.cycle.cash_currencies
    return market_view(products, quotes, balances, _taker_fee(account, cfg), cash)


def _taker_fee(account: Exchange, cfg: Config) -> Decimal:
    """Only the bridge legs' forecasts use it; their actual sizes come from the balances."""
    try:
        return account.get_fee_rates().taker
    except ExchangeError:
        return cfg.paper.taker_fee_pct / HUNDRED


def _plan(request: LiquidationRequest, market: LiquidationMarket) -> LiquidationPlan:
    return plan_liquidation(
        market.holdings,
        market.products,
        market.quotes,
        target=request.target,
        keep=request.keep,
        min_value=request.min_value,
        max_slippage_bps=request.max_slippage_bps,
        taker_fee_rate=market.taker_fee,
    )


def _execute(
    run: _Run,
    account: Exchange,
    state: PortfolioState,
    market: LiquidationMarket,
    plan: LiquidationPlan,
    legs: list[LegResult],
) -> tuple[PortfolioState, str | None, frozenset[str]]:
    """Every route in the plan's order until one stops: the state, why it stopped, and the
    currencies whose routes did not finish."""
    desk = _desk(run, account, market)
    routed = plan.routed
    for position, item in enumerate(routed):
        state, error, stuck = _route(run, desk, state, item, legs)
        if error is not None:
            later = {other.currency for other in routed[position + 1 :]}
            return state, error, frozenset(stuck | later)
    return state, None, frozenset()


def _desk(run: _Run, account: Exchange, market: LiquidationMarket) -> Desk:
    cfg = run.cfg

    def wait() -> bool:
        run.deps.sleep(float(cfg.liquidation.confirm_interval_seconds))
        return _time_short(run) is None

    return Desk(
        account=account,
        market=market,
        save=run.save,
        wait=wait,
        attempts=cfg.liquidation.confirm_attempts,
        cooldowns=Cooldowns.of(cfg.risk),
        now=run.now,
        portfolio_id=cfg.cycle.portfolio_id,
        request_id=run.request.request_id,
    )


def _route(
    run: _Run, desk: Desk, state: PortfolioState, item: CurrencyPlan, legs: list[LegResult]
) -> tuple[PortfolioState, str | None, set[str]]:
    """One holding's legs in order, each confirmed before the next; an estimated leg is
    sized from what the leg before it added to the balance of the currency it paid."""
    proceeds = ZERO
    for index, leg in enumerate(item.route):
        size = _leg_size(run, desk, f"{item.currency}.{index}", leg, proceeds)
        if isinstance(size, str):
            return state, size, _spent(desk, item, index)
        last = index + 1 == len(item.route)
        paid_in = produced(leg, desk.market.products)
        before = ZERO if last else _available(desk.account, paid_in)
        state, result = _one_leg(desk, state, item, index, size)
        legs.append(result)
        if not result.done:
            return state, _failed(result), _spent(desk, item, index)
        if not last:
            proceeds = _available(desk.account, paid_in) - before
    return state, None, set()


def _leg_size(run: _Run, desk: Desk, name: str, leg: Leg, proceeds: Decimal) -> Decimal | str:
    """The size to send, or why the leg is not sent (time is short, too little proceeds)."""
    short = _time_short(run)
    if short is not None:
        return short
    if not leg.estimated:
        return leg.size
    size = actual_size(leg, proceeds, desk.market)
    return size if isinstance(size, Decimal) else f"too_little_proceeds: {name}: {size}"


def _one_leg(
    desk: Desk, state: PortfolioState, item: CurrencyPlan, index: int, size: Decimal
) -> tuple[PortfolioState, LegResult]:
    leg = item.route[index]
    if isinstance(leg, ConvertLeg):
        return convert(desk, state, item.currency, index, leg, size)
    product = desk.market.products[leg.product_id]
    crumb = index == 0 and 0 < item.remainder < product.base_increment
    return sell(desk, state, item.currency, index, leg, size, item.remainder if crumb else ZERO)


def _spent(desk: Desk, item: CurrencyPlan, index: int) -> set[str]:
    """The currencies a route stopped at `index` leaves unsold: its own, and the bridge's."""
    return {item.currency, *(consumed(leg, desk.market.products) for leg in item.route[index:])}


def _failed(result: LegResult) -> str:
    why = f": {result.detail}" if result.detail else ""
    return f"leg_failed: {result.leg} {result.kind} {result.venue} ended {result.status}{why}"


def _available(account: Exchange, currency: str) -> Decimal:
    balance = account.get_balances().get(currency)
    return balance.available if balance is not None else ZERO


def _time_short(run: _Run) -> str | None:
    """Why no new order may go out now (too little Lambda time or lease left), or None: the
    leg's client id covers a resend, the lease that no other run sends meanwhile."""
    needed = run.cfg.cycle.min_remaining_seconds_to_trade
    try:
        check_lease(run.lease, run.deps.clock.now(), needed)
    except LockLost as exc:
        return f"lock_lost: {exc}"
    if run.remaining_seconds is None:
        return None
    left = run.remaining_seconds()
    if left >= needed:
        return None
    return f"insufficient_time: {left:.0f} s left, {needed} s needed to place an order safely"


def _follow(
    run: _Run,
    account: Exchange,
    state: PortfolioState,
    market: LiquidationMarket,
    plan: LiquidationPlan,
    unfinished: frozenset[str],
) -> tuple[PortfolioState, tuple[Remaining, ...]]:
    """The positions follow the balances left (fresh); the paper account is kept; saved."""
    balances = account.get_balances()
    book = Book(balances, market.products, market.quotes, None, market.cash, run.now)
    state = reconcile_balances(state, book, run.cfg.reconcile.adopt_external_holdings).state
    if run.mode is not Mode.LIVE:
        cooldowns = Cooldowns.of(run.cfg.risk)
        state = keep_paper_account(cast(PaperAccount, account), state, cooldowns, run.now)
    return run.save(state), remaining_after(plan, balances, unfinished)


def _unfinished_forecast(trace: LiquidationTrace) -> tuple[Remaining, ...]:
    """After an exception: what the plan would have left, its routes not done marked so."""
    if trace.plan is None or not trace.request.executes:
        return planned_remaining(trace.plan) if trace.plan is not None else ()
    done = [leg.currency for leg in trace.legs if leg.done]
    unfinished = {i.currency for i in trace.plan.routed if done.count(i.currency) < len(i.route)}
    return planned_remaining(trace.plan, unfinished)


def _write_audit(audit: AuditSink, trace: LiquidationTrace, finished: datetime) -> None:
    try:
        audit.write(audit_record(trace, finished))
    except Exception:  # an audit failure is logged (and counted by the sink), never a crash
        log.exception("audit record of %s could not be written", trace.record_id)


def _release(lock: CycleLock, lease: LockLease) -> None:
    try:
        lock.release(lease)
    except Exception:
        log.exception("releasing the lock after a liquidation failed")
