"""The lifecycle events the product emits (source ``zoho-aep``): their detail-types, a contract.

Details are built by the use cases from names, ids and codes only: no event ever carries a token.
"""

from __future__ import annotations

SOURCE = "zoho-aep"
CONNECTION_AUTHORIZED = "Zoho connection authorized"
BASE_CONNECTION_PROVISIONED = "AEP base connection provisioned"
PROVISIONING_FAILED = "AEP provisioning failed"
NEEDS_REAUTHORIZATION = "Zoho connection needs reauthorization"
CONNECTION_RECOVERED = "Zoho connection recovered"
EXPORT_COMPLETED = "Zoho export completed"
EXPORT_FAILED = "Zoho export failed"
# The export carries columns AEP does not map yet: provisioning evolves the schema, then the files go.
EXPORT_COLUMNS_CHANGED = "Zoho export columns changed"
AEP_RUN_FAILED = "AEP dataflow run failed"
READER_KEY_ROTATED = "AEP reader key rotated"

DETAIL_TYPES = (
    CONNECTION_AUTHORIZED,
    BASE_CONNECTION_PROVISIONED,
    PROVISIONING_FAILED,
    NEEDS_REAUTHORIZATION,
    CONNECTION_RECOVERED,
    EXPORT_COMPLETED,
    EXPORT_FAILED,
    EXPORT_COLUMNS_CHANGED,
    AEP_RUN_FAILED,
    READER_KEY_ROTATED,
)
