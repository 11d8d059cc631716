"""The hub's storage operations, one module per thing stored. Each function takes an open
SQLAlchemy `Connection` (the caller owns the transaction) and builds its SQL with Core
expressions: no SQL text carries user data."""
