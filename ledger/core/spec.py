"""The names the interchange format and the evidence bundle fix, in one place.

The ledger's own events (types beginning ``ledger.``) are recorded by the system actor; an
evidence bundle is a folder with the stored records, the checkpoints and the verifier key.
Stdlib only: the auditor's verifier imports this module.
"""

from __future__ import annotations

SYSTEM_PREFIX = "ledger."  # event types the ledger records itself; users may not
VOCABULARY_TYPE = "ledger.vocabulary"  # the vocabulary and settings in force from here on
SIGNING_KEY_TYPE = "ledger.signing_key"  # a checkpoint signing key; with "replaces", a handover
DECLARATION_TYPE = "ledger.declaration"  # the declared processing (the notice), from here on
RESERVED_ACTOR = "system:ledger"  # the actor of the ledger's own events
RESERVED_SYSTEM = "ledger"  # the system named by a decrypting read the ledger audits

BUNDLE_EVENTS = "events.jsonl"  # the stored record bytes, one per line, in sequence order
BUNDLE_CHECKPOINTS = "checkpoints"  # a folder of signed checkpoint notes
BUNDLE_VERIFIER_KEY = "verifier.key"  # the key the bundle was signed with (informative)
BUNDLE_FILES = frozenset({BUNDLE_EVENTS, BUNDLE_CHECKPOINTS, BUNDLE_VERIFIER_KEY})


def is_system_type(event_type: str) -> bool:
    """Whether *event_type* is one of the ledger's own (``ledger.``) event types."""
    return event_type.startswith(SYSTEM_PREFIX)
