"""The hub's request edges (issue 16, part 6): digits are ASCII, dates YYYY-MM-DD, booleans
and integers are JSON's own, control characters are refused in names, free text, order
ids and every URL parameter; and the OpenAPI document declares the error body and every
status the hub answers."""

from __future__ import annotations

import uuid

import pytest

from .conftest import Hub, new_terminal

pytestmark = pytest.mark.slow
ARABIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667"
                       "\u0668\u0669")


def _enrol(hub: Hub, **fields) -> dict:
    with hub.online() as c:
        r = c.post("/v1/online/members", json={"name": "Web Ann",
                                               "email": f"{uuid.uuid4().hex[:8]}@example.org",
                                               **fields})
    return r


@pytest.mark.parametrize("name", ["Ann\x1b[2J", "Ann\u202eeeL", "Ann\x85", "Ann\nLee",
                                  "Ann\u2028"])
def test_a_name_with_a_control_character_is_refused(hub: Hub, name: str):
    before = hub.counts()
    r = _enrol(hub, name=name)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid" and r.json()["detail"].startswith("name: ")
    assert hub.counts() == before


def test_arabic_indic_digits_are_refused_in_cards_phones_and_dates(hub: Hub):
    before = hub.counts()
    r = _enrol(hub, phone="+33612345678".translate(ARABIC))
    assert r.status_code == 422 and r.json()["detail"].startswith("phone"), r.text
    r = _enrol(hub, birthday="1990-04-23".translate(ARABIC))
    assert r.status_code == 422 and r.json()["detail"].startswith("birthday"), r.text
    r = _enrol(hub, birthday=0)  # pydantic alone reads 0 as 1970-01-01
    assert r.status_code == 422 and "YYYY-MM-DD" in r.json()["detail"], r.text
    assert hub.counts() == before
    ann = _enrol(hub).json()
    with hub.online() as c:
        r = c.get("/v1/online/members", params={"card": ann["card_number"].translate(ARABIC)})
        assert r.status_code == 422 and r.json()["detail"].startswith("card"), r.text
        r = c.post("/v1/online/orders", json={"card": ann["card_number"].translate(ARABIC),
                                              "order_id": "W-ar", "total": 1250})
        assert r.status_code == 422, r.text
    term = new_terminal(hub)
    with hub.client(term.token) as c:
        for day in ("0", "20261202", "2026-12-02".translate(ARABIC)):
            r = c.get("/v1/sync/day-report", params={"date": day})
            assert r.status_code == 422 and r.json()["detail"].startswith("date"), (day, r.text)
        assert c.get("/v1/sync/day-report", params={"date": "2026-12-02"}).status_code == 200
        r = c.get("/v1/sync/pull", params={"limit": "\u0661\u0660"})
        assert r.status_code == 422, r.text
        r = c.get("/v1/sync/pull", headers={"X-Origin-High-Seq": "\u0661".encode()})
        assert r.status_code == 422, r.text


def test_numbers_are_json_numbers_and_booleans_json_booleans(hub: Hub):
    ann = _enrol(hub).json()
    with hub.online() as c:
        for total in ("1250", "\u0661\u0662\u0665\u0660", True, 12.5):
            r = c.post("/v1/online/orders", json={"member_id": ann["member_id"],
                                                  "order_id": f"W-{uuid.uuid4().hex[:8]}",
                                                  "total": total})
            assert r.status_code == 422 and r.json()["detail"].startswith("total"), r.text
        # 1250.0 is the JSON number 1250 (the schema's integer): accepted as 1250
        r = c.post("/v1/online/orders", json={"member_id": ann["member_id"],
                                              "order_id": f"W-{uuid.uuid4().hex[:8]}",
                                              "total": 1250.0})
        assert r.status_code == 201, r.text
        r = _enrol(hub, consent_email=0)
        assert r.status_code == 422 and r.json()["detail"].startswith("consent_email")
    with hub.admin() as c:
        r = c.post("/v1/admin/flags/1/resolve", json={"note": "n", "cancel": 0})
        assert r.status_code == 422 and r.json()["detail"].startswith("cancel"), r.text


def test_free_text_and_order_ids_refuse_control_characters(hub: Hub):
    ann = _enrol(hub).json()
    with hub.online() as c:
        r = c.post("/v1/online/orders", json={
            "member_id": ann["member_id"], "order_id": "W-1",
            "lines": [["LATTE", "cof\u202efee", 1, 350]]})
        assert r.status_code == 422 and r.json()["detail"].startswith("lines[0][1]"), r.text
        r = c.post("/v1/online/orders/W%1B1/refund", json={})
        assert r.status_code == 422 and r.json()["detail"].startswith("path"), r.text
        r = c.post("/v1/online/orders/W-1/refund", json={"reason": "a\x1bb"})
        assert r.status_code == 422 and r.json()["detail"].startswith("reason"), r.text
    with hub.admin() as c:
        r = c.get("/v1/admin/flags", params={"store": "S\x1b[2J"})
        assert r.status_code == 422 and r.json() == {
            "error": "invalid", "detail": "store: holds a control character (U+001B, "
            "position 2); type it again without it"}
        r = c.get("/v1/admin/flags", params={"kind": "x\u202e"})
        assert r.status_code == 422 and r.json()["detail"].startswith("kind: holds")
        r = c.post("/v1/admin/flags/999999/resolve", json={"note": "two\nlines"})
        assert r.status_code == 404, r.text  # a note may span lines...
        r = c.post("/v1/admin/flags/999999/resolve", json={"note": "tab\there"})
        assert r.status_code == 422 and r.json()["detail"].startswith("note")  # ...no more


def test_the_openapi_document_declares_the_error_body_and_statuses(hub: Hub):
    with hub.client(None) as c:
        spec = c.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["ErrorBody"]["required"] == ["error", "detail"]
    error = {"$ref": "#/components/schemas/ErrorBody"}
    push = spec["paths"]["/v1/sync/push"]["post"]["responses"]
    assert set(push) >= {"200", "401", "403", "404", "409", "413", "422", "429", "503"}
    assert push["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for code, answer in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"] == error, (
                        method, path, code)
            assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
            for parameter in op.get("parameters", []):
                assert "anyOf" not in parameter["schema"], (method, path, parameter)
    orders = spec["paths"]["/v1/online/orders"]["post"]["responses"]
    assert {"200", "201"} <= set(orders)


def test_a_method_the_path_does_not_have_is_405_with_every_method_it_has(hub: Hub):
    with hub.online() as c:
        r = c.request("DELETE", "/v1/online/members")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert r.headers["Allow"] == "GET, POST"
