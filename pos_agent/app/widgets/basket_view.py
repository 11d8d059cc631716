"""The basket on screen: a table of the ticket's lines and discounts, the highlighted line
being the one the line keys (quantity, remove, price) act on, and the totals under it.

The domain prices the ticket (loyalty.basket.price); this only shows it."""

from __future__ import annotations

from rich.text import Text as RichText
from textual.widgets import DataTable

from loyalty.basket import Ticket
from loyalty.money import format_amount
from loyalty.program import Program
from loyalty.tender import Settlement
from loyalty.validation import escape_text


class BasketTable(DataTable):
    DEFAULT_CSS = """
    BasketTable { height: 1fr; min-height: 3; border: round $primary; }
    """
    can_focus = False  # the item input keeps the keys; Up/Down move the cursor (screen)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.line_nos: list[int | None] = []
        """Per table row: its basket line number (None: a discount row)."""

    def on_mount(self) -> None:
        self.add_column("#", width=3, key="no")
        # the item's name takes what the four number columns leave
        self.add_column("Item", width=max(20, self.app.size.width - 44), key="item")
        self.add_column("Qty", width=5, key="qty")
        self.add_column("Price", width=9, key="price")
        self.add_column("Total", width=10, key="total")

    def show(self, ticket: Ticket | None, exponent: int, select: int | None = None) -> None:
        """Show `ticket`'s lines, then its basket discounts; highlight line `select` (by
        basket line number), else keep the highlighted line if it is still there."""
        keep = select if select is not None else self.selected_line_no
        self.clear()
        self.line_nos = []
        if ticket is None:
            return
        money = lambda minor: format_amount(minor, exponent)  # noqa: E731
        for ln in ticket.lines:
            # names come from HQ's catalogue: shown as text, never as markup
            label = escape_text(ln.name)
            if ln.free_qty:
                label += f"  ({ln.free_qty} free)"
            if ln.override_reason:
                label += f"  (price: {escape_text(ln.override_reason)})"
            self.add_row(str(ln.line_no), RichText(label), str(ln.qty), money(ln.unit_price),
                         money(ln.total - ln.free_qty * ln.unit_price))
            self.line_nos.append(ln.line_no)
        for d in ticket.discounts:
            if d.kind == "free_product":
                continue  # shown on its line
            self.add_row("", RichText(f"  {escape_text(d.label)}", style="green"), "", "",
                         RichText(f"-{money(d.amount)}", style="green"))
            self.line_nos.append(None)
        rows = [i for i, no in enumerate(self.line_nos) if no == keep]
        if rows:
            self.move_cursor(row=rows[0])
        elif ticket.lines:
            self.move_cursor(row=len(ticket.lines) - 1)

    @property
    def selected_line_no(self) -> int | None:
        """The basket line the cursor is on (a discount row: the line above it)."""
        if not self.line_nos or self.cursor_row < 0:
            return None
        for no in reversed(self.line_nos[: self.cursor_row + 1]):
            if no is not None:
                return no
        return None


def totals_text(program: Program, ticket: Ticket | None, points: int = 0,
                settlement: Settlement | None = None) -> str:
    """Subtotal, discounts, tax, total (and what points pay, what is left), always shown."""
    if ticket is None or not ticket.lines:
        return "Basket empty: scan a product or type its name, SKU or an amount."
    e = program.currency_exponent
    parts = [f"Subtotal {format_amount(ticket.subtotal, e)}"]
    if ticket.discount_total:
        parts.append(f"[green]Discounts -{format_amount(ticket.discount_total, e)}[/green]")
    parts.append(f"Tax {format_amount(ticket.tax_total, e)}")
    parts.append(f"[b]TOTAL {format_amount(ticket.total, e)} {program.currency}[/b]")
    line = "   ".join(parts)
    if points and settlement is not None:
        line += (f"\nPaid with {program.points_name}: {points:,} "
                 f"({format_amount(settlement.points_value, e)}), "
                 f"[b]left to pay {format_amount(settlement.remaining, e)}[/b]")
    return line
