"""AUDITOR's name rule, the one place the embedded server decides whether a string is a name."""

from __future__ import annotations

from .._unicode import exceeds_graphemes, is_blank

__all__ = ["is_valid_name"]

# ValidName::parse (AUDITOR >= 0.7): not blank after Rust's `trim` and at most 256 extended
# grapheme clusters.  The forbidden characters of 0.6 and earlier are gone.
_MAX_GRAPHEMES = 256


def is_valid_name(value: str) -> bool:
    """True if AUDITOR 0.11 accepts ``value`` as a record id, meta key/value or name."""
    return not is_blank(value) and not exceeds_graphemes(value, _MAX_GRAPHEMES)
