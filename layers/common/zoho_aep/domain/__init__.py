"""The domain: values and rules that hold whatever the product talks to (no I/O, no other room imported)."""
