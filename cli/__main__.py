"""`python -m ledger.cli`: the same as the `ledger` command."""

from .main import main

main()
