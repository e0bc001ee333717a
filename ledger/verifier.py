"""The auditor's verifier under its first documented name: ``ledger.log.verifier``, re-exported.

Imports with only the standard library and ``cryptography`` installed, as that module does.
"""

from ledger.log.verifier import *  # noqa: F403
from ledger.log.verifier import __all__ as __all__
