"""A Zoho module as AEP sees it on the Amazon S3 path: XDM fields, the Schema Registry and Catalog
bodies, and the Data Prep mappings from the exported CSV columns.

Every exported column becomes a field of the module's field group, under the tenant's namespace:
``_{tenant}.zohoCrm.{column}`` (Zoho's API names are valid XDM names). A column's XDM type comes from
Zoho's field metadata the first time it is seen and never changes after (AEP allows only additive
changes once data is ingested), so the recorded types are handed back in on every evolution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .export import DELETED_COLUMN, ID_COLUMN, MODIFIED_COLUMN, ZohoField

# XDM kinds a column can have (what the field group declares, what the mapping converts to).
STRING, INTEGER, NUMBER, BOOLEAN, DATE, DATE_TIME = "string", "integer", "number", "boolean", "date", "date-time"
KINDS = frozenset({STRING, INTEGER, NUMBER, BOOLEAN, DATE, DATE_TIME})

# Zoho data types (as its field metadata names them) -> XDM kinds. Anything else exported is a string.
_KIND_OF = {
    "integer": INTEGER,
    "bigint": INTEGER,
    "long": INTEGER,
    "double": NUMBER,
    "currency": NUMBER,
    "percent": NUMBER,
    "decimal": NUMBER,
    "boolean": BOOLEAN,
    "date": DATE,
    "datetime": DATE_TIME,
}

# How Zoho writes them in a Bulk Read CSV (ISO 8601 with the org's offset, no milliseconds): Data
# Prep's automatic patterns do not include it, so the mapping names it (Java DateTimeFormatter letters).
ZOHO_DATETIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ssXXX"
ZOHO_DATE_FORMAT = "yyyy-MM-dd"

TENANT_OBJECT = "zohoCrm"  # the object under _{tenant} that holds a module's fields
REQUIRED = (ID_COLUMN,)  # a row without its record id is refused (a row error), not stored

XED_FULL = "application/vnd.adobe.xed-full+json;version=1"
XED = "application/vnd.adobe.xed+json;version=1"
RECORD_BEHAVIOR = "https://ns.adobe.com/xdm/data/record"
PROFILE_CLASS = "https://ns.adobe.com/xdm/context/profile"


@dataclass(frozen=True)
class XdmField:
    """One exported column as an XDM field."""

    column: str
    kind: str

    @property
    def path(self) -> str:
        """Where the field sits, relative to the tenant object (``zohoCrm.Email``)."""
        return f"{TENANT_OBJECT}.{self.column}"


def kind_of(field: ZohoField) -> str:
    """The XDM kind of a Zoho field (formula and rollup fields by the type they compute)."""
    data_type = field.return_type if field.data_type in ("formula", "rollup_summary") and field.return_type else None
    return _KIND_OF.get(data_type or field.data_type, STRING)


def xdm_fields(columns: Sequence[str], fields: Iterable[ZohoField], recorded: Mapping[str, str]) -> list[XdmField]:
    """The module's fields, in the export's column order, then ``zoho_deleted``.

    ``recorded`` holds the kinds already in AEP: they win over today's metadata (a type never changes
    once data is in), and they type columns Zoho no longer lists (a removed field stays, empty).
    """
    meta = {f.api_name: f for f in fields}
    out: list[XdmField] = []
    for column in columns:
        if column in recorded and recorded[column] in KINDS:
            kind = recorded[column]
        elif column == ID_COLUMN:
            kind = STRING
        elif column in meta:
            kind = kind_of(meta[column])
        else:
            kind = STRING
        out.append(XdmField(column, kind))
    out.append(XdmField(DELETED_COLUMN, BOOLEAN))
    return out


def _property(item: XdmField) -> dict[str, Any]:
    body: dict[str, Any] = {"title": item.column.replace("_", " "), "type": "string"}
    if item.kind in (INTEGER, NUMBER, BOOLEAN):
        body["type"] = item.kind
    elif item.kind in (DATE, DATE_TIME):
        body["format"] = item.kind
    if item.column == ID_COLUMN:
        body["title"], body["description"] = "Zoho record id", "The record's id in Zoho CRM."
    elif item.column == DELETED_COLUMN:
        body["title"], body["description"] = "Deleted in Zoho", "true on a tombstone: the record was deleted."
    elif item.column == MODIFIED_COLUMN:
        body["description"] = "When the record last changed in Zoho (on a tombstone: when it was deleted)."
    return body


def record_class_body(title: str) -> dict[str, Any]:
    """The tenant class every module's schema is based on (a record: the latest version per id)."""
    return {
        "type": "object",
        "title": title,
        "description": "A Zoho CRM record exported by zoho-aep.",
        "allOf": [{"$ref": RECORD_BEHAVIOR}],
    }


def field_group_body(tenant: str, title: str, class_id: str, fields: Sequence[XdmField]) -> dict[str, Any]:
    """``POST /tenant/fieldgroups``: the module's columns under ``_{tenant}.zohoCrm``."""
    properties = {item.column: _property(item) for item in fields}
    inner = {"type": "object", "required": list(REQUIRED), "properties": properties}
    return {
        "type": "object",
        "title": title,
        "description": "Zoho CRM fields, as exported by zoho-aep (generated from Zoho's field metadata).",
        "meta:intendedToExtend": [class_id],
        "definitions": {
            "zoho": {"properties": {f"_{tenant}": {"type": "object", "properties": {TENANT_OBJECT: inner}}}}
        },
        "allOf": [{"$ref": "#/definitions/zoho"}],
    }


def field_group_additions(tenant: str, fields: Sequence[XdmField]) -> list[dict[str, Any]]:
    """``PATCH /tenant/fieldgroups/{id}``: new fields only (AEP takes additive changes only)."""
    base = f"/definitions/zoho/properties/_{tenant}/properties/{TENANT_OBJECT}/properties"
    return [{"op": "add", "path": f"{base}/{item.column}", "value": _property(item)} for item in fields]


def schema_body(title: str, class_id: str, field_group_id: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "description": "A Zoho CRM module exported by zoho-aep over the Amazon S3 source.",
        "allOf": [{"$ref": class_id}, {"$ref": field_group_id}],
    }


def dataset_body(name: str, schema_id: str, *, profile: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "schemaRef": {"id": schema_id, "contentType": XED}}
    if profile:
        body["tags"] = {"unifiedIdentity": ["enabled:true"], "unifiedProfile": ["enabled:true", "isUpsert:true"]}
    return body


def identity_descriptor_body(tenant: str, schema_id: str, namespace: str) -> dict[str, Any]:
    """The record id as the schema's primary identity (profile-enabled datasets only)."""
    return {
        "@type": "xdm:descriptorIdentity",
        "xdm:sourceSchema": schema_id,
        "xdm:sourceVersion": 1,
        "xdm:sourceProperty": f"/_{tenant}/{TENANT_OBJECT}/{ID_COLUMN}",
        "xdm:namespace": namespace,
        "xdm:property": "xdm:code",
        "xdm:isPrimary": True,
    }


def mapping(tenant: str, item: XdmField) -> dict[str, str]:
    """One Data Prep mapping: the CSV column to its field; dates parsed with Zoho's own format."""
    destination = f"_{tenant}.{item.path}"
    if item.kind == DATE_TIME:
        return {"sourceType": "EXPRESSION", "source": f'date({item.column}, "{ZOHO_DATETIME_FORMAT}")',
                "destination": destination}  # fmt: skip
    if item.kind == DATE:
        return {"sourceType": "EXPRESSION", "source": f'date({item.column}, "{ZOHO_DATE_FORMAT}")',
                "destination": destination}  # fmt: skip
    return {"sourceType": "ATTRIBUTE", "source": item.column, "destination": destination}


def mapping_set_body(tenant: str, schema_id: str, fields: Sequence[XdmField]) -> dict[str, Any]:
    """``POST`` / ``PUT /conversion/mappingSets``: every column mapped (the same body makes a new version)."""
    return {
        "outputSchema": {"schemaRef": {"id": schema_id, "contentType": XED_FULL}},
        "mappings": [mapping(tenant, item) for item in fields],
    }
