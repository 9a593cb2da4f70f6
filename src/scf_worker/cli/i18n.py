"""Chinese or English CLI text, chosen by locale; ``--lang`` overrides."""

from __future__ import annotations

import os

MESSAGES: dict[str, dict[str, str]] = {
    "demo.title": {"zh": "scf-worker 本地流水线演示", "en": "scf-worker local pipeline demo"},
    "demo.source": {"zh": "源文件", "en": "Source"},
    "demo.generated": {"zh": "自动生成的测试片段", "en": "generated test clip"},
    "demo.steps": {"zh": "步骤", "en": "Steps"},
    "demo.jobs": {"zh": "任务", "en": "Jobs"},
    "demo.outputs": {"zh": "输出", "en": "Outputs"},
    "demo.webhooks": {"zh": "Webhook", "en": "Webhooks"},
    "demo.webhooks_line": {"zh": "收到 {received} 个,签名校验通过 {verified} 个",
                           "en": "{received} received, {verified} verified"},
    "demo.callbacks": {"zh": "对象创建事件投递结果", "en": "Object-created deliveries"},
    "demo.ok": {"zh": "全部任务完成", "en": "All jobs done"},
    "demo.failed": {"zh": "有任务失败", "en": "A job failed"},
    "demo.error": {"zh": "错误", "en": "Error"},
    "demo.workdir": {"zh": "工作目录", "en": "Work directory"},
    "worker.summary": {"zh": "处理 {processed} 条消息:完成 {done},重试 {retried},死信 {dead}",
                       "en": "Processed {processed} messages: {done} done, {retried} retried,"
                             " {dead} dead-lettered"},
    "dlq.empty": {"zh": "没有符合条件的死信", "en": "No dead letters match"},
    "dlq.listed": {"zh": "共 {count} 条", "en": "{count} entries"},
    "dlq.id_required": {"zh": "请给出死信 ID(位置参数或 --id)",
                        "en": "Give a dead-letter id (positional or --id)"},
    "dlq.not_found": {"zh": "找不到死信:{ids}", "en": "Dead letter not found: {ids}"},
    "dlq.replaying": {"zh": "重放中", "en": "Replaying"},
    "dlq.replay_summary": {
        "zh": "共 {entries} 条:重放成功 {replayed},此前已完成 {alreadyDone},失败 {failed},"
              "执行中跳过 {busy};实际执行 {sent} 次(演练:将重放 {wouldReplay},将跳过 {wouldSkip})",
        "en": "{entries} entries: {replayed} replayed, {alreadyDone} already done, {failed} failed,"
              " {busy} busy; work run {sent} times (dry run: {wouldReplay} would replay,"
              " {wouldSkip} would skip)"},
    "dlq.discarded": {"zh": "已丢弃 {count} 条:{ids}", "en": "Discarded {count}: {ids}"},
    "dlq.discard_dry_run": {"zh": "演练:将丢弃 {count} 条:{ids}",
                            "en": "Dry run: would discard {count}: {ids}"},
}


def detect_lang(explicit: str | None = None) -> str:
    if explicit in ("zh", "en"):
        return explicit
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(name, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def text(key: str, lang: str, **values: object) -> str:
    return MESSAGES[key][lang].format(**values)
