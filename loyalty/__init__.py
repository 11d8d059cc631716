"""The loyalty domain: money, program rules, the ledger and its fold.

Pure code: no I/O, no SQL, no HTTP. The terminal (`pos_agent`) and the hub (`hub`) call
the same functions with the same program version, so they cannot disagree.

    >>> from loyalty.program import load_program_text
    >>> from loyalty.fold import fold
"""
