"""A Zoho module as XDM: kinds, field group, additive patches, mapping sets with Zoho's date format."""

from __future__ import annotations

from zoho_aep.domain.export import ZohoField
from zoho_aep.domain.xdm import (
    BOOLEAN,
    DATE,
    DATE_TIME,
    INTEGER,
    NUMBER,
    STRING,
    XdmField,
    field_group_additions,
    field_group_body,
    identity_descriptor_body,
    kind_of,
    mapping_set_body,
    xdm_fields,
)

FIELDS = [
    ZohoField("Email", "email"),
    ZohoField("No_of_Employees", "integer"),
    ZohoField("Annual_Revenue", "currency"),
    ZohoField("Email_Opt_Out", "boolean"),
    ZohoField("Closing_Date", "date"),
    ZohoField("Modified_Time", "datetime"),
    ZohoField("Score", "formula", return_type="double"),
    ZohoField("Interests", "multiselectpicklist"),
]
COLUMNS = ["id", "Email", "No_of_Employees", "Annual_Revenue", "Email_Opt_Out", "Closing_Date", "Modified_Time",
           "Score", "Interests"]  # fmt: skip


def test_zoho_types_become_xdm_kinds_formulas_by_what_they_compute() -> None:
    kinds = {f.api_name: kind_of(f) for f in FIELDS}
    assert kinds == {
        "Email": STRING,
        "No_of_Employees": INTEGER,
        "Annual_Revenue": NUMBER,
        "Email_Opt_Out": BOOLEAN,
        "Closing_Date": DATE,
        "Modified_Time": DATE_TIME,
        "Score": NUMBER,
        "Interests": STRING,
    }


def test_fields_follow_the_export_columns_then_zoho_deleted() -> None:
    fields = xdm_fields(COLUMNS, FIELDS, {})
    assert [f.column for f in fields] == [*COLUMNS, "zoho_deleted"]
    assert fields[0] == XdmField("id", STRING) and fields[-1] == XdmField("zoho_deleted", BOOLEAN)


def test_a_recorded_kind_wins_and_a_removed_field_keeps_it() -> None:
    recorded = {"Annual_Revenue": STRING, "Gone_Field": INTEGER}
    fields = {f.column: f.kind for f in xdm_fields([*COLUMNS, "Gone_Field"], FIELDS, recorded)}
    assert fields["Annual_Revenue"] == STRING  # Zoho changed the type: AEP keeps what it has
    assert fields["Gone_Field"] == INTEGER  # no longer in Zoho's metadata: stays, empty
    assert xdm_fields(["id", "Unknown"], [], {})[1] == XdmField("Unknown", STRING)


def test_the_field_group_nests_every_column_under_the_tenant_with_the_id_required() -> None:
    body = field_group_body("acme", "Zoho CRM Leads (acme) fields", "https://ns/class", xdm_fields(COLUMNS, FIELDS, {}))
    inner = body["definitions"]["zoho"]["properties"]["_acme"]["properties"]["zohoCrm"]
    assert body["meta:intendedToExtend"] == ["https://ns/class"]
    assert inner["required"] == ["id"]
    assert inner["properties"]["Modified_Time"] == {
        "title": "Modified Time",
        "type": "string",
        "format": "date-time",
        "description": "When the record last changed in Zoho (on a tombstone: when it was deleted).",
    }
    assert inner["properties"]["No_of_Employees"]["type"] == "integer"
    assert inner["properties"]["zoho_deleted"]["type"] == "boolean"


def test_an_evolution_only_adds() -> None:
    ops = field_group_additions("acme", [XdmField("Lead_Score", INTEGER)])
    assert ops == [
        {
            "op": "add",
            "path": "/definitions/zoho/properties/_acme/properties/zohoCrm/properties/Lead_Score",
            "value": {"title": "Lead Score", "type": "integer"},
        }
    ]


def test_mappings_parse_zoho_dates_with_their_own_format_and_copy_the_rest() -> None:
    body = mapping_set_body("acme", "https://ns/schema", xdm_fields(COLUMNS, FIELDS, {}))
    by = {m["destination"]: m for m in body["mappings"]}
    assert body["outputSchema"]["schemaRef"]["id"] == "https://ns/schema"
    assert by["_acme.zohoCrm.Modified_Time"] == {
        "sourceType": "EXPRESSION",
        "source": "date(Modified_Time, \"yyyy-MM-dd'T'HH:mm:ssXXX\")",
        "destination": "_acme.zohoCrm.Modified_Time",
    }
    assert by["_acme.zohoCrm.Closing_Date"]["source"] == 'date(Closing_Date, "yyyy-MM-dd")'
    assert by["_acme.zohoCrm.Email"] == {
        "sourceType": "ATTRIBUTE",
        "source": "Email",
        "destination": "_acme.zohoCrm.Email",
    }
    assert len(body["mappings"]) == len(COLUMNS) + 1


def test_the_identity_descriptor_points_at_the_record_id() -> None:
    body = identity_descriptor_body("acme", "https://ns/schema", "ZohoCRM")
    assert (body["xdm:sourceProperty"], body["xdm:namespace"], body["xdm:isPrimary"]) == (
        "/_acme/zohoCrm/id",
        "ZohoCRM",
        True,
    )
