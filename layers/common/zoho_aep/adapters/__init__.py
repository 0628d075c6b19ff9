"""Adapters: everything that talks to the outside (AWS, Zoho, Adobe, HTTP, logs), each over one service."""
