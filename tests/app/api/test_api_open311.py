"""Open311 GeoReport v2: services, filing (form and JSON), status, XML, and no personal data."""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree

import pytest
from api_support import OPEN311_KEY, Api, make_api

FORM = {
    "service_code": "incident.water",
    "description": "小区东门下水道堵塞，污水外溢。联系我 13812345678",
    "address_string": "幸福里小区东门",
    "lat": "31.2304", "long": "121.4737",
    "email": "Resident@Example.org",
    "phone": "13812345678",
    "attribute[area_code]": "grid:qy-dz-01",
    "first_name": "张", "last_name": "三",
}


def test_services_offer_the_public_categories_only(api):
    services = api.get(None, "/open311/v2/services.json").json()
    codes = [s["service_code"] for s in services]
    # taxonomy.yml's public: true; never disputes, requests, hazards, public order or care
    assert codes == ["incident.facility", "incident.water", "incident.sanitation"]
    water = services[1]
    assert water["service_name"] == "供排水问题" and water["type"] == "realtime"
    assert water["keywords"].split(",")[:2] == ["下水道堵塞", "污水外溢"]
    assert water["metadata"] is True and water["group"] == "事件隐患"

    root = ElementTree.fromstring(api.get("admin", "/open311/v2/services.xml").content)
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root.findall("service")] == codes
    assert root.find("service").findtext("metadata") == "true"


def test_service_definition_lists_the_grids(api):
    definition = api.get(None, "/open311/v2/services/incident.water.json").json()
    (attribute,) = definition["attributes"]
    assert attribute["code"] == "area_code" and attribute["required"] is True
    assert {"key": "grid:qy-dz-01", "name": "东镇幸福里网格"} in attribute["values"]
    xml = ElementTree.fromstring(
        api.get(None, "/open311/v2/services/incident.water.xml").content)
    assert xml.tag == "service_definition"
    assert xml.find("attributes/attribute/code").text == "area_code"
    for hidden in ("dispute.neighbor", "request.consult", "incident.safety"):
        assert api.get(None, f"/open311/v2/services/{hidden}.json").status_code == 404


def test_form_round_trip_in_json(any_api):
    api = any_api
    filed = api.client.post("/open311/v2/requests.json",
                            data={**FORM, "api_key": OPEN311_KEY})
    assert filed.status_code == 201, filed.text
    (receipt,) = filed.json()
    number = receipt["service_request_id"]
    assert receipt["service_notice"] == f"已受理，工单号 {number}。"

    row = api.row(number)
    assert (row.category, row.reporter_channel, row.reporter_ref) == (
        "incident.water", "open311", "open311:resident@example.org")
    assert (row.location_text, row.latitude, row.area_code) == ("幸福里小区东门", 31.2304,
                                                                "grid:qy-dz-01")
    assert row.reporter_contact_enc.startswith("v1.") and row.anonymous is False
    assert row.status == "assigned" and row.assignee_id == api.handlers["w1"]

    (record,) = api.get(None, f"/open311/v2/requests/{number}.json").json()
    assert record["service_request_id"] == number
    assert (record["status"], record["status_notes"]) == ("open", "已派单")
    assert record["service_code"] == "incident.water" and record["service_name"] == "供排水问题"
    assert record["address"] == "幸福里小区东门" and record["lat"] == 31.2304
    assert record["description"].endswith("联系我 138****5678")
    assert record["requested_datetime"].endswith("+08:00")


def test_json_body_and_xml_round_trip(api):
    filed = api.post("open311", "/open311/v2/requests.xml", json={
        "service_code": "incident.facility", "description": "路灯坏了",
        "lat": 31.1, "long": 121.2, "device_id": "android-7f3a",
        "attribute": {"area_code": "grid:qy-dz-01"},
    })
    assert filed.status_code == 201, filed.text
    assert filed.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(filed.content)
    assert root.tag == "service_requests"
    number = root.find("request/service_request_id").text
    row = api.row(number)
    assert row.reporter_ref == "open311:android-7f3a"
    assert row.location_text == "经纬度 31.100000,121.200000"

    status = ElementTree.fromstring(
        api.get(None, f"/open311/v2/requests/{number}.xml").content)
    request = status.find("request")
    assert request.findtext("status") == "open"
    assert request.findtext("service_name") == "公共设施损坏"
    assert request.find("address_id").text is None  # empty element for a missing value


def test_anonymous_requests_and_idempotency(api):
    form = {k: v for k, v in FORM.items() if k not in ("email", "phone")}
    first = api.post("open311", "/open311/v2/requests.json", data=form,
                     headers={"Idempotency-Key": "civic-1"})
    again = api.post("open311", "/open311/v2/requests.json", data=form,
                     headers={"Idempotency-Key": "civic-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    number = first.json()[0]["service_request_id"]
    assert again.json()[0]["service_request_id"] == number
    row = api.row(number)
    assert row.anonymous is True and row.reporter_ref.startswith("open311:")
    assert len(row.reporter_ref) == len("open311:") + 32


def test_no_personal_data_in_listings(api):
    number = api.post("open311", "/open311/v2/requests.json", data=FORM).json()[0][
        "service_request_id"]
    assert api.post("worker", f"/api/v1/orders/{number}/accept").status_code == 200
    assert api.post("worker", f"/api/v1/orders/{number}/progress",
                    json={"note": "已联系李师傅明早疏通"}).status_code == 200
    api.report(reporter_ref="tg:99", reporter_contact="13900001111")  # a dispute: never listed
    for fmt in ("json", "xml"):
        text = api.get(None, f"/open311/v2/requests.{fmt}").text
        assert "incident.water" in text and "138****5678" in text  # the request is there
        for secret in ("13812345678", "resident@example.org", "Resident", "open311:", "tg:99",
                       "13900001111", "张", "contact", "reporter", "李师傅", "handler",
                       "assignee"):
            assert secret not in text, (fmt, secret)
    listed = api.get(None, "/open311/v2/requests.json").json()
    assert [r["service_code"] for r in listed] == ["incident.water"]
    dispute = api.orders()[-1].number
    assert api.get(None, f"/open311/v2/requests/{dispute}.json").status_code == 404
    assert api.get(None, "/open311/v2/requests.json",
                   params={"service_request_id": dispute}).json() == []


def test_listing_filters(api):
    water = api.post("open311", "/open311/v2/requests.json", data=FORM).json()[0]
    lamp = api.post("open311", "/open311/v2/requests.json",
                    data={**FORM, "service_code": "incident.facility"}).json()[0]
    lamp_number = lamp["service_request_id"]
    api.post("worker", f"/api/v1/orders/{lamp_number}/accept")
    api.post("worker", f"/api/v1/orders/{lamp_number}/resolve")

    def ids(**params):
        return [r["service_request_id"]
                for r in api.get(None, "/open311/v2/requests.json", params=params).json()]

    assert set(ids()) == {water["service_request_id"], lamp_number}
    assert ids(status="closed") == [lamp_number]
    assert ids(status="open") == [water["service_request_id"]]
    assert ids(service_code="incident.water") == [water["service_request_id"]]
    assert ids(start_date="2030-01-01T00:00:00Z") == []
    assert set(ids(service_request_id=f"{lamp_number},12345678")) == {lamp_number}
    closed = api.get(None, f"/open311/v2/requests/{lamp_number}.json").json()[0]
    assert (closed["status"], closed["status_notes"]) == ("closed", "已办结")


@pytest.mark.parametrize(("change", "field_text"), [
    ({"service_code": "dispute.neighbor"}, "不支持的服务类别"),
    ({"service_code": "incident.nothing"}, "不支持的服务类别"),
    ({"service_code": "request.complaint"}, "不支持的服务类别"),
    ({"service_code": "incident.order"}, "不支持的服务类别"),
    ({"description": ""}, "缺少描述"),
    ({"description": "漏" * 2001}, "描述不能超过2000字"),
    ({"attribute[area_code]": ""}, "请提供所在网格"),
    ({"attribute[area_code]": "grid:nowhere"}, "所选区域不存在"),
    ({"address_string": "", "lat": ""}, "请提供地址或经纬度"),
    ({"email": "not-an-email"}, "电子邮箱格式不正确"),
    ({"phone": "12345"}, "联系电话格式不正确"),
    ({"lat": "north"}, "纬度必须是数字"),
])
def test_errors_in_the_specification_shape(api, change, field_text):
    form = {k: v for k, v in {**FORM, **change}.items() if v != ""}
    response = api.post("open311", "/open311/v2/requests.json", data=form)
    assert response.status_code == 400, response.text
    (error,) = response.json()
    assert error["code"] == 400 and field_text in error["description"]
    assert api.orders() == []


def test_error_shapes_for_tokens_and_xml(api):
    response = api.client.post("/open311/v2/requests.xml", data=FORM)  # no api_key
    assert response.status_code == 401
    root = ElementTree.fromstring(response.content)
    assert root.tag == "errors" and root.find("error/code").text == "401"
    assert "接入密钥（api_key）" in root.find("error/description").text
    unknown = api.client.post("/open311/v2/requests.json",
                              data={**FORM, "api_key": "x" * 30})
    assert unknown.status_code == 401 and unknown.json()[0]["code"] == 401
    for who in ("supervisor", "admin", "actions", "telegram"):  # no other credential files
        refused = api.post(who, "/open311/v2/requests.json", data=FORM)
        assert refused.status_code == 403 and refused.json()[0]["code"] == 403, who
    by_key = api.client.post("/open311/v2/requests.json",
                             params={"api_key": OPEN311_KEY}, data=FORM)
    assert by_key.status_code == 201
    unsupported = api.post("open311", "/open311/v2/requests.json", content=b"<xml/>",
                           headers={"Content-Type": "text/xml"})
    assert unsupported.status_code == 400
    assert len(api.orders()) == 1  # only the keyed request was filed


def test_reads_are_public_and_a_token_changes_nothing(api):
    api.post("open311", "/open311/v2/requests.json", data=FORM)
    api.report(category="incident.safety", description="楼道里电动车充电")
    api.report()  # a dispute
    for path in ("/open311/v2/services.json", "/open311/v2/requests.json",
                 "/open311/v2/services/incident.water.xml"):
        public = api.client.get(path)
        assert public.status_code == 200, public.text
        for who in ("handler", "dispatcher", "admin", "actions", "open311"):
            assert api.get(who, path).content == public.content, (path, who)
    codes = {r["service_code"] for r in api.client.get("/open311/v2/requests.json").json()}
    assert codes == {"incident.water"}
    services = {s["service_code"] for s in api.client.get("/open311/v2/services.json").json()}
    assert services == {"incident.facility", "incident.water", "incident.sanitation"}


def test_xml_is_valid_whatever_the_text_holds(api):
    nasty = "井盖" + "".join(chr(c) for c in range(32)) + "\ufffe\uffff丢失"
    filed = api.post("open311", "/open311/v2/requests.json",
                     data={**FORM, "description": nasty, "address_string": "东门\x01\x1f口"})
    assert filed.status_code == 201, filed.text
    number = filed.json()[0]["service_request_id"]
    assert api.row(number).description.startswith("井盖")
    for path in ("/open311/v2/requests.xml", f"/open311/v2/requests/{number}.xml"):
        response = api.client.get(path)
        assert response.status_code == 200
        root = ElementTree.fromstring(response.content)  # raises if the XML is not well-formed
        request = root.find("request")
        assert request.findtext("description").startswith("井盖")
        assert request.findtext("description").endswith("丢失")
        assert "\x00" not in request.findtext("description")
        assert request.findtext("address") == "东门口"
    error = api.client.get("/open311/v2/services/%01x%1F.xml")  # echoed in the error
    assert error.status_code == 404
    ElementTree.fromstring(error.content)


@pytest.fixture
def api_with_default_area(sqlite_db) -> Iterator[Api]:
    yield from make_api(sqlite_db, open311_default_area="grid:qy-dz-01")


def test_a_configured_default_area(api_with_default_area):
    api = api_with_default_area
    form = {k: v for k, v in FORM.items() if k != "attribute[area_code]"}
    filed = api.post("open311", "/open311/v2/requests.json", data=form)
    assert filed.status_code == 201
    assert api.row(filed.json()[0]["service_request_id"]).area_code == "grid:qy-dz-01"
    definition = api.get(None, "/open311/v2/services/incident.water.json").json()
    assert definition["attributes"][0]["required"] is False


def test_orders_of_categories_that_are_not_public_never_show(api):
    """Requests, disputes and non-public incidents, however filed, stay off the feed; an
    order reclassified into a public category joins it, one reclassified out leaves it."""
    listed_water = api.post("open311", "/open311/v2/requests.json", data=FORM).json()[0]
    water = listed_water["service_request_id"]
    complaint = api.report(category="request.complaint", description="药店乱收费")["number"]
    hazard = api.report(category="incident.safety", description="楼道里电动车充电")["number"]
    dispute = api.report()["number"]

    def listed():
        return {r["service_request_id"]: r["service_code"]
                for r in api.get(None, "/open311/v2/requests.json").json()}

    assert listed() == {water: "incident.water"}
    for number in (complaint, hazard, dispute):
        assert api.get(None, f"/open311/v2/requests/{number}.json").status_code == 404

    to_public = api.post("dispatcher", f"/api/v1/orders/{complaint}/reclassify",
                         json={"category": "incident.sanitation"})
    assert to_public.status_code == 200, to_public.text
    to_private = api.post("dispatcher", f"/api/v1/orders/{water}/reclassify",
                          json={"category": "incident.safety"})
    assert to_private.status_code == 200, to_private.text
    assert listed() == {complaint: "incident.sanitation"}
    assert api.get(None, f"/open311/v2/requests/{water}.json").status_code == 404
