"""HQ consolidation: liability per store and channel, sync health per terminal, rewards
issued vs redeemed, a member's consolidated balance.

    >>> liability(conn)["total"]

Liability is attributed to the origin that recorded each point movement (net points per
origin: a store's sales credit it, redemptions anywhere debit where they happen); the hub's
own events (expiry, adjustments) are shown on their own line, and each online channel
(web shop, app, marketplace: its own origin) on its own, `online` being their sum. The
totals come from `origin_totals`, kept per batch, so the report does not scan the ledger;
`rebuild_totals` recomputes them from the events.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, delete, func, select

from hub.store.credentials import is_channel_origin, store_of
from hub.tables import channels, events, members, origin_totals, origins, streams


def liability(conn: Connection) -> dict[str, Any]:
    """Points outstanding per store, per channel (`channels`; `online` is their sum), the
    hub's own, and in all."""
    per_store: dict[str, dict[str, int]] = defaultdict(
        lambda: {"points": 0, "credited": 0, "debited": 0, "origins": 0})
    names = {r.origin: r.name for r in conn.execute(select(channels.c.origin,
                                                           channels.c.name))}
    per_channel = {origin: {"channel": name, "origin": origin, "points": 0, "credited": 0,
                            "debited": 0} for origin, name in names.items()}
    for r in conn.execute(select(origin_totals)):
        row = per_store[store_of(r.origin)]
        row["points"] += int(r.points)
        row["credited"] += int(r.credited)
        row["debited"] += int(r.debited)
        row["origins"] += 1
        if is_channel_origin(r.origin):
            channel = per_channel.setdefault(r.origin, {
                "channel": names.get(r.origin, r.origin), "origin": r.origin, "points": 0,
                "credited": 0, "debited": 0})
            for key in ("points", "credited", "debited"):
                channel[key] += int(r._mapping[key])
    total, debt, held, count = conn.execute(
        select(func.coalesce(func.sum(members.c.balance), 0),
               func.coalesce(func.sum(members.c.debt), 0),
               func.coalesce(func.sum(members.c.held), 0), func.count())).one()
    stores = [{"store": k, **v} for k, v in sorted(per_store.items())
              if k not in ("online", "hub")]
    return {
        "stores": stores,
        "online": per_store.get("online", {"points": 0, "credited": 0, "debited": 0,
                                           "origins": 0})["points"],
        "channels": [per_channel[k] for k in sorted(per_channel)],
        "hub": per_store.get("hub", {"points": 0})["points"],
        "total": int(total),
        "debt": int(debt),
        "held": int(held),
        "members": int(count),
    }


def sync_health(conn: Connection) -> list[dict[str, Any]]:
    """Per origin (terminals and channels): last push and pull, the hub's high seq of the
    newest epoch, and

    - `events_behind`: the terminal's own high seq (reported on its pulls with
      `X-Origin-High-Seq`) minus the hub's: events recorded at the till that have not
      reached the hub yet; None until the terminal reports;
    - `gaps` / `chain_broken`: pushes the hub refused because they skipped origin_seqs or
      did not continue the terminal's hash chain (`last_refused_at`: the latest);
    - `missing`: seqs the hub's streams cover minus events it holds (0 unless rows were
      removed from the ledger by hand)."""
    highs: dict[str, dict[str, int]] = defaultdict(dict)
    for r in conn.execute(select(streams.c.origin, streams.c.origin_epoch, streams.c.high_seq)):
        highs[r.origin][r.origin_epoch] = int(r.high_seq)
    received = {r.origin: int(r.events) for r in
                conn.execute(select(origin_totals.c.origin, origin_totals.c.events))}
    out = []
    for r in conn.execute(select(origins).order_by(origins.c.origin)):
        epochs = highs.get(r.origin, {})
        epoch = max(epochs) if epochs else None
        high = epochs.get(epoch, 0) if epoch is not None else 0
        reported = r.reported_high_seq
        out.append({
            "origin": r.origin, "kind": r.kind, "store": r.store,
            "last_push_at": r.last_push_at, "last_pull_at": r.last_pull_at,
            "epoch": epoch, "high_seq": high,
            "reported_high_seq": reported, "reported_at": r.reported_at,
            # unknown (None) until the terminal tells us its own high seq on a pull
            "events_behind": max(int(reported) - high, 0) if reported is not None else None,
            # pushes refused for skipping origin_seqs / breaking the chain: the terminal
            # lost events, or its ledger is not the one the hub has (restored backup)
            "gaps": int(r.refused_gaps), "chain_broken": int(r.refused_chains),
            "last_refused_at": r.last_refused_at,
            # seqs the hub's streams cover minus events it holds: stays 0 unless events
            # were removed from the ledger by hand
            "missing": sum(epochs.values()) - received.get(r.origin, 0),
            "pull_cursor": r.last_cursor,
        })
    return out


def rewards(conn: Connection) -> list[dict[str, Any]]:
    """Rewards issued and redeemed, by reward, tier (at the redemption) and store (of the
    origin that recorded the event; for an online channel, its origin). One reward handed
    to a member counts once as issued when the member gets it and once as redeemed when it
    is consumed:

    - bought with points and used at once (free product, discounts, pay with points,
      charity): issued 1 and redeemed 1, by the redemption;
    - bought with points as a voucher (gift card, store credit): issued 1 by the
      redemption; redeemed 1 when its voucher is used, where it is used;
    - a stamp card completion: issued 1 per completed card (a sale can complete a card
      more than once; the voucher of each completion counts); redeemed when used;
    - a voucher use (stamp reward, gift card, store credit): redeemed 1.

    So `issued - redeemed` per reward is the vouchers still outstanding. Reversals are not
    netted out: a voided redemption stays counted (it was handed over at the time)."""
    units = func.sum(func.coalesce(events.c.reward_units, 1)).label("n")
    rows = conn.execute(
        select(events.c.reward_id, events.c.reward_action, events.c.tier, events.c.origin,
               units)
        .where(events.c.reward_id.is_not(None))
        .group_by(events.c.reward_id, events.c.reward_action, events.c.tier, events.c.origin))
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        # a channel's rewards under its own origin (online, online-webshop...)
        place = r.origin if is_channel_origin(r.origin) else store_of(r.origin)
        key = (r.reward_id, r.tier or "", place)
        row = out.setdefault(key, {"reward_id": r.reward_id, "tier": r.tier or "",
                                   "store": key[2], "issued": 0, "redeemed": 0})
        if r.reward_action in ("redeem", "issue", "stamp"):
            row["issued"] += int(r.n)
        if r.reward_action in ("redeem", "voucher"):
            row["redeemed"] += int(r.n)
    return [out[k] for k in sorted(out)]


def member_by_origin(conn: Connection, member_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(events.c.origin, func.sum(events.c.points), func.count())
        .where(events.c.member_id == member_id).group_by(events.c.origin)
        .order_by(events.c.origin))
    return [{"origin": r[0], "points": int(r[1]), "events": int(r[2])} for r in rows]


def rebuild_totals(conn: Connection) -> int:
    """Recompute `origin_totals` from the ledger (one scan); returns the origins."""
    conn.execute(delete(origin_totals))
    credited = func.sum(func.abs(events.c.points) + events.c.points) / 2
    rows = conn.execute(
        select(events.c.origin, func.count(), func.sum(events.c.points), credited)
        .group_by(events.c.origin)).all()
    if rows:
        conn.execute(origin_totals.insert(), [
            {"origin": r[0], "events": int(r[1]), "points": int(r[2]),
             "credited": int(r[3]), "debited": int(r[3]) - int(r[2])} for r in rows])
    return len(rows)
