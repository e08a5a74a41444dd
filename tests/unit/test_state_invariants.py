"""A stored state that breaks an invariant is StateCorrupt naming the field, in every store,
and a cycle on it trades and writes nothing; a save of one is refused (StateInvalid) and the
stored state stays as it was."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from bad_states import BAD_IDS, BAD_STATES, plant_in_file, position
from cycle_rig import make_rig

from trader.adapters.local.files import FileStateStore
from trader.adapters.memory import InMemoryStateStore
from trader.domain.errors import StateCorrupt, StateInvalid
from trader.domain.models import Mode
from trader.domain.state import PortfolioState


@pytest.mark.parametrize(("bad", "message"), BAD_STATES, ids=BAD_IDS)
def test_file_load_when_an_invariant_is_broken_then_state_corrupt_naming_the_field(
    tmp_path: Path, bad: PortfolioState, message: str
) -> None:
    store = FileStateStore(tmp_path / ".state.json")
    plant_in_file(store.path, bad)  # a save would refuse it
    written = store.path.read_bytes()

    with pytest.raises(StateCorrupt, match=re.escape(message)):
        store.load()

    assert store.path.read_bytes() == written


@pytest.mark.parametrize(("bad", "message"), BAD_STATES, ids=BAD_IDS)
def test_in_memory_load_when_an_invariant_is_broken_then_state_corrupt_naming_the_field(
    bad: PortfolioState, message: str
) -> None:
    store = InMemoryStateStore(bad)

    with pytest.raises(StateCorrupt, match=re.escape(message)):
        store.load()


@pytest.mark.parametrize(("bad", "message"), BAD_STATES, ids=BAD_IDS)
def test_save_when_an_invariant_is_broken_then_state_invalid_and_the_stored_state_kept(
    tmp_path: Path, bad: PortfolioState, message: str
) -> None:
    good = PortfolioState(positions={"BTC-USD": position()})
    for store in (FileStateStore(tmp_path / ".state.json"), InMemoryStateStore()):
        saved = store.save(good, None)

        with pytest.raises(StateInvalid, match=re.escape(message)):
            store.save(bad.replace(version=saved.version), None)

        assert store.load() == saved  # the next load reads the last good state


def test_load_when_pnl_is_negative_and_finite_then_the_state_loads() -> None:
    state = PortfolioState(
        realized_pnl_today=Decimal("-12.5"),
        realized_pnl_total=Decimal("-40"),
        external_pnl_total=Decimal("-1"),
        positions={"BTC-USD": position()},
    )

    assert InMemoryStateStore(state).load() == state


@pytest.mark.parametrize(("bad", "message"), BAD_STATES[:3], ids=BAD_IDS[:3])
def test_cycle_when_the_state_breaks_an_invariant_then_state_corrupt_and_nothing_written(
    bad: PortfolioState, message: str
) -> None:
    rig = make_rig()
    rig.store = InMemoryStateStore(bad)

    result = rig.run(Mode.PAPER)

    assert result.no_trade_reason == "exception:StateCorrupt"
    assert message in result.record["exception"]["message"]
    assert rig.store.saves == []
    assert rig.exchange.orders() == {}
