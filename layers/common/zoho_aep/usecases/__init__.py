"""Use cases: what the product does (connect, refresh, provision, disconnect), over adapters handed in."""
