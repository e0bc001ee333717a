"""The transparency log, pure: the RFC 6962 Merkle tree and proofs, signed checkpoint notes
(C2SP tlog-checkpoint and signed-note) and the auditor's offline verifier.

Importable with only ``cryptography`` installed: nothing here touches a store or encryption
keys (``ledger.log.verifier`` is the auditor's library).
"""
