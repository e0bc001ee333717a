"""Keys and their use: the envelope encryption of personal data, the key-encryption-key
generations (``kek.slots``) that make erasure final, and the checkpoint signing keys.

Every primitive comes from ``cryptography``; nothing here is hand-rolled.
"""
