"""The `ledger` command line (click)."""
