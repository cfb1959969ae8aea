"""The pseudonym service's own counts, on SQLite and PostgreSQL: its quota is the broker's one
conditional upsert (broker.pseudonyms.quota.quota_upsert) on the service's table — a batch is
charged whole or not at all, a refusal is counted apart and charges nothing."""

from __future__ import annotations

from datetime import date

from broker.pseudonym_service import store


def test_the_services_quota_is_charged_whole_or_not_at_all(database_url: str) -> None:
    engine = store.open_database(database_url)
    day = date(2026, 3, 2)
    try:
        with engine.begin() as connection:
            assert store.charge(connection, "school-a", day, 2, 3) == 2
            assert store.charge(connection, "school-a", day, 2, 3) is None  # 4 > 3: nothing
            assert store.count_refusal(connection, "school-a", day, 2) == 2
            assert store.charge(connection, "school-a", day, 1, 3) == 3
            assert store.charge(connection, "school-b", day, 4, 3) is None  # a first batch too
            assert store.charge(connection, "school-a", date(2026, 3, 3), 3, 3) == 3
        with engine.connect() as connection:
            assert store.day_totals(connection, day) == {"school-a": (3, 2)}
    finally:
        store.metadata.drop_all(engine)
        engine.dispose()
