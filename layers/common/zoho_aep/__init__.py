"""zoho-aep: connect Zoho CRM orgs to Adobe Experience Platform from a SAM stack.

The package is organised by what it talks to (``zoho``, ``adobe``, ``store``, ``events``, ``http``)
and by use case (``connect``, ``refresh``, ``provision``). Use cases take their adapters as
arguments so tests can hand in fakes. Imports are kept lazy where they are expensive, because every
import here is paid on a Lambda cold start.
"""

__version__ = "0.1.0"
