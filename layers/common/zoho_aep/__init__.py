"""zoho-aep: connect Zoho CRM orgs to Adobe Experience Platform from a SAM stack.

The package is in rooms by role, each importing only the rooms below it: ``edges`` (one module per
Lambda function, the CLI), ``wiring`` (builds the real adapters), ``usecases`` (connect, refresh,
provision, disconnect), ``adapters`` (AWS, Zoho, Adobe, HTTP, logs), ``config`` (defaults, bounds,
settings) and ``domain`` (values and rules). Imports are kept lazy where they are expensive, because
every import here is paid on a Lambda cold start. ``docs/architecture.md`` maps every module.
"""

__version__ = "0.3.0"
