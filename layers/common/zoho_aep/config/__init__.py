"""Configuration: every default and bound in one table (``parameters``), read and checked once (``settings``)."""
