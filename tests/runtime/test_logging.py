import io
import json
import logging

from scf_worker.observability import logging as obs_logging


def _capture():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(obs_logging.JsonFormatter())
    logger = logging.getLogger("scf_worker.test_logging")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return stream, obs_logging.get_logger("scf_worker.test_logging")


def test_one_json_object_per_line_with_context():
    stream, log = _capture()
    obs_logging.clear()
    obs_logging.bind(requestId="r1", route="POST /x")
    log.info("did_thing", jobId="j1", durationMs=5)
    line = json.loads(stream.getvalue())
    assert line["event"] == "did_thing"
    assert line["requestId"] == "r1"
    assert line["route"] == "POST /x"
    assert line["jobId"] == "j1"
    assert line["durationMs"] == 5
    assert stream.getvalue().count("\n") == 1


def test_clear_drops_previous_invocation_context():
    stream, log = _capture()
    obs_logging.bind(requestId="old")
    obs_logging.clear()
    log.info("next")
    assert "requestId" not in json.loads(stream.getvalue())


def test_chinese_stays_readable():
    stream, log = _capture()
    log.info("stored", key="uploads/用户/视频.mp4")
    assert "视频" in stream.getvalue()


def test_nested_values_are_flattened_to_strings():
    stream, log = _capture()
    log.info("x", detail={"a": [1, 2]}, ok=True)
    line = json.loads(stream.getvalue())
    assert line["detail"] == '{"a": [1, 2]}'
    assert line["ok"] == 1


def test_registered_secret_is_redacted_anywhere():
    stream, log = _capture()
    obs_logging.register_secrets(["s3cr3t-value-123"])
    log.info("oops s3cr3t-value-123", field="prefix-s3cr3t-value-123")
    assert "s3cr3t-value-123" not in stream.getvalue()
    assert obs_logging.REDACTED in stream.getvalue()


def test_credential_like_field_names_are_masked():
    stream, log = _capture()
    log.info("x", sessionToken="abc", tmpSecretKey="def", signature="ghi", key="visible")
    line = json.loads(stream.getvalue())
    assert line["sessionToken"] == obs_logging.REDACTED
    assert line["tmpSecretKey"] == obs_logging.REDACTED
    assert line["signature"] == obs_logging.REDACTED
    assert line["key"] == "visible"


def test_exception_logs_carry_error_class():
    stream, log = _capture()
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("failed")
    line = json.loads(stream.getvalue())
    assert line["errorClass"] == "ValueError"
    assert "Traceback" in line["exception"]


def test_debug_lines_only_for_sampled_invocations():
    stream = io.StringIO()
    obs_logging.configure("INFO", stream=stream, debug_sample_rate=0.5)
    logger = logging.getLogger(obs_logging.LOGGER_NAME)
    handler = next(h for h in logger.handlers if getattr(h, "_scf_worker", False))
    original_stream = handler.setStream(stream)
    log = obs_logging.get_logger("scf_worker.sampling")
    try:
        obs_logging.sample_debug(0.5, draw=0.9)
        log.debug("hidden_debug")
        log.info("kept_info")
        obs_logging.sample_debug(0.5, draw=0.1)
        log.debug("sampled_debug")
    finally:
        handler.setStream(original_stream)
        obs_logging.configure("INFO")
        obs_logging.sample_debug(0.0)
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["kept_info", "sampled_debug"]


def test_event_summary_keeps_only_allow_listed_fields():
    from scf_worker.runtime import samples

    event = samples.apigw_event("POST", "/x", '{"password": "p"}',
                                {"authorization": "Bearer abc", "user-agent": "ua"})
    summary = obs_logging.event_summary(event)
    assert summary["httpMethod"] == "POST"
    assert set(summary["headers"]) == {"content-type", "user-agent", "x-api-requestid"}
    assert "body" not in summary
    assert "authorization" not in json.dumps(summary)
