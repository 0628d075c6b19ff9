"""Every setting's default and bounds, in one place: the functions, the template and the docs follow it.

``settings`` reads the environment with these defaults and bounds; a test checks that
``template.yaml`` declares the same defaults, minimums and maximums for the stack parameters that set
them, and ``docs/reference.md``'s configuration table is generated from this table (``make docs``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One setting: the variable the functions read and/or the stack parameter that sets it."""

    env: str | None  # None: a stack parameter only (it shapes resources, no function reads it)
    parameter: str | None  # None: not a stack parameter (tests, sandboxes, or set by the template itself)
    default: str | int
    meaning: str
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] | None = None


SECRET_PREFIX = Setting(
    "SECRET_PREFIX",
    "SecretPrefix",
    "zoho-aep",
    "Prefix of every secret name: {prefix}/zoho-client, .../connections/NAME",
)
EVENT_BUS_NAME = Setting(
    "EVENT_BUS_NAME",
    "EventBusName",
    "default",
    "The EventBridge bus lifecycle events reach (a name). The template points EVENT_BUS_NAME at the stack's "
    "own bus, which only its functions may put events on and which forwards each one to EventBusName",
)
ZOHO_SCOPES = Setting(
    "ZOHO_SCOPES",
    "ZohoScopes",
    "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.settings.fields.READ,ZohoCRM.users.READ,ZohoCRM.org.READ,"
    "ZohoCRM.bulk.READ",
    "Comma-separated Zoho scopes that connect links ask for (org.READ identifies the org; the export needs bulk.READ "
    "and settings.fields.READ)",
)
ZOHO_PKCE_OFF = Setting(
    "ZOHO_PKCE_OFF_DATA_CENTERS",
    "ZohoPkceOffDataCenters",
    "none",
    "Zoho data centers whose connect links carry no PKCE challenge, should one refuse it (comma-separated, "
    "or all); none: every link uses PKCE (S256). zoho-aep link reads it from the stack's output",
)
ZOHO_USER_TOKEN_EVICTION = Setting(
    "ZOHO_USER_TOKEN_EVICTION",
    "ZohoUserTokenEviction",
    "refuse",
    "refuse: a consent that would leave one Zoho user with 20 connections (Zoho keeps 20 refresh tokens per "
    "user; the next would delete the oldest) is refused (zoho-user-token-limit); allow: accepted, with a warning",
)
CALLBACK_URL = Setting(
    "CALLBACK_URL", "CallbackBaseUrl", "", "The exact redirect URI registered with Zoho (the stack derives it)"
)
SECRETS_KMS_KEY_ID = Setting(
    "SECRETS_KMS_KEY_ID", "SecretsKmsKeyArn", "", "Customer-managed KMS key for new connection secrets (empty: AWS's)"
)
ADOBE_IMS_URL = Setting("ADOBE_IMS_URL", None, "https://ims-na1.adobelogin.com", "Adobe IMS origin")
ADOBE_PLATFORM_URL = Setting(
    "ADOBE_PLATFORM_URL", None, "https://platform.adobe.io", "Adobe Experience Platform API origin"
)
ZOHO_DATA_CENTERS_JSON = Setting(
    "ZOHO_DATA_CENTERS_JSON",
    None,
    "",
    "Unset in production. Sandboxes and tests only: replaces the built-in data-center table",
)
REFRESH_SCHEDULE_MINUTES = Setting(
    "REFRESH_SCHEDULE_MINUTES",
    "RefreshScheduleMinutes",
    10,
    "Minutes between two token refresh cycles (must be smaller than the window)",
    low=2,
    high=30,
)
REFRESH_WINDOW_MINUTES = Setting(
    "REFRESH_WINDOW_MINUTES",
    "RefreshWindowMinutes",
    20,
    "A connection is refreshed when its access token (1 hour) expires within this many minutes",
    low=3,
    high=55,
)
REFRESH_CONCURRENCY = Setting(
    "REFRESH_CONCURRENCY",
    "RefreshConcurrency",
    8,
    "Calls to Zoho in flight at once within one refresh invocation",
    low=1,
    high=64,
)
REFRESH_SHARD_SIZE = Setting(
    "REFRESH_SHARD_SIZE",
    "RefreshShardSize",
    1000,
    "A cycle with more due connections than this is sent in shards of this size to worker invocations",
    low=100,
    high=5000,
)
REFRESH_SHARD_WORKERS = Setting(
    None,
    "RefreshShardWorkers",
    10,
    "Worker invocations refreshing shards at once (the shard queue's maximum concurrency)",
    low=2,
    high=100,
)
AEP_SOURCE_PATH = Setting(
    "AEP_SOURCE_PATH",
    "AepSourcePath",
    "auto",
    "How records reach AEP: auto (Adobe's Zoho CRM source while Adobe serves it, else S3), zoho-crm, amazon-s3",
    choices=("auto", "zoho-crm", "amazon-s3"),
)
EXPORT_MODULES = Setting(
    "EXPORT_MODULES",
    "ExportModules",
    "Leads,Contacts,Accounts,Deals",
    "Comma-separated Zoho module API names the S3 path exports (any module Bulk Read supports)",
)
EXPORT_SCHEDULE_MINUTES = Setting(
    "EXPORT_SCHEDULE_MINUTES",
    "ExportScheduleMinutes",
    180,
    "Minutes between two exports of every S3-path connection",
    low=15,
    high=1440,
)
EXPORT_RETENTION_DAYS = Setting(
    None,
    "ExportRetentionDays",
    30,
    "Days an exported file stays in the bucket (AEP ingests it long before)",
    low=1,
    high=3650,
)
EXPORT_WORKERS = Setting(
    None,
    "ExportWorkers",
    4,
    "Export units (one connection and module) running at once across the stack",
    low=2,
    high=50,
)
EXPORT_ORG_CONCURRENCY = Setting(
    "EXPORT_ORG_CONCURRENCY",
    "ExportOrgConcurrency",
    2,
    "Export units of one Zoho org running at once (Zoho limits concurrent calls per org)",
    low=1,
    high=10,
)
EXPORT_DOWNLOADS_PER_MINUTE = Setting(
    "EXPORT_DOWNLOADS_PER_MINUTE", None, 8, "Bulk Read downloads per org per minute (Zoho allows 10)", low=1, high=10
)
EXPORT_OVERLAP_SECONDS = Setting(
    "EXPORT_OVERLAP_SECONDS",
    None,
    600,
    "How far a delta reaches back before the last window's end (delivery is at least once)",
    low=0,
    high=86400,
)
EXPORT_BUCKET = Setting("EXPORT_BUCKET", None, "", "The export bucket (set by the template)")
EXPORT_QUEUE_URL = Setting("EXPORT_QUEUE_URL", None, "", "The export unit queue (set by the template)")
EXPORT_CALLBACK_URL = Setting(
    "EXPORT_CALLBACK_URL", None, "", "Where Zoho posts Bulk Read job callbacks (set by the template)"
)
AEP_DAILY_RUN_BUDGET = Setting(
    "AEP_DAILY_RUN_BUDGET",
    "AepDailyRunBudget",
    90,
    "Runs a day the S3 path's dataflows may make together in one AEP sandbox (AEP's guardrail: 90 Profile "
    "batches a day per sandbox); provisioning refuses a connection that would go past it",
    low=1,
    high=10000,
)
AEP_ROW_ERROR_THRESHOLD = Setting(
    "AEP_ROW_ERROR_THRESHOLD",
    "AepRowErrorThreshold",
    5,
    "Percent of a dataflow run's rows AEP may refuse before the run counts as failed (ingestion-failing)",
    low=0,
    high=100,
)
AEP_WATCH_MINUTES = Setting(
    "AEP_WATCH_MINUTES",
    "AepWatchMinutes",
    60,
    "Minutes between two looks at the S3 path's dataflow runs (failures, row errors)",
    low=15,
    high=1440,
)
AEP_IDENTITY_NAMESPACE = Setting(
    "AEP_IDENTITY_NAMESPACE",
    "AepIdentityNamespace",
    "",
    "An AEP identity namespace code: Leads and Contacts datasets are then Profile-enabled, the Zoho record id "
    "their primary identity (empty: data lake datasets only)",
)
AEP_S3_SERVICE_URL = Setting(
    "AEP_S3_SERVICE_URL",
    None,
    "",
    "Where AEP's S3 source reads the export bucket (default: the region's S3 endpoint; make local: moto's)",
)
AEP_READER_KEY_ROTATION_DAYS = Setting(
    None,
    "AepReaderKeyRotationDays",
    30,
    "Days between two rotations of the access key AEP reads the export bucket with",
    low=1,
    high=365,
)
AEP_READER_USER = Setting(
    "AEP_READER_USER",
    None,
    "",
    "The IAM user whose access key AEP's S3 source holds (set by the template on the reader's rotation function)",
)
ALARM_EMAIL = Setting(None, "AlarmEmail", "", "An address subscribed to the alarm topic (confirm the mail AWS sends)")
LOG_RETENTION_DAYS = Setting(None, "LogRetentionDays", 90, "How long function and API access logs are kept (days)")
REFRESH_SHARD_QUEUE_URL = Setting(
    "REFRESH_SHARD_QUEUE_URL", None, "", "The planner's shard queue (set by the template on the refresh function)"
)
REFRESH_RESULT_QUEUE_URL = Setting(
    "REFRESH_RESULT_QUEUE_URL", None, "", "Where shard results come back (set by the template on planner and workers)"
)
REFRESH_FUNCTION = Setting(
    "ZOHO_AEP_REFRESH_FUNCTION",
    None,
    "",
    "CLI only: the refresh function `zoho-aep refresh` invokes without --stack or --function (make local sets it)",
)
PROVISIONING_FUNCTION = Setting(
    "ZOHO_AEP_PROVISIONING_FUNCTION",
    None,
    "",
    "CLI only: the provisioning function `zoho-aep provision` invokes without --stack or --function",
)
EXPORT_FUNCTION = Setting(
    "ZOHO_AEP_EXPORT_FUNCTION",
    None,
    "",
    "CLI only: the export function `zoho-aep export` invokes without --stack or --function",
)
LOCAL_SANDBOX = Setting(
    "ZOHO_AEP_LOCAL_SANDBOX",
    None,
    "",
    "Set by make local's env file: every Zoho, Adobe and AWS endpoint must then be a 127.0.0.x one, never a real host",
)

ALL = (
    SECRET_PREFIX,
    EVENT_BUS_NAME,
    ZOHO_SCOPES,
    ZOHO_PKCE_OFF,
    ZOHO_USER_TOKEN_EVICTION,
    CALLBACK_URL,
    SECRETS_KMS_KEY_ID,
    ADOBE_IMS_URL,
    ADOBE_PLATFORM_URL,
    ZOHO_DATA_CENTERS_JSON,
    REFRESH_SCHEDULE_MINUTES,
    REFRESH_WINDOW_MINUTES,
    REFRESH_CONCURRENCY,
    REFRESH_SHARD_SIZE,
    REFRESH_SHARD_WORKERS,
    AEP_SOURCE_PATH,
    EXPORT_MODULES,
    EXPORT_SCHEDULE_MINUTES,
    EXPORT_RETENTION_DAYS,
    EXPORT_WORKERS,
    EXPORT_ORG_CONCURRENCY,
    EXPORT_DOWNLOADS_PER_MINUTE,
    EXPORT_OVERLAP_SECONDS,
    EXPORT_BUCKET,
    EXPORT_QUEUE_URL,
    EXPORT_CALLBACK_URL,
    AEP_DAILY_RUN_BUDGET,
    AEP_ROW_ERROR_THRESHOLD,
    AEP_WATCH_MINUTES,
    AEP_IDENTITY_NAMESPACE,
    AEP_S3_SERVICE_URL,
    AEP_READER_KEY_ROTATION_DAYS,
    AEP_READER_USER,
    ALARM_EMAIL,
    LOG_RETENTION_DAYS,
    REFRESH_SHARD_QUEUE_URL,
    REFRESH_RESULT_QUEUE_URL,
    REFRESH_FUNCTION,
    PROVISIONING_FUNCTION,
    EXPORT_FUNCTION,
    LOCAL_SANDBOX,
)

# A link whose signature fails under the cached state key may be signed with a key rotated in since:
# the callback reads the key again, at most this often, so new links work within seconds of a
# rotation and forged states cannot make it read Secrets Manager on every request.
STATE_KEY_RECHECK_SECONDS = 5.0

DEFAULT_ADOBE_SCOPES = "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext"


def markdown_table() -> str:
    """The configuration table of ``docs/reference.md`` (generated: ``make docs``)."""
    rows = [
        "| variable | stack parameter | default | bounds | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for setting in ALL:
        variable = f"`{setting.env}`" if setting.env else "-"
        parameter = f"`{setting.parameter}`" if setting.parameter else "-"
        default = f"`{setting.default}`" if setting.default != "" else "(empty)"
        bounds = f"{setting.low}-{setting.high}" if setting.low is not None else " / ".join(setting.choices or ())
        rows.append(f"| {variable} | {parameter} | {default} | {bounds} | {setting.meaning} |")
    return "\n".join(rows)
