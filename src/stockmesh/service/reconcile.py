"""Reconciliation: an external system's snapshot against our positions, vectorised.

One row per SKU x site after an outer join of their totals and ours; each row gets the first class
that fits, in this order (the order is the precedence):

| class               | when                                                        | proposal       |
|---------------------|-------------------------------------------------------------|----------------|
| unknown_sku         | they list a SKU we have never registered                    | none (master data) |
| unknown_site        | they list a site we have never registered                   | none (master data) |
| missing_at_us       | they hold units, we have no position                         | AdjustStock +  |
| missing_at_them     | we hold units, they do not list the position                 | AdjustStock -  |
| stale_snapshot      | quantities differ but our position moved after their as_of  | none: timing, wait |
| unit_of_measure     | one side is the other times the SKU's pack size             | none: fix the unit |
| quantity_mismatch   | on hand differs                                             | AdjustStock +/- |
| lot_mismatch        | totals agree, the split by lot does not (snapshot with lots)| AdjustStock per lot |
| in_transit_mismatch | on hand agrees, in transit differs (snapshot with in_transit)| none: check the ship notices |

Only what the snapshot covers is compared: its **scope** is the sites it declares (or, without a
declaration, the sites it lists) and, where it declares them, its SKUs. Within the scope a position
of ours the snapshot does not list is ``missing_at_them`` (the snapshot says the site has none);
outside it nothing is compared, never read as zero (``Scope``; ``Reconciliation.scope``).

Corrections are *proposed* as commands (``Proposal`` values, agent ``reconciliation``) with keys
derived from the snapshot's digest, so applying the same reconciliation twice changes nothing.
Nothing is written unless the caller applies them. ``score`` measures precision and recall of the
classes against seeded truth. A million rows is a handful of joins and ``numpy.select``: no loop
in Python over rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stockmesh.domain.commands import AdjustStock, validated
from stockmesh.domain.proposals import Proposal, proposal_key
from stockmesh.ledger.port import EventStore

CLASSES = ("unknown_sku", "unknown_site", "missing_at_us", "missing_at_them", "stale_snapshot", "unit_of_measure",
           "quantity_mismatch", "lot_mismatch", "in_transit_mismatch")
CORRECTABLE = frozenset({"missing_at_us", "missing_at_them", "quantity_mismatch", "lot_mismatch"})


@dataclass(frozen=True, slots=True)
class Scope:
    """What a snapshot covers: ``sites`` (None: the sites it lists) and ``skus`` (None: every SKU at
    those sites). ``declared_by`` says where it came from, for the report: ``snapshot`` (its own
    ``sites``/``skus``), ``option`` (``reconcile --site/--sku``) or ``rows`` (not declared)."""

    sites: frozenset[str] | None = None
    skus: frozenset[str] | None = None
    declared_by: str = "rows"


@dataclass(slots=True)
class Reconciliation:
    """The joined table (``rows``: one per SKU x site with ``cls``), plus the lot table when lots
    were compared. ``discrepancies`` drops the rows that match."""

    rows: Any  # pandas.DataFrame
    lots: Any | None = None
    source: str = "snapshot"
    run_id: str = "run"
    summary: dict[str, int] = field(default_factory=dict)
    scope: dict[str, Any] = field(default_factory=dict)

    @property
    def discrepancies(self) -> Any:
        return self.rows[self.rows["cls"] != "match"]

    def proposals(self, limit: int | None = None) -> list[Proposal]:
        """Corrections for the correctable classes, as proposals carrying their command."""
        out: list[Proposal] = []
        rows = self.discrepancies
        rows = rows[rows["cls"].isin(list(CORRECTABLE))]
        lot_rows = None
        if self.lots is not None and (rows["cls"] == "lot_mismatch").any():
            lot_rows = self.lots[self.lots["delta"] != 0]
        for sku, site, cls, us, them in zip(rows["sku"], rows["site"], rows["cls"], rows["on_hand_us"],
                                            rows["on_hand_them"], strict=True):
            if limit is not None and len(out) >= limit:
                break
            if cls == "lot_mismatch" and lot_rows is not None:
                sub = lot_rows[(lot_rows["sku"] == sku) & (lot_rows["site"] == site)].sort_values("delta")
                for lot, delta in zip(sub["lot"], sub["delta"], strict=True):
                    out.append(self._proposal(sku, site, cls, int(delta), None if lot == "" else str(lot)))
                continue
            delta = int(_num(them)) - int(_num(us))
            if delta != 0:
                out.append(self._proposal(sku, site, cls, delta, None))
        return out

    def _proposal(self, sku: str, site: str, cls: str, delta: int, lot: str | None) -> Proposal:
        target = f"{sku}@{site}" + (f"/{lot}" if lot else "")
        proposal_id = f"reconcile:{self.run_id}:{target}"[:120]
        command = AdjustStock(idempotency_key=proposal_key(proposal_id), sku=sku, site=site, delta=delta,
                              reason=f"reconciliation with {self.source}: {cls}", lot=lot or None)
        return Proposal(proposal_id=proposal_id, agent="reconciliation",
                        action="adjust", sku=sku, site=site, qty=abs(delta), value=0.0, command=command,
                        reasons=(f"{cls}: {self.source} differs from the ledger by {delta:+d}",),
                        provenance={"source": self.source, "run_id": self.run_id, "class": cls})


def _num(value: Any) -> float:
    try:
        return 0.0 if value != value else float(value)  # NaN -> 0
    except TypeError:
        return 0.0


def our_positions(store: EventStore) -> tuple[Any, Any, set[str], set[str], dict[str, int]]:
    """Our side from the read models: totals per SKU x site, on hand per lot, registered SKUs and
    sites, pack sizes. (Bring the read models up to date first.)"""
    import pandas as pd

    from stockmesh.ledger import codec

    rows = store.load_view("stock_positions")
    totals = pd.DataFrame({
        "sku": [r[0] for r in rows], "site": [r[1] for r in rows],
        "on_hand": [int(r[2]) for r in rows], "in_transit": [int(r[4]) for r in rows],
        "last_event_at": [r[9] for r in rows]})
    lot_rows = store.load_view("lot_positions")
    lots = pd.DataFrame({"sku": [r[0] for r in lot_rows], "site": [r[1] for r in lot_rows],
                         "lot": [r[2] for r in lot_rows], "on_hand": [int(r[3]) for r in lot_rows]})
    skus = {s.removeprefix("sku:") for s in store.stream_ids("sku:")}
    sites = {s.removeprefix("site:") for s in store.stream_ids("site:")}
    packs: dict[str, int] = {}
    for sku in skus:
        events = store.read_stream(f"sku:{sku}")
        if events:
            packs[sku] = int(codec.loads(events[-1].data).get("pack_size") or 1)
    return totals, lots, skus, sites, packs


def reconcile(ours: Any, theirs: Any, *, known_skus: Iterable[str] | None = None,
              known_sites: Iterable[str] | None = None, pack_sizes: Mapping[str, int] | None = None,
              ours_lots: Any | None = None, source: str = "snapshot", run_id: str = "run",
              scope: Scope | None = None) -> Reconciliation:
    """Classify every SKU x site of ``theirs`` (columns sku, site, on_hand, optional lot, in_transit,
    as_of) against ``ours`` (sku, site, on_hand, in_transit, last_event_at), within ``scope``
    (default: the sites ``theirs`` lists, every SKU). Our positions outside it are left out."""
    import numpy as np
    import pandas as pd

    from stockmesh.domain.errors import InvalidInput

    scope = scope or Scope()
    sites = scope.sites if scope.sites is not None else frozenset(theirs["site"])
    outside = ~theirs["site"].isin(list(sites))
    if scope.skus is not None:
        outside |= ~theirs["sku"].isin(list(scope.skus))
    if outside.any():
        first = theirs[outside].iloc[0]
        raise InvalidInput(f"{first['sku']} at {first['site']} is outside the snapshot's scope", field="site")
    covered = ours["site"].isin(list(sites))
    if scope.skus is not None:
        covered &= ours["sku"].isin(list(scope.skus))
    left_out = ours[~covered]
    scope_report = {"sites": sorted(sites), "skus": None if scope.skus is None else sorted(scope.skus),
                    "declared_by": scope.declared_by,
                    "positions_out_of_scope": int(len(left_out)),
                    "units_out_of_scope": int(left_out["on_hand"].sum()) if len(left_out) else 0}
    ours = ours[covered]
    if ours_lots is not None:
        in_lots = ours_lots["site"].isin(list(sites))
        if scope.skus is not None:
            in_lots &= ours_lots["sku"].isin(list(scope.skus))
        ours_lots = ours_lots[in_lots]

    has_lots = "lot" in theirs.columns and theirs["lot"].notna().any()
    has_transit = "in_transit" in theirs.columns and theirs["in_transit"].notna().any()
    has_as_of = "as_of" in theirs.columns and theirs["as_of"].notna().any()
    if has_as_of:  # as datetimes, so the group minimum and the comparison stay vectorised
        theirs = theirs.assign(as_of=pd.to_datetime(theirs["as_of"], utc=True, format="ISO8601", cache=True))
    agg: dict[str, Any] = {"on_hand": "sum"}
    if has_transit:
        agg["in_transit"] = "sum"
    if has_as_of:
        agg["as_of"] = "min"
    them = theirs.groupby(["sku", "site"], sort=False, as_index=False).agg(agg) \
        if has_lots or theirs.duplicated(["sku", "site"]).any() else theirs[["sku", "site", *agg]]
    us_cols = ["sku", "site", "on_hand", "in_transit"] + (["last_event_at"] if "last_event_at" in ours.columns else [])
    merged = ours[us_cols].merge(them, on=["sku", "site"], how="outer", suffixes=("_us", "_them"), indicator=True)
    if not has_transit:
        merged = merged.rename(columns={"in_transit": "in_transit_us"})
        merged["in_transit_them"] = np.nan
    us = merged["on_hand_us"].to_numpy(dtype=float)
    th = merged["on_hand_them"].to_numpy(dtype=float)
    only_us = (merged["_merge"] == "left_only").to_numpy()
    only_them = (merged["_merge"] == "right_only").to_numpy()
    both = ~(only_us | only_them)
    differs = both & (us != th)
    transit_differs = both & has_transit & (merged["in_transit_us"].fillna(0).to_numpy(dtype=float)
                                            != merged["in_transit_them"].fillna(0).to_numpy(dtype=float))
    sku_col, site_col = merged["sku"], merged["site"]
    unknown_sku = np.zeros(len(merged), dtype=bool) if known_skus is None else \
        (~sku_col.isin(list(known_skus))).to_numpy() & ~only_us
    unknown_site = np.zeros(len(merged), dtype=bool) if known_sites is None else \
        (~site_col.isin(list(known_sites))).to_numpy() & ~only_us
    stale = np.zeros(len(merged), dtype=bool)
    if has_as_of and "last_event_at" in merged.columns:
        # A position that moved after their snapshot was taken may differ only because of that.
        last = pd.to_datetime(merged["last_event_at"], utc=True, format="ISO8601", cache=True)
        as_of = merged["as_of"]
        stale = (differs | transit_differs) & (as_of.notna() & last.notna() & (last > as_of)).to_numpy()
    pack = np.ones(len(merged))
    if pack_sizes:
        pack = sku_col.map(pack_sizes).fillna(1).to_numpy(dtype=float)
    uom = differs & (pack > 1) & ((th == us * pack) | (us == th * pack))
    lot_diff = np.zeros(len(merged), dtype=bool)
    lot_table = None
    if has_lots and ours_lots is not None:
        lot_table, keys = _lot_differences(ours, ours_lots, theirs)
        lot_diff = both & ~differs & pd.MultiIndex.from_arrays([sku_col, site_col]).isin(keys)
    conditions = [unknown_sku, unknown_site, only_them & (th > 0), only_us & (us > 0), stale, uom, differs,
                  lot_diff, transit_differs]
    merged["cls"] = np.select(conditions, list(CLASSES), default="match")
    merged = merged.drop(columns=["_merge"])
    counts = merged["cls"].value_counts()
    summary = {cls: int(counts.get(cls, 0)) for cls in ("match", *CLASSES)}
    return Reconciliation(merged, lot_table, source, run_id, summary, scope_report)


def _lot_differences(ours: Any, ours_lots: Any, theirs: Any) -> tuple[Any, Any]:
    """Per lot, their on hand minus ours; the unlotted remainder is lot ''. Returns the table and
    the (sku, site) keys with any difference."""
    import pandas as pd

    def with_unlotted(totals: Any, lots: Any) -> Any:
        lots = lots[["sku", "site", "lot", "on_hand"]].copy()
        lots["lot"] = lots["lot"].fillna("")
        lotted = lots[lots["lot"] != ""].groupby(["sku", "site"], as_index=False)["on_hand"].sum()
        rest = totals[["sku", "site", "on_hand"]].merge(lotted, on=["sku", "site"], how="left", suffixes=("", "_lots"))
        rest["on_hand"] = rest["on_hand"] - rest["on_hand_lots"].fillna(0)
        rest["lot"] = ""
        rest = rest[rest["on_hand"] != 0][["sku", "site", "lot", "on_hand"]]
        return pd.concat([lots[lots["lot"] != ""], rest], ignore_index=True)

    their_lots = theirs[["sku", "site", "lot", "on_hand"]].copy()
    their_lots["lot"] = their_lots["lot"].fillna("")
    their_lots = their_lots.groupby(["sku", "site", "lot"], as_index=False)["on_hand"].sum()
    mine = with_unlotted(ours, ours_lots)
    table = mine.merge(their_lots, on=["sku", "site", "lot"], how="outer", suffixes=("_us", "_them"))
    table = table.fillna({"on_hand_us": 0, "on_hand_them": 0})
    table["delta"] = (table["on_hand_them"] - table["on_hand_us"]).astype(int)
    keys = pd.MultiIndex.from_frame(table.loc[table["delta"] != 0, ["sku", "site"]].drop_duplicates())
    return table, keys


def score(found: Any, truth: Mapping[tuple[str, str], str]) -> dict[str, dict[str, float]]:
    """Precision and recall per class (and ``overall``) of ``found`` (rows with sku, site, cls)
    against seeded ``truth`` {(sku, site): class}."""
    predicted = {(s, t): c for s, t, c in zip(found["sku"], found["site"], found["cls"], strict=True) if c != "match"}
    out: dict[str, dict[str, float]] = {}
    for cls in (*CLASSES, "overall"):
        pred = {k for k, c in predicted.items() if cls in (c, "overall")}
        real = {k for k, c in truth.items() if cls in (c, "overall")}
        correct = {k for k in pred & real if predicted[k] == truth[k]}
        if not pred and not real:
            continue
        out[cls] = {"precision": len(correct) / len(pred) if pred else 1.0,
                    "recall": len(correct) / len(real) if real else 1.0,
                    "predicted": float(len(pred)), "seeded": float(len(real))}
    return out


def seeded_snapshot(ours: Any, ours_lots: Any, pack_sizes: Mapping[str, int], *, per_class: int, seed: int = 0,
                    known_skus: Iterable[str] = (), known_sites: Iterable[str] = (),
                    as_of: str = "2100-01-01T00:00:00+00:00") -> tuple[Any, dict[tuple[str, str], str]]:
    """An external snapshot that agrees with ``ours`` except for ``per_class`` seeded discrepancies
    of every class; returns it (lot granularity) with the truth {(sku, site): class}. Used by the
    tests, the benchmark and the twin's reconciliation scenarios."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    truth: dict[tuple[str, str], str] = {}
    base = ours[["sku", "site", "on_hand", "in_transit"]].reset_index(drop=True).copy()
    base["as_of"] = as_of
    lotted_keys = set(zip(ours_lots["sku"], ours_lots["site"], strict=True)) if len(ours_lots) else set()
    taken = np.zeros(len(base), dtype=bool)

    def pick(mask: Any, n: int) -> Any:
        candidates = np.flatnonzero(mask & ~taken)
        if len(candidates) < n:
            raise ValueError(f"not enough positions to seed {n} discrepancies")
        chosen = rng.choice(candidates, size=n, replace=False)
        taken[chosen] = True
        return chosen

    on_hand = base["on_hand"].to_numpy()
    pack = base["sku"].map(pack_sizes).fillna(1).to_numpy()
    has_lots = np.array([(s, t) in lotted_keys for s, t in zip(base["sku"], base["site"], strict=True)])
    drop = pick((on_hand > 0) & ~has_lots, per_class)
    for i in drop:
        truth[(base.at[i, "sku"], base.at[i, "site"])] = "missing_at_them"
    stale = pick((on_hand > 0) & ~has_lots, per_class)
    base.loc[stale, "on_hand"] = base.loc[stale, "on_hand"] + 1
    base.loc[stale, "as_of"] = "1970-01-01T00:00:00+00:00"
    uom = pick((on_hand > 0) & (pack > 1) & ~has_lots, per_class)
    base.loc[uom, "on_hand"] = base.loc[uom, "on_hand"] * pack[uom]
    qty = pick(~has_lots, per_class)
    bump = rng.integers(1, 5, size=len(qty))
    # never land on a pack multiple of ours (that would be a unit-of-measure error)
    new = base.loc[qty, "on_hand"].to_numpy() + bump
    clash = (pack[qty] > 1) & ((new == on_hand[qty] * pack[qty]) | (on_hand[qty] == new * pack[qty]))
    new[clash] += 1
    base.loc[qty, "on_hand"] = new
    transit = pick(~has_lots, per_class)
    base.loc[transit, "in_transit"] = base.loc[transit, "in_transit"] + rng.integers(1, 5, size=len(transit))
    for cls, rows in (("stale_snapshot", stale), ("unit_of_measure", uom), ("quantity_mismatch", qty),
                      ("in_transit_mismatch", transit)):
        for i in rows:
            truth[(base.at[i, "sku"], base.at[i, "site"])] = cls
    # lot granularity: positions with lots become one row per lot plus the unlotted remainder
    lots = ours_lots[["sku", "site", "lot", "on_hand"]].copy()
    lot_positions = lots.groupby(["sku", "site"], as_index=False)["on_hand"].sum()
    split = base.merge(lot_positions, on=["sku", "site"], how="left", suffixes=("", "_lots"))
    remainder = split.copy()
    remainder["on_hand"] = split["on_hand"] - split["on_hand_lots"].fillna(0)
    remainder["lot"] = None
    lot_rows = lots.merge(base[["sku", "site", "as_of"]], on=["sku", "site"])
    lot_rows["in_transit"] = 0
    # lot mismatch: move one unit from a lot to the unlotted remainder (totals unchanged)
    movable = np.flatnonzero(lot_rows["on_hand"].to_numpy() > 0)
    remainder_at = dict(zip(zip(remainder["sku"], remainder["site"], strict=True), remainder.index, strict=True))
    seen_pos: set[tuple[str, str]] = set()
    moved = 0
    for i in rng.permutation(movable):
        key = (lot_rows.at[i, "sku"], lot_rows.at[i, "site"])
        if key in seen_pos or key in truth:
            continue
        seen_pos.add(key)
        lot_rows.at[i, "on_hand"] -= 1
        remainder.at[remainder_at[key], "on_hand"] += 1
        truth[key] = "lot_mismatch"
        moved += 1
        if moved == per_class:
            break
    if moved < per_class:
        raise ValueError("not enough lotted positions to seed lot mismatches")
    keep = remainder["on_hand"].ne(0) | remainder["in_transit"].ne(0) | ~remainder.set_index(["sku", "site"]).index.isin(
        list(zip(lots["sku"], lots["site"], strict=True)))
    remainder = remainder[keep.to_numpy()]
    remainder = remainder.drop(index=drop, errors="ignore")
    theirs = pd.concat([remainder[["sku", "site", "lot", "on_hand", "in_transit", "as_of"]],
                        lot_rows[["sku", "site", "lot", "on_hand", "in_transit", "as_of"]]], ignore_index=True)
    extra = []
    skus, sites = sorted(known_skus), sorted(known_sites)
    present = set(zip(ours["sku"], ours["site"], strict=True))
    free: list[tuple[str, str]] = []
    for s in reversed(skus):  # the first per_class pairs we do not hold
        free.extend((s, t) for t in reversed(sites) if (s, t) not in present)
        if len(free) >= per_class:
            break
    if len(free) < per_class:
        raise ValueError("no free SKU x site pairs to seed missing_at_us")
    for n in range(per_class):
        s, t = free[n]
        extra.append((s, t, None, int(rng.integers(1, 50)), 0, as_of))
        truth[(s, t)] = "missing_at_us"
        extra.append((f"UNKNOWN-SKU-{n}", sites[0], None, 3, 0, as_of))
        truth[(f"UNKNOWN-SKU-{n}", sites[0])] = "unknown_sku"
        extra.append((skus[0], f"UNKNOWN-SITE-{n}", None, 3, 0, as_of))
        truth[(skus[0], f"UNKNOWN-SITE-{n}")] = "unknown_site"
    theirs = pd.concat([theirs, pd.DataFrame(extra, columns=theirs.columns)], ignore_index=True)
    return theirs, truth


def apply_proposals(store: EventStore, proposals: Iterable[Proposal]) -> list[Any]:
    """Execute the proposed corrections (only when asked: ``stockmesh reconcile --apply``), each
    under its proposal's idempotency key, all or nothing."""
    from stockmesh.service.execute import execute

    commands = [validated(p.to_execute()) for p in proposals]
    if not commands:
        return []
    return execute(store, commands, metadata={"source": "reconciliation"})


@dataclass(slots=True)
class GovernedRun:
    executed: int
    queued: int
    rejected: int
    failed: int


def govern_corrections(store: EventStore, result: Reconciliation, *, max_auto_value: float = 500.0,
                       apply: bool = True) -> GovernedRun:
    """Put the corrections through governance and record the run as a ``ReconciliationCompleted`` fact.

    Safe classes resolve themselves: a stale snapshot (our position moved after their ``as_of``) is
    timing and waits for the next snapshot; master data and unit-of-measure differences go to people.
    Each correction is valued at ``|delta| x unit cost``: small ones execute alone, larger ones wait
    for an approver (the approval queue of the API and dashboard); everything is recorded."""
    from stockmesh.domain.model import SkuState
    from stockmesh.domain.reconciliation import ReconciliationCompleted
    from stockmesh.ledger import codec
    from stockmesh.service.execute import Fact, execute
    from stockmesh.service.loop import run_cycle
    from stockmesh.service.loop_gates import MinimalGate

    proposals = result.proposals()
    costs: dict[str, float] = {}
    with store.write() as session:  # read the registry under the writer lock: a consistent view
        for sid, (_, text) in session.load_states({f"sku:{p.sku}" for p in proposals}).items():
            state = codec.decode_state(sid, text)
            if isinstance(state, SkuState):
                costs[state.sku] = state.unit_cost
    valued = [Proposal(**{**{k: getattr(p, k) for k in p.__slots__}, "value": round(p.qty * costs.get(p.sku, 0.0), 2)})
              for p in proposals]
    executed = queued = rejected = failed = 0
    if apply and valued:
        report = run_cycle(store, valued, MinimalGate(max_auto_value=max_auto_value),
                           metadata={"source": f"reconciliation:{result.source}"})
        executed, queued, rejected, failed = len(report.executed), report.queued, report.rejected, len(report.failed)
    waiting = {cls: int(result.summary.get(cls, 0)) for cls in ("stale_snapshot", "unit_of_measure", "unknown_sku",
                                                                 "unknown_site", "in_transit_mismatch")}
    fact = ReconciliationCompleted(run_id=result.run_id, source=result.source, summary=dict(result.summary),
                                   proposals=len(valued), executed=executed, queued=queued, rejected=rejected,
                                   waiting=waiting, details={"applied": apply, "max_auto_value": max_auto_value,
                                                             "failed": failed, "scope": result.scope})
    execute(store, [], facts=[Fact(f"reconciliation:{result.run_id}", fact, {"source": "reconciliation"})])
    return GovernedRun(executed, queued, rejected, failed)
