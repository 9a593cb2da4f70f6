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
    "db.current": {"zh": "{target}:表结构已是最新", "en": "{target}: schema is current"},
    "db.created": {"zh": "{target}:{what}", "en": "{target}: {what}"},
    "db.missing": {"zh": "{target}:{what}", "en": "{target}: {what}"},
    "db.run_migrate": {"zh": "请运行 scf-worker db migrate", "en": "run scf-worker db migrate"},
    "db.redis": {"zh": "{target}:Redis 无需建表,连接正常",
                 "en": "{target}: Redis needs no tables; reachable"},
    "db.failed": {"zh": "{target}:失败:{error}", "en": "{target}: failed: {error}"},
    "worker.summary": {"zh": "处理 {processed} 条消息:完成 {done},重试 {retried},死信 {dead}",
                       "en": "Processed {processed} messages: {done} done, {retried} retried,"
                             " {dead} dead-lettered"},
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
