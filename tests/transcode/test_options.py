from __future__ import annotations

import pytest

from scf_worker.runtime.errors import ConfigError
from scf_worker.transcode.errors import InvalidTranscodeParams
from scf_worker.transcode.options import VIDEO_PRESETS, config_from_env, options_for


def test_config_defaults_render_every_video_preset() -> None:
    config = config_from_env({})

    assert config.presets == VIDEO_PRESETS
    assert config.ladder == (360, 480, 720, 1080)
    assert config.h264_profile == "high"
    assert config.upload_margin_ms == 20_000


def test_config_reads_transcode_variables() -> None:
    config = config_from_env({
        "TRANSCODE_PRESETS": "mp4, thumbnail", "TRANSCODE_LADDER": "720,360",
        "TRANSCODE_H264_PROFILE": "main", "TRANSCODE_THUMBNAIL_FORMAT": "webp",
        "TRANSCODE_HLS_SEGMENT_TYPE": "fmp4", "TRANSCODE_UPLOAD_MARGIN_MS": "5000",
    })

    assert config.presets == ("mp4", "thumbnail")
    assert config.ladder == (360, 720)
    assert config.h264_profile == "main"
    assert config.thumbnail_format == "webp"
    assert config.hls_segment_type == "fmp4"
    assert config.upload_margin_ms == 5000


@pytest.mark.parametrize(("name", "value"), [
    ("TRANSCODE_PRESETS", "mp4,dash"),
    ("TRANSCODE_LADDER", "720,abc"),
    ("TRANSCODE_LADDER", "4320"),
    ("TRANSCODE_H264_PROFILE", "baseline"),
    ("TRANSCODE_SEGMENT_SEC", "0.5"),
])
def test_config_error_names_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_env({name: value})

    assert caught.value.variable == name


def test_job_params_override_configuration() -> None:
    config = config_from_env({"TRANSCODE_PRESETS": "mp4"})

    options = options_for(config, {"presets": ["hls", "sprite"], "ladder": [480, 360],
                                   "thumbnailOffsetSeconds": 3, "segments": 6})

    assert options.presets == ("hls", "sprite")
    assert options.ladder == (360, 480)
    assert options.thumbnail_offset_seconds == 3.0
    assert options.fanout_segments == 6
    assert options.h264_profile == config.h264_profile


@pytest.mark.parametrize("params", [
    {"presets": ["mp4", "gif"]},
    {"presets": []},
    {"ladder": [100]},
    {"ladder": ["720"]},
    {"h264Profile": "baseline"},
    {"segments": 2.5},
    {"thumbnailOffsetSeconds": -1},
    {"thumbnailOffsetSeconds": True},
])
def test_job_params_rejected_permanently(params: dict) -> None:
    with pytest.raises(InvalidTranscodeParams) as caught:
        options_for(config_from_env({}), params)

    assert caught.value.code == "invalid_params"
