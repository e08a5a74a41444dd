"""`python -m trader` is the `trader` command."""

from trader.cli import main

raise SystemExit(main())
