"""The auditor's verifier under its first documented name: ``ledger.log.verifier``, re-exported.

Imports with only the standard library and ``cryptography`` installed, as that module does.
"""

from ledger.log.verifier import (
    BundleReport,
    CheckpointError,
    ProofError,
    parse_verifier_key,
    verify_bundle,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "BundleReport",
    "CheckpointError",
    "ProofError",
    "parse_verifier_key",
    "verify_bundle",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]
