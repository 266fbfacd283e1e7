"""A re-sent event is found by its id (SPEC 5: ids stable across re-sends)
whoever answers the writer's lookup: the embedded store's filter of stored
ids (an id it has never seen is new, stored without a lookup) or the index
(an id it has seen: re-sent, or sent twice in one request). The filter is
filled from the store at start: re-sends after a restart are still found."""

from conftest import PG_BASE, metric_values, unique_event

SKIPPED = "herald_store_id_lookups_skipped_total"
STORED = "herald_events_stored_total"


def _total(h, name):
    return sum(metric_values(h.metrics(), name).values())


def _skipped(h, want):
    if not PG_BASE:  # the filter belongs to the embedded store
        assert _total(h, SKIPPED) == want


def test_resent_events_are_found_with_and_without_the_filter(herald_factory):
    h = herald_factory()
    batch = [unique_event("ids-b%03d" % i) for i in range(50)]
    singles = [unique_event("ids-s%03d" % i) for i in range(20)]
    ids = h.ingest(batch)
    ids += [h.ingest([ev])[0] for ev in singles]
    assert len(set(ids)) == 70
    assert _total(h, STORED) == 70
    _skipped(h, 70)  # all new: no lookup

    # Re-sent, whole and one by one: the same ids, nothing stored, every
    # id looked up (the filter has seen them all).
    assert h.ingest(batch + singles) == ids
    assert [h.ingest([ev])[0] for ev in batch[:5]] == ids[:5]
    assert _total(h, STORED) == 70
    _skipped(h, 70)

    # Twice in one request, new: the second is the first's duplicate, found
    # among the open transaction's rows.
    twice = unique_event("ids-twice")
    got = h.ingest([twice, unique_event("ids-other"), twice])
    assert got[0] == got[2] and got[1] != got[0]
    assert _total(h, STORED) == 72
    _skipped(h, 72)

    h.restart()
    assert h.ingest(batch + singles + [twice]) == ids + [got[0]]
    assert _total(h, STORED) == 0
    _skipped(h, 0)  # loaded from the store: every one of them looked up
    fresh = h.ingest([unique_event("ids-after-%d" % i) for i in range(10)])
    assert _total(h, STORED) == 10
    _skipped(h, 10)
    assert len(h.all_event_ids()) == 82
    assert set(fresh) <= h.all_event_ids()
