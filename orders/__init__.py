"""Orders: tenants and API keys, orders, their events, ingestion and dead letters."""
