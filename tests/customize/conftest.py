from __future__ import annotations

from tests.store_fixtures import store, store_url

__all__ = ["store", "store_url"]
