"""Checking a store against its chain: the one-core and parallel chain and tree checks, the
check since a signed checkpoint, the keys table against the chain, and the re-validation of
events under the vocabulary they were recorded with.
"""
