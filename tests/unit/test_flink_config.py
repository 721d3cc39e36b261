"""closeloop.flink_config: one template rendered from the settings, merged over Flink's defaults."""

from __future__ import annotations

from closeloop.flink_config import FlinkClusterSettings, merge, nested, render_config


def test_merge_writes_the_overlay_over_nested_mappings_key_by_key() -> None:
    base = {"rest": {"port": 8081, "address": "a"}, "env": {"java": "x"}, "keep": 1}
    assert merge(base, {"rest": {"port": 9000}, "env": "flat"}) == {
        "rest": {"port": 9000, "address": "a"},
        "env": "flat",
        "keep": 1,
    }
    assert base["rest"]["port"] == 8081, "merge must not change its inputs"


def test_nested_turns_dotted_keys_into_mappings() -> None:
    assert nested({"a.b.c": 1, "a.d": 2, "e": 3}) == {"a": {"b": {"c": 1}, "d": 2}, "e": 3}


def test_the_template_takes_every_value_from_the_settings() -> None:
    settings = FlinkClusterSettings(
        flink_rest_port=18081, flink_task_slots=3, s3_endpoint="http://s3.example:9000"
    )
    config = render_config(
        settings, host="jm", python="/venv/bin/python", checkpoint_dir="file:///c", savepoint_dir="file:///s"
    )
    assert config["rest"]["port"] == 18081 and config["rest"]["address"] == "jm"
    assert config["taskmanager"]["numberOfTaskSlots"] == 3
    assert config["s3"]["endpoint"] == "http://s3.example:9000"
    assert config["s3"]["secret-key"] == settings.s3_secret_key.get_secret_value()
