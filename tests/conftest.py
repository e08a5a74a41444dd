"""Session-wide test settings: hypothesis profiles, and the secret sweep (secret_sweep.py).

HYPOTHESIS_PROFILE picks the profile: 'ci' (the default, what `make test` runs) is
derandomized, so a failure found in CI reproduces on any machine, and keeps no example
database; 'full' (`make fuzz`) draws fresh examples every run and many more of them
(see fuzzing.budget for the fuzz tests' own counts).
"""

from __future__ import annotations

import os

from hypothesis import Phase, settings

# secret_sweep (tests/support) checks every test for the fake Coinbase key; pytester runs
# a pytest inside a test (the sweep's own test).
pytest_plugins = ["secret_sweep", "pytester"]

settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, database=None)
# 'full' skips the explain phase: on a failing cycle it reran examples for minutes, saying
# little the shrunk example does not.
settings.register_profile(
    "full",
    max_examples=1000,
    deadline=None,
    print_blob=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
