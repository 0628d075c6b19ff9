"""Everything that talks to Zoho: the data-center table and the OAuth/CRM client."""
