"""Checking a store against its chain: the one-core and parallel chain and tree checks, the
check since a signed checkpoint, the keys table against the chain, and the re-validation of
events under the vocabulary they were recorded with. The chain, tree and head checks are one
core (:mod:`checker`), whose typed findings (:class:`checker.Finding`) every path reports.
"""
