"""Local stand-ins for Zoho's accounts/CRM hosts and Adobe's IMS/Flow Service, quirks included.

They power the offline tests, ``make demo`` and ``make local``; nothing here ships in the layer.
"""
