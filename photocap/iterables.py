"""Small helpers over iterables, shared by discovery, indexing and the store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def batched(items: Iterable[T], n: int) -> Iterator[list[T]]:
    """`items` in lists of `n` (the last one shorter), read lazily."""
    iterator = iter(items)
    while chunk := list(islice(iterator, n)):
        yield chunk
