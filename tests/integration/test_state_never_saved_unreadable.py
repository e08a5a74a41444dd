"""A state is never saved that its next load would refuse (found by the chaos run).

Coinbase answered a fill of a resting limit buy with `price: "0"`. The cycle kept the order in
flight with that fill and saved it; the next load refused the state (`fills.0.price: 0 must be
positive`: StateCorrupt), and so did every cycle after it: no exits, no stop loss, until a
person mended the table. Two guards now: the adapter reads a fill at price 0 as a
MalformedResponse (found by the fuzzing), so the order stays in flight unbooked; and every
store refuses to save a state its next load would refuse (StateInvalid, nothing written;
tests/unit/test_state_invariants.py and test_dynamo_state.py). Either way the stored state
stays readable, and once the exchange answers right the fill is booked.
"""

from __future__ import annotations

from typing import Any

from coinbase_cycle_rig import START, CoinbaseCycleRig
from fake_coinbase import Fault
from fake_coinbase_env import coinbase_env
from scripted_market import default_config, tweak

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
        rig = CoinbaseCycleRig(
            env, config=tweak(default_config(), execution={"order_type": "limit"})
        )
        env.fake.fail("GET", FILLS, Fault.corrupted(buys_at_zero), times=1000)
        env.clock.advance()
        resting = rig.run()
        (buy,) = resting.orders
        assert (buy.product_id, buy.side, buy.status) == ("SOL-USD", Side.BUY, OrderStatus.OPEN)

        reasons = []
        for _ in range(6):  # the market trades through the limit; its fill reads at price 0
            env.clock.advance()
            reasons.append(rig.run().no_trade_reason)
        stored = rig.store.load()  # readable: the zero price was never written
        env.fake.clear_faults()
        env.clock.advance()
        after = rig.run()

        assert not [r for r in reasons if r and r.startswith("exception:State")], reasons
        assert all(f.price > 0 for o in stored.open_orders.values() for f in o.fills)
        assert after.record["exception"] is None
        sol = rig.store.load().positions["SOL-USD"]
        fill = rig.account_orders()[buy.client_order_id].fills[0]
        assert (sol.size, sol.avg_entry_price) == (fill.size, fill.price)  # booked as filled
