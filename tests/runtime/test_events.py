import base64
import json

import pytest

from scf_worker.runtime import samples
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import (
    kind_of,
    parse_cos_record,
    parse_http,
    parse_queue,
    parse_timer,
)


def test_kind_of_each_trigger_shape():
    assert kind_of(samples.apigw_event("POST", "/x")) == "http"
    assert kind_of(samples.cos_event(samples.cos_record("media-1250000000", "a.mp4", 1, "e"))) == "cos"
    assert kind_of(samples.timer_event()) == "timer"
    assert kind_of({"Records": [{"CMQ": {"msgBody": "{}"}}]}) == "queue"
    assert kind_of({"Records": [{"Ckafka": {"msgBody": "{}"}}]}) == "queue"
    assert kind_of({"jobId": "j1"}) == "direct"


@pytest.mark.parametrize("event", [None, "text", [1, 2], {"Records": []}, {"Records": [{"sns": {}}]}])
def test_kind_of_unknown_shapes(event):
    assert kind_of(event) == "unknown"


def test_parse_http_matches_headers_case_insensitively():
    event = samples.apigw_event("post", "/upload", "{}", headers={"X-Custom-Header": "v"})
    request = parse_http(event)
    assert request.method == "POST"
    assert request.header("x-custom-header") == "v"
    assert request.header("X-CUSTOM-HEADER") == "v"


def test_parse_http_decodes_base64_body():
    raw = json.dumps({"a": "中文"}).encode()
    request = parse_http(samples.apigw_event("POST", "/x", raw, base64_body=True))
    assert request.body == raw
    assert request.json() == {"a": "中文"}


def test_parse_http_rejects_bad_base64_body():
    event = samples.apigw_event("POST", "/x", "{}")
    event["isBase64Encoded"] = True
    event["body"] = "not base64!!"
    with pytest.raises(ApiError) as caught:
        parse_http(event)
    assert caught.value.key == "invalid_params"


def test_parse_http_request_id_falls_back_to_header():
    event = samples.apigw_event("POST", "/x", "{}", request_id="req-1")
    del event["requestContext"]["requestId"]
    assert parse_http(event).request_id == "req-1"


def test_parse_http_joins_multi_value_headers():
    event = samples.apigw_event("GET", "/x")
    event["headers"]["Accept"] = ["a", "b"]
    assert parse_http(event).header("accept") == "a,b"


@pytest.mark.parametrize("body, key", [("", "missing_params"), ("{bad", "invalid_json")])
def test_http_json_errors(body, key):
    with pytest.raises(ApiError) as caught:
        parse_http(samples.apigw_event("POST", "/x", body)).json()
    assert caught.value.key == key


def test_parse_cos_record_keeps_raw_key_and_coerces_size():
    record = samples.cos_record("media-1250000000", "uploads/a b+c.mp4", 10, "abc")
    record["cos"]["cosObject"]["size"] = "10"
    parsed = parse_cos_record(record)
    assert parsed.raw_key == "/1250000000/media/uploads/a b+c.mp4"
    assert parsed.size == 10
    assert parsed.etag == '"abc"'
    assert parsed.appid == "1250000000"
    assert parsed.bucket_short_name == "media"
    assert parsed.is_object_created


def test_parse_cos_record_without_key_raises():
    record = samples.cos_record("media-1250000000", "a.mp4", 1, None)
    del record["cos"]["cosObject"]["key"]
    with pytest.raises(ValueError, match="key"):
        parse_cos_record(record)


def test_parse_timer_event():
    timer = parse_timer({"Type": "Timer", "TriggerName": "t", "Time": "2024-05-01T02:00:00Z",
                         "Message": "m"})
    assert (timer.trigger_name, timer.time, timer.message) == ("t", "2024-05-01T02:00:00Z", "m")


def test_parse_queue_reads_every_record():
    event = {"Records": [
        {"CMQ": {"msgId": "1", "msgBody": json.dumps({"jobId": "a"})}},
        {"CMQ": {"msgId": "2", "msgBody": "plain text"}},
        {"Ckafka": {"topic": "t", "partition": 1, "offset": 7, "msgBody": "{}"}},
    ]}
    messages = parse_queue(event)
    assert [m.message_id for m in messages] == ["1", "2", "t:1:7"]
    assert messages[0].body == {"jobId": "a"}
    assert messages[1].body == "plain text"


def test_base64_sample_round_trip():
    event = samples.apigw_event("POST", "/x", b"\x00\x01", base64_body=True)
    assert base64.b64decode(event["body"]) == b"\x00\x01"
