"""Every error the loyalty domain raises.

    LoyaltyError
     ├── ProgramError            the program configuration is invalid (names the key)
     ├── MoneyError              an amount that is not a valid sum of money
     ├── SaleError               a sale that cannot be recorded (bad line, negative total)
     ├── RedemptionError         a redemption refused; `.code` says why
     ├── ReversalError           a void/refund that cannot be done (already voided, too much)
 ├── TenderError             a payment that cannot be taken (not enough, change from a card)
     ├── LedgerError             an event that breaks the ledger's rules (bad chain, bad kind)
     ├── QRError                 a member QR payload that is malformed or forged
     └── TextError               a name or free text holding a control character

Callers at the edges (CLI, HTTP API, app) catch `LoyaltyError` and show `str(exc)`,
which is always one sentence a cashier or a manager can act on.
"""

from __future__ import annotations


class LoyaltyError(Exception):
    """Base class of every domain error."""


class ProgramError(LoyaltyError):
    """The program configuration is invalid. `key` is the dotted path of the bad setting."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)


class MoneyError(LoyaltyError):
    """A value that is not a valid amount of money."""


class SaleError(LoyaltyError):
    """A sale that cannot be recorded."""


class RedemptionError(LoyaltyError):
    """A redemption was refused. `code` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class ReversalError(LoyaltyError):
    """A void or refund that cannot be done."""


class TenderError(LoyaltyError):
    """A payment that cannot be taken (loyalty.tender); the message says what to do."""


class LedgerError(LoyaltyError):
    """An event that breaks the ledger's rules."""


class QRError(LoyaltyError):
    """A member QR payload that is malformed or whose signature does not match."""


class TextError(LoyaltyError, ValueError):
    """A name or free text holding a character no input may hold (a control character, a
    bidirectional override). A ValueError too, so request models report it as a field
    error."""
