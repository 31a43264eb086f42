"""The seed's key-case helpers: its configs upper-case keys that are all lower case
(``upper``) and its builders lower-case keys that are all upper case (``lower``); a key
of mixed case (``Conv2d_1``) is left as written by both."""

__all__ = ["lower", "upper"]


def lower(k: str) -> str:
    return k.lower() if k.lower().upper() == k else k


def upper(k: str) -> str:
    return k.upper() if k.upper().lower() == k else k
