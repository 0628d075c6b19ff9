"""Settings: the functions' environment, read once at cold start and checked against ``parameters``.

A missing or malformed value raises :class:`ConfigError` naming the variable, so a misconfigured
function fails at init with a message an operator can act on, not halfway through a callback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..domain.datacenters import DataCenterTable
from ..domain.errors import ConfigError
from ..domain.hosts import check_origin, is_loopback_origin, origin_of
from . import parameters as p
from .parameters import Setting

DEFAULT_SCOPES = str(p.ZOHO_SCOPES.default)

# Whole-value matches only (``fullmatch``): with ``re.match``, "$" also matches before a final newline.
_PREFIX = re.compile(r"[A-Za-z0-9_+=.@-]+(?:/[A-Za-z0-9_+=.@-]+)*")
_SCOPE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9_]+)+")
_BUS = re.compile(r"[A-Za-z0-9._-]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]+")


def parse_scopes(text: str, var: str = "ZOHO_SCOPES") -> tuple[str, ...]:
    scopes = tuple(s.strip() for s in text.split(",") if s.strip())
    if not scopes:
        raise ConfigError(f"{var}: at least one scope is needed, e.g. {DEFAULT_SCOPES}")
    for scope in scopes:
        if not _SCOPE.fullmatch(scope):
            raise ConfigError(f"{var}: '{scope[:40]}' is not a Zoho scope such as ZohoCRM.modules.READ")
    return scopes


def check_secret_prefix(prefix: str, var: str = "SECRET_PREFIX") -> str:
    if not prefix or len(prefix) > 200 or not _PREFIX.fullmatch(prefix):
        raise ConfigError(f"{var}: letters, digits, '/_+=.@-' without leading/trailing '/', e.g. zoho-aep")
    return prefix


def check_callback_url(url: str, var: str = "CALLBACK_URL") -> str:
    """The exact ``redirect_uri`` registered with Zoho: absolute https (http only on loopback)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"{var}: not a URL") from exc
    origin = origin_of(url)
    if not origin or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{var}: must be the absolute https URL registered with Zoho as redirect URI")
    if origin.startswith("http://") and not is_loopback_origin(origin):
        raise ConfigError(f"{var}: must use https (plain http only for 127.0.0.x sandboxes)")
    return url


def parse_pkce_off(text: str, table: DataCenterTable, var: str = "ZOHO_PKCE_OFF_DATA_CENTERS") -> frozenset[str]:
    """The data centers whose links carry no PKCE challenge: ``none``, ``all``, or a list of the table's."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names in ([], ["none"]):
        return frozenset()
    if names == ["all"]:
        return frozenset(table)
    unknown = sorted(n[:12] for n in names if n not in table)
    if unknown:
        raise ConfigError(f"{var}: not data centers of the table: {', '.join(unknown[:3])} (e.g. cn,jp, or all)")
    return frozenset(names)


def _queue_url(env: Mapping[str, str], var: str) -> str | None:
    """An SQS queue URL (https; plain http only to a 127.0.0.x emulator), or None when unset."""
    url = env.get(var, "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    origin = origin_of(url)
    if not origin or len(parts.path) < 2 or parts.query or parts.fragment:
        raise ConfigError(
            f"{var}: must be an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/name"
        )
    check_origin(origin, var)
    return url


_MODULE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NAMESPACE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]")
# Zoho's Bulk Read exports every module except these (Zoho's limitations page).
NOT_BULK_READABLE = frozenset({"Notes", "Attachments", "Emails"})


def parse_modules(text: str, var: str = "EXPORT_MODULES") -> tuple[str, ...]:
    """Zoho module API names, comma-separated, each once, each one Bulk Read can export."""
    modules = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    if not modules:
        raise ConfigError(f"{var}: at least one Zoho module is needed, e.g. {p.EXPORT_MODULES.default}")
    for module in modules:
        if not _MODULE.fullmatch(module):
            raise ConfigError(f"{var}: '{module[:40]}' is not a Zoho module API name such as Leads")
        if module in NOT_BULK_READABLE:
            raise ConfigError(f"{var}: Zoho's Bulk Read cannot export {module}")
    return modules


def _choice(env: Mapping[str, str], setting: Setting) -> str:
    var, choices = str(setting.env), setting.choices or ()
    value = env.get(var, "").strip() or str(setting.default)
    if value not in choices:
        raise ConfigError(f"{var}: must be one of {', '.join(choices)}")
    return value


def _bucket(env: Mapping[str, str]) -> str | None:
    name = env.get("EXPORT_BUCKET", "").strip()
    if name and (not _BUCKET.fullmatch(name) or ".." in name):
        raise ConfigError("EXPORT_BUCKET: an S3 bucket name (3-63 lower-case letters, digits, dots and dashes)")
    return name or None


def _https_url(env: Mapping[str, str], var: str) -> str | None:
    """An absolute https URL (plain http only on loopback), or None when unset."""
    url = env.get(var, "").strip()
    if not url:
        return None
    origin = origin_of(url)
    if not origin:
        raise ConfigError(f"{var}: must be an absolute https URL")
    check_origin(origin, var)
    return url


def _int(env: Mapping[str, str], setting: Setting) -> int:
    """A whole number within the setting's bounds (its default when unset)."""
    var, default, low, high = str(setting.env), int(setting.default), setting.low, setting.high
    assert low is not None and high is not None  # nosec B101  # our own table, checked by a unit test
    raw = env.get(var, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{var}: must be a whole number") from exc
    if not low <= value <= high:
        raise ConfigError(f"{var}: must be between {low} and {high}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the functions read from their environment."""

    secret_prefix: str
    event_bus_name: str
    data_centers: DataCenterTable
    zoho_scopes: tuple[str, ...]
    callback_url: str | None
    adobe_ims_url: str
    adobe_platform_url: str
    kms_key_id: str | None = None
    refresh_window_minutes: int = int(p.REFRESH_WINDOW_MINUTES.default)
    refresh_concurrency: int = int(p.REFRESH_CONCURRENCY.default)
    schedule_minutes: int = int(p.REFRESH_SCHEDULE_MINUTES.default)
    # Fan-out of large cycles (``usecases.refresh.planner``): the planner needs both queues, a worker
    # only the result queue.
    refresh_shard_queue_url: str | None = None
    refresh_result_queue_url: str | None = None
    refresh_shard_size: int = int(p.REFRESH_SHARD_SIZE.default)
    # The Amazon S3 path (``usecases.export``).
    aep_source_path: str = str(p.AEP_SOURCE_PATH.default)
    export_modules: tuple[str, ...] = tuple(str(p.EXPORT_MODULES.default).split(","))
    export_bucket: str | None = None
    export_queue_url: str | None = None
    export_callback_url: str | None = None
    export_schedule_minutes: int = int(p.EXPORT_SCHEDULE_MINUTES.default)
    export_overlap_seconds: int = int(p.EXPORT_OVERLAP_SECONDS.default)
    export_org_concurrency: int = int(p.EXPORT_ORG_CONCURRENCY.default)
    export_downloads_per_minute: int = int(p.EXPORT_DOWNLOADS_PER_MINUTE.default)
    # The Amazon S3 path's AEP side (``usecases.s3_source``).
    aep_daily_run_budget: int = int(p.AEP_DAILY_RUN_BUDGET.default)
    aep_row_error_share: float = int(p.AEP_ROW_ERROR_THRESHOLD.default) / 100
    aep_watch_minutes: int = int(p.AEP_WATCH_MINUTES.default)
    aep_identity_namespace: str | None = None
    aws_region: str = "us-east-1"  # the bucket's region, for the S3 base connection's serviceUrl
    aep_s3_service_url: str | None = None  # where AEP reads the bucket, when not the region's endpoint
    aep_reader_user: str | None = None  # the IAM user AEP's key belongs to (the reader's rotation)
    pkce_off: frozenset[str] = frozenset()  # data centers whose links carry no PKCE challenge
    # ZOHO_USER_TOKEN_EVICTION=allow: accept a consent past one user's refresh-token limit (with a warning)
    allow_token_eviction: bool = False

    @property
    def connections_prefix(self) -> str:
        return f"{self.secret_prefix}/connections/"

    def pkce_for(self, location: str) -> bool:
        """Whether a link that starts for ``location`` carries a PKCE challenge (S256)."""
        return location not in self.pkce_off

    def require_callback_url(self) -> str:
        if not self.callback_url:
            raise ConfigError("CALLBACK_URL: not set; it is the redirect URI registered with Zoho")
        return self.callback_url


def check_local_sandbox(env: Mapping[str, str]) -> None:
    """With ``ZOHO_AEP_LOCAL_SANDBOX`` set (make local's env file), nothing may fall back to a real host.

    Every Zoho, Adobe and AWS endpoint the product uses must then be given, and be a 127.0.0.x one:
    a missing variable would otherwise mean the production default (a real Zoho, Adobe or AWS host).
    """
    if not env.get(str(p.LOCAL_SANDBOX.env), "").strip():
        return
    needed = [str(p.ZOHO_DATA_CENTERS_JSON.env), str(p.ADOBE_IMS_URL.env), str(p.ADOBE_PLATFORM_URL.env)]
    needed += [f"AWS_ENDPOINT_URL_{service}" for service in LOCAL_AWS_SERVICES]
    for var in needed:
        raw = env.get(var, "").strip()
        if not raw:
            raise ConfigError(f"{var}: not set, and the local sandbox must never fall back to a real host")
        if var == p.ZOHO_DATA_CENTERS_JSON.env:
            origins = sorted(DataCenterTable.from_json(raw).allowed_origins())
        else:
            origins = [origin_of(raw)]
        outside = [o for o in origins if not o or not is_loopback_origin(o)]
        if outside:
            raise ConfigError(f"{var}: the local sandbox allows only 127.0.0.x endpoints")


# The AWS services the product and its CLI call (boto3's AWS_ENDPOINT_URL_<SERVICE> names).
LOCAL_AWS_SERVICES = ("SECRETS_MANAGER", "EVENTBRIDGE", "SQS", "LAMBDA", "CLOUDFORMATION")


def load_settings(env: Mapping[str, str] | None = None, *, require_callback_url: bool = False) -> Settings:
    """Read and validate the environment (``os.environ`` unless given)."""
    env = os.environ if env is None else env
    check_local_sandbox(env)
    prefix = check_secret_prefix(env.get("SECRET_PREFIX", "").strip() or str(p.SECRET_PREFIX.default))
    bus = env.get("EVENT_BUS_NAME", "").strip() or str(p.EVENT_BUS_NAME.default)
    if not _BUS.fullmatch(bus):
        raise ConfigError("EVENT_BUS_NAME: an event bus name or ARN")
    dc_json = env.get("ZOHO_DATA_CENTERS_JSON", "").strip()
    table = DataCenterTable.from_json(dc_json) if dc_json else DataCenterTable.builtin()
    scopes = parse_scopes(env.get("ZOHO_SCOPES", "").strip() or DEFAULT_SCOPES)
    callback = env.get("CALLBACK_URL", "").strip() or None
    if callback is not None:
        callback = check_callback_url(callback)
    elif require_callback_url:
        raise ConfigError("CALLBACK_URL: not set; it is the redirect URI registered with Zoho")
    ims = check_origin(env.get("ADOBE_IMS_URL", "").strip() or str(p.ADOBE_IMS_URL.default), "ADOBE_IMS_URL")
    platform = check_origin(
        env.get("ADOBE_PLATFORM_URL", "").strip() or str(p.ADOBE_PLATFORM_URL.default), "ADOBE_PLATFORM_URL"
    )
    kms = env.get("SECRETS_KMS_KEY_ID", "").strip() or None
    window = _int(env, p.REFRESH_WINDOW_MINUTES)
    schedule = _int(env, p.REFRESH_SCHEDULE_MINUTES)
    if window <= schedule:
        # A token that is not due at one cycle must still be alive at the next one.
        raise ConfigError("REFRESH_WINDOW_MINUTES: must be larger than REFRESH_SCHEDULE_MINUTES")
    shard_queue = _queue_url(env, "REFRESH_SHARD_QUEUE_URL")
    result_queue = _queue_url(env, "REFRESH_RESULT_QUEUE_URL")
    if shard_queue and not result_queue:
        raise ConfigError(
            "REFRESH_RESULT_QUEUE_URL: needed with REFRESH_SHARD_QUEUE_URL (shard results come back there)"
        )
    return Settings(
        secret_prefix=prefix,
        event_bus_name=bus,
        data_centers=table,
        zoho_scopes=scopes,
        callback_url=callback,
        adobe_ims_url=ims,
        adobe_platform_url=platform,
        kms_key_id=kms,
        refresh_window_minutes=window,
        refresh_concurrency=_int(env, p.REFRESH_CONCURRENCY),
        schedule_minutes=schedule,
        refresh_shard_queue_url=shard_queue,
        refresh_result_queue_url=result_queue,
        refresh_shard_size=_int(env, p.REFRESH_SHARD_SIZE),
        aep_source_path=_choice(env, p.AEP_SOURCE_PATH),
        export_modules=parse_modules(env.get("EXPORT_MODULES", "").strip() or str(p.EXPORT_MODULES.default)),
        export_bucket=_bucket(env),
        export_queue_url=_queue_url(env, "EXPORT_QUEUE_URL"),
        export_callback_url=_https_url(env, "EXPORT_CALLBACK_URL"),
        export_schedule_minutes=_int(env, p.EXPORT_SCHEDULE_MINUTES),
        export_overlap_seconds=_int(env, p.EXPORT_OVERLAP_SECONDS),
        export_org_concurrency=_int(env, p.EXPORT_ORG_CONCURRENCY),
        export_downloads_per_minute=_int(env, p.EXPORT_DOWNLOADS_PER_MINUTE),
        aep_daily_run_budget=_int(env, p.AEP_DAILY_RUN_BUDGET),
        aep_row_error_share=_int(env, p.AEP_ROW_ERROR_THRESHOLD) / 100,
        aep_watch_minutes=_int(env, p.AEP_WATCH_MINUTES),
        aep_identity_namespace=_namespace(env),
        aws_region=_region(env),
        aep_s3_service_url=_https_url(env, "AEP_S3_SERVICE_URL"),
        aep_reader_user=_iam_user(env),
        pkce_off=parse_pkce_off(env.get(str(p.ZOHO_PKCE_OFF.env), ""), table),
        allow_token_eviction=_token_eviction(env),
    )


def _iam_user(env: Mapping[str, str]) -> str | None:
    raw = env.get(str(p.AEP_READER_USER.env), "").strip()
    if raw and not re.fullmatch(r"[A-Za-z0-9+=,.@_-]{1,64}", raw):
        raise ConfigError("AEP_READER_USER: an IAM user name")
    return raw or None


def _namespace(env: Mapping[str, str]) -> str | None:
    value = env.get(str(p.AEP_IDENTITY_NAMESPACE.env), "").strip()
    if value and not _NAMESPACE.fullmatch(value):
        raise ConfigError("AEP_IDENTITY_NAMESPACE: an identity namespace code (letters, digits, _ and -)")
    return value or None


def _region(env: Mapping[str, str]) -> str:
    value = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1").strip()
    if not _REGION.fullmatch(value):
        raise ConfigError("AWS_REGION: an AWS region name such as eu-west-1")
    return value


def _token_eviction(env: Mapping[str, str]) -> bool:
    var = str(p.ZOHO_USER_TOKEN_EVICTION.env)
    value = env.get(var, "").strip() or str(p.ZOHO_USER_TOKEN_EVICTION.default)
    if value not in ("refuse", "allow"):
        raise ConfigError(f"{var}: refuse or allow")
    return value == "allow"
