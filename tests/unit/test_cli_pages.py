"""`limen.cli._common.all_pages`: list commands print every item, however many pages the service gives."""

from __future__ import annotations

from limen.cli._common import all_pages
from limen.service.paging import Page


def test_all_pages_follows_skiptokens_to_the_last_page_in_order() -> None:
    pages = {None: Page([1, 2], "b"), "b": Page([3], "c"), "c": Page([4, 5], None)}
    asked: list[str | None] = []

    def fetch(token: str | None) -> Page[int]:
        asked.append(token)
        return pages[token]

    assert list(all_pages(fetch)) == [1, 2, 3, 4, 5]
    assert asked == [None, "b", "c"]


def test_an_empty_listing_is_one_request() -> None:
    assert list(all_pages(lambda token: Page([], None))) == []
