"""The hub's HTTP API, one router per area: `sync` (terminals), `online` (the web shop
channel), `admin` (HQ). Request and answer bodies are in `models`; authentication in
`deps`; every error becomes `{"error": code, "detail": sentence}` in `errors`."""
