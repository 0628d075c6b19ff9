"""Zoho: the OAuth token endpoints and the CRM calls the product makes."""
