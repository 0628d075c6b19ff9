"""The suites' shared constants: the test stack's prefix, Zoho client, callback URL and state key."""

PREFIX = "zoho-aep"
CLIENT_ID = "1000.TESTCLIENT0001"
CLIENT_SECRET = "zoho-client-secret-shared-0001"
EU_SECRET = "zoho-client-secret-eu-only-0002"
CALLBACK_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/oauth/callback"
STATE_KEY = "state-key-for-tests-0123456789abcdef0123456789abcdef"
