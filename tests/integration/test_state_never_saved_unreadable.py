"""A state is never saved that its next load would refuse (found by the chaos run).

Coinbase answered a fill of a resting limit buy with `price: "0"`. The cycle kept the order in
flight with that fill and saved it; the next load refused the state (`fills.0.price: 0 must be
positive`: StateCorrupt), and so did every cycle after it: no exits, no stop loss, until a
person mended the table. Now the store refuses the save (StateInvalid, nothing written), the
stored state stays readable, and once the exchange answers right the fill is booked.
"""

from __future__ import annotations

from typing import Any

from coinbase_cycle_rig import START, CoinbaseCycleRig
from fake_coinbase import Fault
from fake_coinbase_env import coinbase_env
from scripted_market import tweak

from trader.domain.config import load_config
from trader.domain.models import OrderStatus, Side

FILLS = r"/orders/historical/fills"


def buys_at_zero(answer: Any) -> Any:
    """The fills answer with every buy's price read as "0"."""
    for fill in answer.get("fills", []):
        if fill.get("side") == "BUY":
            fill["price"] = "0"
    return answer


def test_cycle_when_a_fill_reads_at_price_zero_then_nothing_unreadable_is_saved() -> None:
    with coinbase_env(start=START) as env:
        rig = CoinbaseCycleRig(env, config=tweak(load_config(), execution={"order_type": "limit"}))
        env.fake.fail("GET", FILLS, Fault.corrupted(buys_at_zero), times=1000)
        env.clock.advance()
        resting = rig.run()
        (buy,) = resting.orders
        assert (buy.product_id, buy.side, buy.status) == ("SOL-USD", Side.BUY, OrderStatus.OPEN)

        reasons = []
        for _ in range(6):  # until the market trades through the limit and the fill is read
            env.clock.advance()
            reasons.append(rig.run().no_trade_reason)
            if reasons[-1] == "exception:StateInvalid":
                break
        stored = rig.store.load()  # readable: the zero price was never written
        env.fake.clear_faults()
        env.clock.advance()
        after = rig.run()

        assert reasons[-1] == "exception:StateInvalid", reasons
        assert "fills.0.price: 0 must be positive" in rig.audit.records[-2]["exception"]["message"]
        assert buy.client_order_id in stored.open_orders  # still in flight, as last saved
        assert after.record["exception"] is None
        sol = rig.store.load().positions["SOL-USD"]
        fill = rig.account_orders()[buy.client_order_id].fills[0]
        assert (sol.size, sol.avg_entry_price) == (fill.size, fill.price)  # booked as filled
