"""Finding direct identifiers in clear text: email addresses and phone numbers.

Identifiers and free text in events stay readable to auditors, so they must not
be direct identifiers. Numbers that are not phones (dates, clock times, IPv4
addresses) are masked first, so they neither count as phone digits nor split an id.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
_TEL = re.compile(r"(?i)\btel:")
_NOT_PHONES = re.compile(
    r"(?<![0-9])[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])"
    r"(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
    r"|(?<![0-9.])[0-9]{1,2}[./-][0-9]{1,2}[./-](?:19|20)[0-9]{2}(?![0-9])"
    r"|(?<![0-9])[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r"|(?<![0-9.])[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![0-9]|\.[0-9])"
)
_NUMBER_RUN = re.compile(r"\+?\(?[0-9][0-9() .\-\u00a0]*[0-9]")
_NUMBER_GROUP = re.compile(r"\+?\(?[0-9]+\)?")
_DOUBLE_SEPARATOR = re.compile(r"[ .\-\u00a0]{2,}")


def looks_like_email(text: str) -> bool:
    """Whether *text* contains an email address."""
    return "@" in text and _EMAIL.search(text) is not None


def looks_like_phone(text: str) -> bool:
    """Whether *text* contains a phone number: 9-15 digits, mostly digits, not glued to an id."""
    if sum(map(str.isdigit, text)) < 9:  # too few digits for any phone number (fast path)
        return False
    masked = _NOT_PHONES.sub("D", _TEL.sub("tel ", text))
    for match in _NUMBER_RUN.finditer(masked):
        run, start, end = match.group(), match.start(), match.end()
        before, after = masked[max(0, start - 2) : start], masked[end : end + 2]
        # Part of a word, id, path or address (cust-1042, ICO-REF-12345678, a/123, x@1): not a
        # phone; after "word:" only with a + or separators (tel:+44..., Phone:07700 900123).
        if _glued(after) or (
            _glued(before[::-1]) and not (before[-1:] == ":" and (run[0] == "+" or " " in run))
        ):
            continue
        if _phone_shaped(run):
            return True
        # A phone beside other numbers: try the digit groups that start like a phone number.
        groups = list(_NUMBER_GROUP.finditer(run))
        for i, first in enumerate(groups):
            if first.group()[0] in "+(0":
                for last in groups[i : i + 8]:
                    if _phone_shaped(run[first.start() : last.end()]):
                        return True
    return False


def _glued(side: str) -> bool:
    """Whether the characters beside a number (nearest first) join it to a word."""
    near, far = side[:1], side[1:2]
    if near.isalnum() or near in ("_", "@", "/", "+"):
        return True
    return near in (".", "-", ":") and (far.isalnum() or far == "_")


def _phone_shaped(run: str) -> bool:
    digits = sum(c.isdigit() for c in run)
    return (
        9 <= digits <= 15
        and digits >= 0.6 * len(run)
        and not _DOUBLE_SEPARATOR.search(run.replace("(", "").replace(")", ""))
    )
