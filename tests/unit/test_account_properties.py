"""Properties of the book against the account, over random sequences between LIVE cycles.

Hypothesis drives the cycle rig (LIVE cycles on a MatchingExchange over a scripted market)
through sequences of: cycles (each one bar later, every price moved by up to 4 %), partial
fills of the bot's next order (the rest cancelled at once, or filled a bar later while the
order stays open: tests/support/partial_fills.py), cancels of any open order on the
website, and cash moved in and out. The second machine adds trades by hand (market and
resting limit orders with foreign client ids), coins moved in and out, and coins the owner
held before the bot's first cycle. Entries are market or limit orders (drawn once per run),
so the bot's own orders rest too. The products have Coinbase's fine grid (base increment and
minimum 1e-8), so an exit's crumb is below 1e-8 of a coin.

After every cycle:

1. Positions are positive; dust and unbooked holdings are not negative.
2. Booked == account: for every currency the bot has held, positions + dust + unbooked equal
   the account's available + hold within one base increment, after a cycle that had no
   order of ours in flight at its start or end. (With one in flight, a drift on its coin is
   `fill_not_booked` and the state waits for the order, by design.)
3. One intent per client_order_id: every order planned in any audit record maps its id to
   one (cycle, product, side); every order placed, reconciled or cancelled under that id,
   and every order the account holds under a non-manual id, has that product and side.
4. No fill booked twice or missed: the fees booked equal the sum of the fees of every fill
   of the bot's orders at the account (exactly; the rig needs no fill lag).
5. Money identity, while nothing but the bot and cash transfers touched the account:

       (cash + Σ coins × bid) − (starting cash + net cash transfers)
           == realized PnL + unrealized PnL at the bid − entry fees still held

   where "entry fees still held" are the open positions' `entry_fees` (charged to realized
   PnL pro rata on exit). By hand: a buy of q at p with fee f moves cash by −(pq + f) and
   cost by +pq, fees held by +f; a sell of q ≤ size moves cash by pq − f, cost by −q·avg,
   fees held by −share and realized PnL by (p − avg)q − f − share. So cash + cost + fees held
   − realized is constant (starting cash + transfers); marking the cost at the bid adds the
   unrealized PnL. The identity is exact but for dust: an exit's crumb (< 1e-8 coin) leaves
   the book without PnL (its cost dropped) and a later buy takes it back at its price, so
   each order may move the two sides apart by less than 1e-8 × the highest price, twice.
   It is not checked once a trade by hand or a coin transfer happened: the bot marks what
   left its positions at the bid of the cycle that noticed it (`external_pnl_total`) and
   never learns the fee of a trade that is not its own, so no exact identity holds then.

`TRADER_PROPERTY_EXAMPLES=500` (and `TRADER_PROPERTY_STEPS`) run a bigger search.
"""

from __future__ import annotations

import dataclasses
import os
from decimal import ROUND_DOWN, Decimal

from account_checks import booked, fee_sum, mismatches
from cycle_rig import FEES, NOW, Rig
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)
from partial_fills import PartialFills
from scripted_market import BAR, ScriptedMarket, default_config, product, rising, series, tweak

from trader.adapters.clock import SteppingClock
from trader.adapters.sim.matching import MatchingExchange
from trader.domain.errors import OrderRejected
from trader.domain.models import (
    ZERO,
    Candle,
    Intent,
    Order,
    OrderStatus,
    OrderType,
    PlannedOrder,
    Position,
    Side,
)
from trader.domain.state import PortfolioState

SETTINGS = settings(
    max_examples=int(os.environ.get("TRADER_PROPERTY_EXAMPLES", "30")),
    stateful_step_count=int(os.environ.get("TRADER_PROPERTY_STEPS", "20")),
    deadline=None,
)
CASH = Decimal(10_000)
GRID = Decimal("1e-8")  # base increment and minimum of every product here
COINS = ("BTC", "ETH", "SOL")
PRODUCTS = tuple(f"{c}-USD" for c in COINS)
MANUAL = "manual-"  # client ids of orders placed by hand
MOVES = st.integers(-40, 40)  # a bar's move, in tenths of a percent
ORDER_TYPES = st.sampled_from(["market", "limit"])  # how the bot enters, for a whole run
PARTS = st.none() | st.tuples(st.integers(5, 95), st.booleans())  # the first order in part?


def property_rig(order_type: str) -> Rig:
    """make_rig's market (BTC and ETH flat, SOL rising) on Coinbase's fine base grid."""
    config = tweak(default_config(), execution={"order_type": order_type})
    clock = SteppingClock(NOW, 300)
    fine = {"base_increment": GRID, "base_min_size": GRID}
    market = ScriptedMarket(
        clock,
        products={pid: product(pid, **fine) for pid in PRODUCTS},
        candles={
            "BTC-USD": series(NOW, [65000] * 48),
            "ETH-USD": series(NOW, [3200] * 48),
            "SOL-USD": rising(NOW, Decimal(100), Decimal("0.3"), 48),
        },
    )
    exchange = MatchingExchange(market, clock, FEES, Decimal(0), {"USD": CASH})
    return Rig(config, clock, market, exchange)


class BotAndCash(RuleBasedStateMachine):
    """The bot alone on its account, and cash moved in and out: all five properties."""

    @initialize(order_type=ORDER_TYPES, part=PARTS)
    def start(self, order_type: str, part: tuple[int, bool] | None) -> None:
        self._start(order_type, part, {})

    def _start(self, order_type: str, part: tuple[int, bool] | None, owned: dict[str, int]) -> None:
        """A fresh account: 10,000 USD and `owned` (coin -> USD worth) the owner holds."""
        self.rig = property_rig(order_type)
        self.account = PartialFills(self.rig.exchange, self.rig.clock)
        self.transfers = ZERO  # net cash moved in from outside
        self.coins_touched = False  # a trade by hand or a coin transfer happened
        self.intents: dict[str, tuple[str, str, str]] = {}  # coid -> (cycle, product, side)
        self.audited = 0  # audit records checked so far
        self.highest = max(bars[-1].close for bars in self.rig.market.candles.values())
        self.manual = 0
        for coin, worth in sorted(owned.items()):
            amount = (Decimal(worth) / self._bids()[coin]).quantize(GRID, ROUND_DOWN)
            self.coins_touched |= self._transfer(coin, amount)
        if part is not None:
            self.fill_the_next_order_in_part(*part)
        self._run_and_check()  # SOL has been rising: the first cycle buys it

    # --- actions --------------------------------------------------------------------------

    @rule(moves=st.tuples(MOVES, MOVES, MOVES), busy=st.booleans())
    def cycle(self, moves: tuple[int, int, int], busy: bool) -> None:
        self._next_bar(moves, Decimal(30 if busy else 10))
        self._run_and_check()

    def _run_and_check(self) -> None:
        before = self.rig.store.load()
        result = self.rig.run(exchange=self.account)
        assert result.record["exception"] is None
        self._note(result.record)
        state = self.rig.store.load()
        self._check_signs(state)
        self._check_ids()
        assert state.fees_total == fee_sum(self._bot_orders()), "a fill booked twice or missed"
        if not before.open_orders and not state.open_orders:
            event("book checked")
            self._check_book(state)
        if not self.coins_touched:
            event("money checked")
            self._check_money(state)

    @rule(percent=st.integers(5, 95), rest=st.booleans())
    def fill_the_next_order_in_part(self, percent: int, rest: bool) -> None:
        """The rest is cancelled at once, or fills a bar later (the order stays OPEN)."""
        self.account.fill_next_in_part(Decimal(percent) / 100, rest)

    @rule(pick=st.integers(0, 9))
    def cancel_an_open_order(self, pick: int) -> None:
        """Someone cancels an order on the website: the bot's or one placed by hand."""
        resting = sorted(
            coid for coid, o in self.account.orders().items() if o.status is OrderStatus.OPEN
        )
        if resting:
            self.account.cancel_order(resting[pick % len(resting)])

    @rule(amount=st.integers(1, 3000), out=st.booleans())
    def move_cash(self, amount: int, out: bool) -> None:
        delta = Decimal(-amount if out else amount)
        if self._transfer("USD", delta):
            self.transfers += delta

    @staticmethod
    def _note(record: dict) -> None:
        """What the run went through (`pytest --hypothesis-show-statistics`)."""
        for order in record["orders"]["placed"]:
            event(f"placed {order['side']} {order['type']} -> {order['status']}")
        for order in record["orders"]["reconciled"]:
            event(f"reconciled {order['side']} {order['type']} -> {order['status']}")
        for drift in record["reconciliation"]["drift"]:
            event(f"drift {drift['cause']}")
        if record["dust"]["held"]:
            event("dust held")

    # --- the market and the account -------------------------------------------------------

    def _next_bar(self, moves: tuple[int, ...], volume: Decimal) -> None:
        """One bar on: each product closes `move` tenths of a percent from its last close."""
        self.rig.clock.advance()
        for pid, move in zip(PRODUCTS, moves, strict=True):
            bars = self.rig.market.candles[pid]
            last = bars[-1]
            close = (last.close * (1 + Decimal(move) / 1000)).quantize(Decimal("0.01"))
            high, low = max(last.close, close), min(last.close, close)
            bars.append(Candle(last.start + BAR, last.close, high, low, close, volume))
            self.highest = max(self.highest, close)

    def _transfer(self, currency: str, delta: Decimal) -> bool:
        try:
            self.rig.exchange.deposit(currency, delta)
        except ValueError:  # more out than is available: the transfer is refused
            return False
        return True

    def _bot_orders(self) -> list[Order]:
        return [o for c, o in self.account.orders().items() if not c.startswith(MANUAL)]

    def _bids(self) -> dict[str, Decimal]:
        quotes = self.rig.market.get_quotes(PRODUCTS)
        return {pid.split("-")[0]: q.bid for pid, q in quotes.items()}

    # --- the properties -------------------------------------------------------------------

    @staticmethod
    def _check_signs(state: PortfolioState) -> None:
        assert all(p.size > 0 for p in state.positions.values()), state.positions
        assert all(size >= 0 for size in state.dust.values()), state.dust
        assert all(size >= 0 for size in state.unbooked.values()), state.unbooked

    def _check_ids(self) -> None:
        """Each client_order_id names one (cycle, product, side), in the audit and the account."""
        for record in self.rig.audit.records[self.audited :]:
            orders = record["orders"]
            for planned in orders["planned"]:
                key = (record["cycle_id"], planned["product_id"], planned["side"])
                assert self.intents.setdefault(planned["client_order_id"], key) == key
            for order in (*orders["placed"], *orders["reconciled"], *orders["exit_cancels"]):
                _, product_id, side = self.intents[order["client_order_id"]]
                assert (order["product_id"], order["side"]) == (product_id, side)
        self.audited = len(self.rig.audit.records)
        for order in self._bot_orders():
            _, product_id, side = self.intents[order.client_order_id]
            assert (order.product_id, order.side.value) == (product_id, side)

    def _check_book(self, state: PortfolioState) -> None:
        """Booked == available + hold, for every currency the bot has held."""
        products = {p.product_id: p for p in self.rig.market.list_products()}
        held = {
            *state.held_currencies,
            *state.unbooked,
            *(pid.split("-")[0] for pid in (*state.positions, *state.dust)),
        }
        totals = self.rig.exchange.balance_totals()
        assert mismatches(state, totals, products, held) == {}

    def _check_money(self, state: PortfolioState) -> None:
        """The money identity of the module docstring, up to the dust's bound."""
        bids, totals = self._bids(), self.rig.exchange.balance_totals()
        marked = totals.get("USD", ZERO) + sum(
            (totals.get(coin, ZERO) * bids[coin] for coin in COINS), ZERO
        )
        unrealized = sum(
            (p.size * (bids[pid.split("-")[0]] - p.avg_entry_price))
            for pid, p in state.positions.items()
        )
        fees_held = sum((p.entry_fees for p in state.positions.values()), ZERO)
        pnl = state.realized_pnl_total + unrealized - fees_held
        slack = 2 * len(self._bot_orders()) * GRID * self.highest + Decimal("1e-12")
        assert abs((marked - (CASH + self.transfers)) - pnl) <= slack, (marked, pnl)
        assert state.external_pnl_total == 0 and state.unbooked == {}


class Everything(BotAndCash):
    """Trades by hand and coins moved in and out too, and coins the owner held before the bot
    started: properties 1 to 4 (5 until then)."""

    @initialize(
        order_type=ORDER_TYPES,
        part=PARTS,
        owned=st.dictionaries(st.sampled_from(COINS), st.integers(1, 2000), max_size=2),
    )
    def start(  # type: ignore[override]
        self, order_type: str, part: tuple[int, bool] | None, owned: dict[str, int]
    ) -> None:
        self._start(order_type, part, owned)

    @rule(coin=st.sampled_from(COINS), buy=st.booleans(), percent=st.integers(1, 100))
    def trade_by_hand(self, coin: str, buy: bool, percent: int) -> None:
        """A market order on the website: a share of the cash, or of the coin available."""
        balances = self.rig.exchange.get_balances()
        if buy:
            cash = balances["USD"].available * percent / 100
            size = cash.quantize(Decimal("0.01"), ROUND_DOWN)
            order = self._by_hand(coin, Side.BUY, OrderType.MARKET, None, size)
        else:
            held = balances.get(coin)
            available = held.available if held is not None else ZERO
            size = (available * percent / 100).quantize(GRID, ROUND_DOWN)
            order = self._by_hand(coin, Side.SELL, OrderType.MARKET, size, None)
        self._send(order)

    @rule(coin=st.sampled_from(COINS), buy=st.booleans(), size=st.integers(1, 100))
    def rest_an_order_by_hand(self, coin: str, buy: bool, size: int) -> None:
        """A limit order on the website, 2 % away from the touch: it rests, holding funds."""
        bid = self._bids()[coin]
        price = (bid * Decimal("0.98" if buy else "1.02")).quantize(Decimal("0.01"))
        base = (Decimal(size) / 100 * 1000 / bid).quantize(GRID, ROUND_DOWN)  # $10 to $1,000
        order = self._by_hand(coin, Side.BUY if buy else Side.SELL, OrderType.LIMIT, base, None)
        self._send(dataclasses.replace(order, limit_price=price))

    @rule(coin=st.sampled_from(COINS), percent=st.integers(1, 100), out=st.booleans())
    def move_coins(self, coin: str, percent: int, out: bool) -> None:
        """A transfer in (a share of one coin's worth $1,000) or out (a share of what is free)."""
        if out:
            held = self.rig.exchange.get_balances().get(coin)
            amount = -(held.available if held is not None else ZERO) * percent / 100
        else:
            amount = Decimal(percent) * 10 / self._bids()[coin]
        amount = amount.quantize(GRID, ROUND_DOWN)
        if amount != 0 and self._transfer(coin, amount):
            self.coins_touched = True

    def _by_hand(
        self,
        coin: str,
        side: Side,
        kind: OrderType,
        base: Decimal | None,
        quote: Decimal | None,
    ) -> PlannedOrder:
        self.manual += 1
        pid = f"{coin}-USD"
        intent = Intent.ENTRY if side is Side.BUY else Intent.EXIT
        return PlannedOrder(f"{MANUAL}{self.manual}", pid, side, kind, intent, base, quote)

    def _send(self, order: PlannedOrder) -> None:
        try:
            self.rig.exchange.place_order(order)
        except OrderRejected:  # too small, or not enough funds: nothing happened
            return
        self.coins_touched = True


def test_cycles_when_only_the_bot_and_cash_transfers_move_the_account_then_the_money_adds_up() -> (
    None
):
    run_state_machine_as_test(BotAndCash, settings=SETTINGS)


def test_cycles_when_hands_and_transfers_move_the_account_then_the_book_follows_it() -> None:
    run_state_machine_as_test(Everything, settings=SETTINGS)


def test_booked_when_dust_and_unbooked_hold_a_coin_then_all_of_it_counts() -> None:
    """The checker itself: 0.5 in a position, 0.25 dust, 0.125 unbooked = 0.875 SOL."""
    rig = property_rig("market")
    products = {p.product_id: p for p in rig.market.list_products()}
    state = PortfolioState(
        positions={"SOL-USD": Position("SOL-USD", Decimal("0.5"), Decimal(100), NOW)},
        dust={"SOL-USD": Decimal("0.25")},
        unbooked={"SOL": Decimal("0.125")},
    )
    assert booked(state, "SOL", products) == Decimal("0.875")
    assert mismatches(state, {"SOL": Decimal("0.87500001")}, products, ["SOL"]) == {}
    assert mismatches(state, {"SOL": Decimal("0.87500002")}, products, ["SOL"]) == {
        "SOL": (Decimal("0.875"), Decimal("0.87500002"))
    }
