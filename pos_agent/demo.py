"""`pos demo`: a hub on 127.0.0.1 and a terminal with seeded data, then the terminal app.

    $ pos demo               # writes ./demo/, starts the hub, seeds, walks through, opens the app
    $ pos demo --no-app      # the walk-through only (CI, a pipe)

The walk-through does real work against embedded SQLite on both sides: enrol, sales
earning Stars (a double-points day if today is Tuesday), a stamp card completing, a tier
crossing, a redemption authorised online by the hub, a void, an end-of-day sync, and the
check that terminal, hub and a fresh fold of the ledger show the same balance.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from loyalty.fold import fold
from loyalty.member_qr import new_private_key
from loyalty.sale import make_sale, parse_line
from pos_agent.identity import fetch_whoami, init_terminal, is_initialised, request_certificate
from pos_agent.ledger import own_events
from pos_agent.members import enrol, find_member, member_view
from pos_agent.operations import record_sale, redeem_reward, void_receipt
from pos_agent.pins import set_member_pin
from pos_agent.printing import job_preview, jobs_for_receipt, print_pending, print_receipt
from pos_agent.settings import load_settings
from pos_agent.store import Store, open_store
from pos_agent.sync.setup import build_agent, build_authorizer

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
DEMO_CATALOGUE = Path(__file__).resolve().parent / "data" / "demo_catalogue.csv"


DEMO_PIN = "4821"
"""Camille's PIN in the demo: it signs her in on the hub's member page."""
DEMO_HQ_USER, DEMO_HQ_PASSWORD = "hq", "demo-hq-password"
"""The demo's back-office admin (`pos-hub hq-user add`): signs in at /hq."""


def _say(text: str = "") -> None:
    print(text, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, input=stdin)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class Hub:
    process: subprocess.Popen
    url: str
    admin_token: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_hub(folder: Path, config: Path, origin: str) -> tuple[Hub, str]:
    """Initialise the hub database, make credentials, serve on a free loopback port."""
    hub_cli = _bin("pos-hub")
    _run([hub_cli, "init", "--config", str(config)], folder)
    terminal_token = _run([hub_cli, "terminal", "add", origin, "--config", str(config)],
                          folder).strip().splitlines()[-1]
    admin_token = _run([hub_cli, "admin", "add", "demo-hq", "--config", str(config)],
                       folder).strip().splitlines()[-1]
    # HQ's cafe catalogue, imported as a store manager would (issue 17)
    _run([hub_cli, "catalog", "import", str(DEMO_CATALOGUE), "--config", str(config)], folder)
    # who signs in to the back office (/hq)
    _run([hub_cli, "hq-user", "add", DEMO_HQ_USER, "--role", "admin", "--password-stdin",
          "--config", str(config)], folder, stdin=DEMO_HQ_PASSWORD + "\n")
    process, url = _spawn_hub(folder, config)
    return Hub(process, url, admin_token), terminal_token


def _spawn_hub(folder: Path, config: Path) -> tuple[subprocess.Popen, str]:
    """`pos-hub serve` on a free loopback port; returns once it answers."""
    port = _free_port()
    log = open(folder / "hub.log", "ab")  # noqa: SIM115 - lives as long as the hub
    process = subprocess.Popen(
        [_bin("pos-hub"), "serve", "--config", str(config), "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=folder, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the hub stopped at start-up; see {folder / 'hub.log'}")
            with suppress(httpx.HTTPError):
                if httpx.get(url + "/openapi.json", timeout=1).status_code == 200:
                    return process, url
            time.sleep(0.2)
        raise RuntimeError(f"the hub did not start in 30 s; see {folder / 'hub.log'}")
    except BaseException:
        # Ctrl-C or a failure while waiting: the demo's hub must not be left running
        process.kill()
        process.wait()
        raise


def _write_private(path: Path, text: str) -> None:
    """The demo's tokens, readable by this user only (as `pos init` keeps them)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)


def _receipt(store: Store, receipt_no: str) -> None:
    print_receipt(store, receipt_no)
    for job_id in jobs_for_receipt(store, receipt_no):
        preview = job_preview(store, job_id)
        if preview:
            _say("    " + preview.replace("\n", "\n    "))


def _eur(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d} EUR"


def _member_line(store: Store, member_id: str) -> str:
    _, s = member_view(store, member_id)
    stamps = ", ".join(f"{p.name} {p.have}/{p.need}" for p in s.stamps)
    nxt = f", {s.spend_to_next_tier / 100:.2f} to {s.next_tier}" if s.next_tier else ""
    return f"{s.balance} {s.points_name}, tier {s.tier}{nxt}; {stamps}"


def _pull_catalogue(store: Store) -> None:
    """The till's first sync: HQ's catalogue (and program) arrive before the first sale."""
    from pos_agent.catalogue import catalogue_size, product_by_code, search_products

    agent = build_agent(store.settings, store)
    if agent is None:
        return
    report = agent.sync_once()
    agent.client.close()
    active, _ = catalogue_size(store)
    if not active:  # the till works without it: sales name their SKUs
        _say(f"0. (no catalogue pulled: {report.error or 'the hub sent none'})")
        return
    latte = product_by_code(store, "3760123450034")
    found = ", ".join(p.name for p in search_products(store, "cafe"))
    _say(f"0. Catalogue pulled from the hub: {active} products ({report.pulled} changes); "
         f"scan 3760123450034 -> {latte.name}; search 'cafe' -> {found}")


def _basket(store: Store, found, show_receipts: bool) -> None:
    """A checkout from the catalogue: a reward on the basket, a split tender, then a line
    returned; each receipt printed at once, so it shows the balance of that moment."""
    from loyalty.basket import Applied, Basket, add_item
    from loyalty.tender import card, cash
    from pos_agent.catalogue import catalogue_size, product_by_code
    from pos_agent.operations import checkout, refund_lines

    if not catalogue_size(store)[0]:
        return
    pn = store.active_program().points_name
    basket = Basket()
    for code, qty in (("3760123450034", 2), ("CROISSANT", 2), ("MADELEINES", 1)):
        p = product_by_code(store, code)
        basket = add_item(basket, sku=p.sku, name=p.name, category=p.category,
                          unit_price=p.price, tax_rate=p.tax_rate, qty=qty)
    sale = checkout(store, found.member_id, basket, [Applied("ten-off")],
                    [card(500), cash(1000)], found_by=found.found_by)
    t = sale.ticket
    _say(f"7b. Basket {sale.receipt_no}: {len(t.lines)} lines {_eur(t.subtotal)}, "
         f"{t.discounts[0].label} -{_eur(t.discount_total)} -> {_eur(t.total)}; card 5.00 "
         f"+ cash 10.00, change {_eur(sale.settlement.change)}; -{sale.points_spent} "
         f"+{sale.points_earned} {pn}")
    print_receipt(store, sale.receipt_no)
    back = refund_lines(store, sale.receipt_no, [(3, 1)], reason="box damaged")
    split = " + ".join(f"{r['kind']} {_eur(r['amount'])}" for r in back.refunds)
    stamps = ", ".join(f"{-n} {card} stamp" for card, n in back.stamps.items()) or "no stamp"
    _say(f"7c. Returned the madeleines ({back.receipt_no}): {split}; "
         f"{back.points_reversed} {pn} and {stamps} taken back (that line's only); "
         f"{_member_line(store, found.member_id)}")
    print_receipt(store, back.receipt_no)
    if show_receipts:
        for no in (sale.receipt_no, back.receipt_no):
            for job_id in jobs_for_receipt(store, no):
                preview = job_preview(store, job_id)
                if preview:
                    _say("    " + preview.replace("\n", "\n    "))


def walk_through(store: Store, hub: Hub | None, show_receipts: bool) -> str:
    """The scripted day at the counter. Returns the demo member's card number."""
    program = store.active_program()
    settings = store.settings
    agent = build_agent(settings, store)
    authorizer = build_authorizer(settings, store, agent)
    pn = program.points_name

    _say(f"\n== {program.name}: terminal {store.identity.origin}, {pn}, "
         f"{len(program.tiers)} tiers, {len(program.rewards)} rewards ==")
    camille = enrol(store, name="Camille Dupont", phone="+33612345678",
                    email="camille@example.com", birthday=None, consent_email=True)
    set_member_pin(store, camille.member_id, DEMO_PIN)  # her PIN for the member page
    _say(f"1. Enrolled Camille: card {camille.card_number} (+{camille.points} {pn} welcome), "
         f"PIN {DEMO_PIN}")
    _say(f"   QR payload: {camille.qr_payload}")
    enrol(store, name="Léa Martin", phone="+33698765432")

    found = find_member(store, camille.qr_payload)
    sale = make_sale([parse_line("LATTE,coffee,3,3.50"), parse_line("CROISSANT,pastry,2,1.80")])
    r1 = record_sale(store, found.member_id, sale)
    promos = f" ({', '.join(r1.promotions)})" if r1.promotions else ""
    _say(f"2. Sale {r1.receipt_no}: {_eur(sale.total)} -> +{r1.points_earned} {pn}{promos}; "
         f"{_member_line(store, found.member_id)}")
    if show_receipts:
        _receipt(store, r1.receipt_no)

    r2 = record_sale(store, found.member_id, make_sale([parse_line("FILTER,coffee,7,2.20")]))
    voucher = r2.vouchers[0]["code"] if r2.vouchers else "-"
    _say(f"3. Sale {r2.receipt_no}: 7 filter coffees -> coffee card complete, voucher {voucher}; "
         f"{_member_line(store, found.member_id)}")

    r3 = record_sale(store, found.member_id, make_sale([parse_line("CATERING,catering,1,320.00")]))
    _say(f"4. Sale {r3.receipt_no}: catering 320.00 EUR -> +{r3.points_earned} {pn}, tier "
         f"crossed: now {_member_line(store, found.member_id)}")

    r4 = record_sale(store, found.member_id, make_sale([parse_line("BEANS,retail,1,20.00")]))
    _say(f"5. Sale {r4.receipt_no}: 20.00 EUR -> +{r4.points_earned} {pn} "
         f"(earned at {r3.tier}, with its multiplier)")

    red = redeem_reward(store, found.member_id, "free-latte", found_by=found.found_by,
                        authorizer=authorizer)
    how = "approved OFFLINE" if red.approved_offline else "authorised online by the hub"
    _say(f"6. Redeemed '{red.reward_name}' for {red.points_spent} {pn}, {how}; "
         f"balance {red.balance}")
    if show_receipts:
        _receipt(store, red.receipt_no)

    void = void_receipt(store, r4.receipt_no)
    _say(f"7. Voided {r4.receipt_no}: {void.points_reversed} {pn} taken back; "
         f"{_member_line(store, found.member_id)}")
    print_pending(store)  # every slip and receipt of the walk-through, oldest first
    _basket(store, found, show_receipts)

    state, summary = member_view(store, found.member_id)
    refold = fold(own_events(store.conn, found.member_id))
    _say(f"8. Check: terminal shows {summary.balance} {pn}; a fresh fold of the ledger gives "
         f"{refold.balance} -> {'MATCH' if refold.balance == summary.balance else 'MISMATCH'}")

    if agent is not None and hub is not None:
        report = agent.sync_once()
        agent.client.close()
        _say(f"9. End-of-day sync: sent {report.pushed} events, received {report.pulled} "
             f"updates, {report.queued} still queued"
             + (f", error: {report.error}" if report.error else ""))
        response = httpx.get(f"{hub.url}/v1/admin/members/{found.member_id}",
                             headers={"Authorization": f"Bearer {hub.admin_token}"}, timeout=10)
        if response.status_code == 200:
            hub_balance = response.json().get("balance")
            _, after = member_view(store, found.member_id)
            _say(f"   Hub balance {hub_balance} {pn}, terminal {after.balance} {pn} -> "
                 f"{'SAME' if hub_balance == after.balance else 'DIFFERENT'}")
        else:
            _say(f"   (hub member lookup answered {response.status_code})")
    return camille.card_number


def run_demo(folder: Path, *, open_app: bool, reset: bool) -> int:
    if reset and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    fresh = not config.exists()
    if fresh:
        shutil.copy(EXAMPLE, config)
    settings = load_settings(str(config))
    origin = settings.terminal.origin
    hub: Hub | None = None
    try:
        token = ""
        try:
            if fresh or not (folder / "hub.token").exists():
                hub, token = start_hub(folder, config, origin)
                _write_private(folder / "hub.token", token + "\n" + hub.admin_token + "\n")
            else:
                token, admin = (folder / "hub.token").read_text().split()[:2]
                hub = Hub(*_spawn_hub(folder, config), admin_token=admin)
        except (RuntimeError, OSError) as exc:
            # The terminal works offline by design: the demo goes on without a hub.
            _say(f"(no hub for this demo: {str(exc).splitlines()[0]}; the terminal runs offline)")
            hub = None
        store = open_store(settings)
        if not is_initialised(store.db):
            whoami = fetch_whoami(hub.url, token) if hub else {}
            key = new_private_key()
            # As `pos init --hub` does: the till's card key is certified before it is used.
            certificate, hub_key = (request_certificate(hub.url, token, key, origin) if hub
                                    else (None, None))
            init_terminal(store.db, settings.terminal.store, settings.terminal.terminal,
                          hub_url=hub.url if hub else None, hub_token=token or None,
                          card_issuer=whoami.get("card_issuer"), signing_key=key,
                          certificate=certificate, hub_public_key=hub_key)
            where = f"hub at {hub.url}" if hub else "no hub"
            _say(f"Demo in {folder}: {where}, terminal {origin} ready")
            if hub is not None:
                _pull_catalogue(store)
            walk_through(store, hub, show_receipts=True)
        else:
            if hub is not None:
                store.db.execute("UPDATE identity SET hub_url = ?", (hub.url,))
            _say(f"Demo in {folder} (delete it, or use --reset, to start again)")
        _say(f"\nReceipts (ESC/POS bytes) are in {settings.printer.path}.")
        if hub is not None:
            card = store.conn.execute(
                "SELECT c.card_number FROM cards c JOIN members m USING (member_id) "
                "WHERE m.name = 'Camille Dupont' ORDER BY c.added_at LIMIT 1").fetchone()
            if card is not None:
                _say(f"Member page: {hub.url}/  (sign in with card {card[0]}, PIN "
                     f"{DEMO_PIN}; open while the demo runs)")
            _say(f"HQ back office: {hub.url}/hq  (user {DEMO_HQ_USER}, password "
                 f"{DEMO_HQ_PASSWORD})")
        if open_app and sys.stdin.isatty() and sys.stdout.isatty():
            # The demo's hub has no staff: the till runs open (pos_agent.staff).
            _say("Opening the terminal app... (Ctrl+Q quits; no staff set up, so no login "
                 "and F12 opens the manager screen)")
            try:
                from pos_agent.app import run_app
            except ImportError:
                _say("(the terminal app is not available in this build)")
                return 0
            agent = build_agent(settings, store)
            run_app(settings, agent=agent)
        else:
            pos = Path(sys.executable).parent / "pos"
            _say(f"Try it:  {pos} member <card number> --config {folder / 'config.toml'}")
        return 0
    finally:
        if hub is not None:
            hub.stop()


def main_demo(folder: str = "demo", open_app: bool = True, reset: bool = False) -> int:
    os.environ.pop("POS_CONFIG", None)
    return run_demo(Path(folder).resolve(), open_app=open_app, reset=reset)


__all__ = ["main_demo", "run_demo", "start_hub", "walk_through"]
