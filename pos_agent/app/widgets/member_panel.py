"""The member panel: name, tier, balance in the programme's points name, stamps, progress to
the next tier and reward, points expiring soon, vouchers."""

from __future__ import annotations

from textual.markup import escape

from loyalty.money import format_amount
from loyalty.summary import MemberSummary
from loyalty.validation import escape_text
from pos_agent.app.widgets.text import Text


def member_text(name: str, card: str | None, s: MemberSummary) -> str:
    pn = s.points_name
    # a name comes from any till or the web: shown as text, never as markup or a control
    name = escape(escape_text(name))
    lines = [f"[b]{name}[/b]  card {card or '-'}",
             f"Tier [b]{s.tier}[/b]   Balance [b]{s.balance:,} {pn}[/b]"
             + (f"   (owes {s.owes})" if s.owes else "")
             + (f"   [yellow]{s.held:,} held for review[/yellow]" if s.held else "")]
    if s.next_tier:
        lines.append(f"Spend {format_amount(s.spend_to_next_tier or 0)} more for {s.next_tier}")
    if s.next_reward:
        lines.append(f"{s.points_to_next_reward} {pn} to {s.next_reward}")
    if s.stamps:
        lines.append("   ".join(f"{p.name} {p.have}/{p.need}" for p in s.stamps))
    for points, day in s.expiring:
        lines.append(f"[yellow]{points} {pn} expire on {day.isoformat()}[/yellow]")
    if len(s.vouchers) <= 2:
        for code, reward, until in s.vouchers:
            lines.append(f"Voucher {code}: {reward} (until {until})")
    else:  # the panel keeps its height: the basket and the message stay on screen
        lines.append(f"{len(s.vouchers)} vouchers: "
                     + ", ".join(escape(reward) for _, reward, _ in s.vouchers[:3])
                     + (", ..." if len(s.vouchers) > 3 else "") + " (F2 lists them)")
    return "\n".join(lines)


class MemberPanel(Text):
    DEFAULT_CSS = """
    MemberPanel { border: round $accent; padding: 0 1; height: auto; min-height: 5;
                  max-height: 10; }
    """
