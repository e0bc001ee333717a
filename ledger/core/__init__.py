"""The pure core: the event contract and vocabulary, canonical encoding and the hash chain.

No I/O, no clock reads (time is passed in), no globals: everything here is bytes and values
in, bytes and values out, and every other layer builds on it.
"""
