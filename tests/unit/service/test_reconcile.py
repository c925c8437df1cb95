"""Reconciliation: seeded discrepancies of every class are found with precision and recall 1.0,
corrections are proposed (not applied), and applying them makes the books agree."""

from __future__ import annotations

import pytest

from stockmesh.projections.runner import catch_up
from stockmesh.service import reconcile as rc
from stockmesh.service.execute import execute
from tests.support.commands import c

pytest.importorskip("pandas")


def network(store) -> None:  # type: ignore[no-untyped-def]
    skus = [f"SKU-{i:02d}" for i in range(30)]
    sites = [f"SITE-{j}" for j in range(8)]
    cmds = [c("RegisterSku", sku=s, pack_size=6 if i % 2 else 1) for i, s in enumerate(skus)]
    cmds += [c("RegisterSite", site=s, kind="dc" if j == 0 else "store") for j, s in enumerate(sites)]
    for i, sku in enumerate(skus[:25]):
        for j, site in enumerate(sites[:6]):
            cmds.append(c("ReceiveStock", sku=sku, site=site, qty=5 + i + j))
            if (i + j) % 3 == 0:
                cmds.append(c("ReceiveStock", sku=sku, site=site, qty=4, lot=f"L{i}-{j}", expiry="2030-01-01"))
        cmds.append(c("DispatchTransfer", transfer_id=f"T{i}", sku=sku, from_site=sites[0],
                      to_site=sites[1 + i % 5], qty=2))
    execute(store, cmds)
    catch_up(store)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seeded_discrepancies_of_every_class_precision_and_recall_one(network_store, seed) -> None:  # type: ignore[no-untyped-def]
    network(network_store)
    ours, lots, skus, sites, packs = rc.our_positions(network_store)
    theirs, truth = rc.seeded_snapshot(ours, lots, packs, per_class=4, seed=seed, known_skus=skus,
                                       known_sites=sites)
    assert set(truth.values()) == set(rc.CLASSES)
    result = rc.reconcile(ours, theirs, known_skus=skus, known_sites=sites, pack_sizes=packs, ours_lots=lots)
    scores = rc.score(result.rows, truth)
    for cls in (*rc.CLASSES, "overall"):
        assert scores[cls]["precision"] == 1.0, (cls, scores[cls])
        assert scores[cls]["recall"] == 1.0, (cls, scores[cls])


def test_proposals_are_not_applied_until_asked_and_then_agree(network_store) -> None:  # type: ignore[no-untyped-def]
    network(network_store)
    ours, lots, skus, sites, packs = rc.our_positions(network_store)
    theirs, truth = rc.seeded_snapshot(ours, lots, packs, per_class=3, seed=5, known_skus=skus, known_sites=sites)
    result = rc.reconcile(ours, theirs, known_skus=skus, known_sites=sites, pack_sizes=packs, ours_lots=lots,
                          run_id="r1")
    head = network_store.head()
    proposals = result.proposals()
    assert network_store.head() == head  # proposing writes nothing
    classes = {p.provenance["class"] for p in proposals}
    assert classes == set(rc.CORRECTABLE)
    rc.apply_proposals(network_store, proposals)
    assert rc.apply_proposals(network_store, proposals)[0].status == "duplicate"  # applied once
    catch_up(network_store)
    ours2, lots2, *_ = rc.our_positions(network_store)
    again = rc.reconcile(ours2, theirs, known_skus=skus, known_sites=sites, pack_sizes=packs, ours_lots=lots2)
    left = set(again.discrepancies["cls"])
    assert not left & rc.CORRECTABLE  # what was correctable now agrees; the rest needs a person
