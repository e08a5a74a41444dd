"""`python -m trader` is the `trader` command."""

from trader.entrypoints.cli import main

raise SystemExit(main())
