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
    "demo.not_started": {"zh": "流水线未能开始,没有创建任务",
                         "en": "The pipeline did not start; no job was created"},
    "demo.error": {"zh": "错误", "en": "Error"},
    "demo.workdir": {"zh": "工作目录", "en": "Work directory"},
    "policy.ok": {"zh": "通过:资源都在 {prefix} 内,有效期 {duration} 秒",
                  "en": "OK: every resource is inside {prefix}, duration {duration} s"},
    "policy.problems": {"zh": "发现 {count} 个问题(用户前缀 {prefix}):",
                        "en": "{count} problem(s) found (user prefix {prefix}):"},
    "policy.invalid_input": {"zh": "无法读取策略:{error}", "en": "cannot read the policy: {error}"},
    "policy.invalid_bucket": {"zh": "存储桶名必须带 APPID 后缀,例如 media-1250000000(收到 {bucket})",
                              "en": "the bucket name needs its APPID suffix, e.g. media-1250000000"
                                    " (got {bucket})"},
    "demo.no_such_file": {"zh": "找不到媒体文件:{path}", "en": "media file not found: {path}"},
    "demo.not_a_file": {"zh": "不是普通文件:{path}", "en": "not a regular file: {path}"},
    "demo.workdir_not_empty": {
        "zh": "工作目录已存在且不为空:{path}。请换一个新目录,或省略 --workdir 使用临时目录",
        "en": "work directory exists and is not empty: {path}. Choose a new one, or omit --workdir",
    },
    "demo.workdir_failed": {"zh": "无法使用工作目录 {path}:{error}",
                            "en": "cannot use work directory {path}: {error}"},
    "db.current": {"zh": "{target}:表结构已是最新", "en": "{target}: schema is current"},
    "db.created": {"zh": "{target}:{what}", "en": "{target}: {what}"},
    "db.missing": {"zh": "{target}:{what}", "en": "{target}: {what}"},
    "db.run_migrate": {"zh": "请运行 scf-worker db migrate", "en": "run scf-worker db migrate"},
    "db.redis": {"zh": "{target}:Redis 无需建表,连接正常",
                 "en": "{target}: Redis needs no tables; reachable"},
    "db.failed": {"zh": "{target}:失败:{error}", "en": "{target}: failed: {error}"},
    "batch.progress": {"zh": "导入", "en": "Importing"},
    "batch.preview_progress": {"zh": "检查", "en": "Checking"},
    "batch.status.imported": {"zh": "已导入", "en": "imported"},
    "batch.status.already_imported": {"zh": "此前已导入", "en": "already imported"},
    "batch.status.rejected": {"zh": "已拒绝", "en": "rejected"},
    "batch.status.failed": {"zh": "失败", "en": "failed"},
    "batch.status.would_import": {"zh": "可导入", "en": "would import"},
    "batch.import_status.done": {"zh": "已完成", "en": "done"},
    "batch.import_status.running": {"zh": "未完成(下次运行从检查点继续)",
                                     "en": "running (the next run resumes from the checkpoint)"},
    "batch.import_status.failed": {"zh": "失败", "en": "failed"},
    "batch.manifest": {"zh": "清单", "en": "Manifest"},
    "batch.import_id": {"zh": "导入任务", "en": "Import"},
    "batch.state": {"zh": "状态:{status};第 {pass_number} 轮,共 {total} 行",
                    "en": "Status {status}, pass {pass_number}, {total} rows"},
    "batch.totals": {"zh": "本轮合计", "en": "Totals for this pass"},
    "batch.already_done": {"zh": "该清单此前已导入完成;要再检查一遍所有行,请加 --rerun",
                           "en": "This manifest was imported before; add --rerun to check every row"
                                 " again"},
    "batch.this_run": {"zh": "本次运行处理 {count} 行", "en": "This run processed {count} rows"},
    "batch.report": {"zh": "逐行报告", "en": "Row report"},
    "batch.reasons": {"zh": "拒绝与失败原因", "en": "Reasons for rejected and failed rows"},
    "batch.preview": {"zh": "预检(--dry-run,未写入任何内容)", "en": "Dry run (--dry-run, nothing written)"},
    "batch.busy": {"zh": "该清单正由另一个进程导入:{error}", "en": "Another process is importing this"
                                                         " manifest: {error}"},
    "batch.not_found": {"zh": "找不到清单:{manifest}(既不是本地文件,也不是存储桶中的对象)",
                        "en": "Manifest not found: {manifest} (neither a local file nor an object in"
                              " the bucket)"},
    "batch.manifest_error": {"zh": "清单无法导入:{error}", "en": "The manifest cannot be imported: {error}"},
    "reconcile.progress": {"zh": "对账", "en": "Reconciling"},
    "reconcile.title": {"zh": "上传对账", "en": "Upload reconciliation"},
    "reconcile.scanned": {"zh": "扫描对象 {count} 个(前缀 {prefix})",
                          "en": "Scanned {count} objects under {prefix}"},
    "reconcile.orphans": {"zh": "缺少上传记录的对象 {orphans} 个:补记 {recorded},已被其他投递记录"
                                " {raced},已删除 {deleted}",
                          "en": "Objects without an upload record: {orphans} ({recorded} recorded,"
                                " {raced} recorded meanwhile by another delivery, {deleted} deleted)"},
    "reconcile.stuck": {"zh": "卡住的转码任务 {stuck} 个:重新入队 {requeued},释放过期租约 {released},"
                              "次数耗尽转为失败 {failed}",
                        "en": "Stuck transcode jobs: {stuck} ({requeued} requeued, {released} expired"
                              " leases released, {failed} failed with attempts spent)"},
    "reconcile.dry_run": {"zh": "预检(--dry-run):以上仅为发现,未做任何修改",
                          "en": "Dry run (--dry-run): findings only, nothing was changed"},
    "reconcile.incomplete": {"zh": "时间用尽,部分项目留待下次运行", "en": "Out of time; the rest is left"
                                                                         " for the next run"},
    "status.outcome.recorded": {"zh": "已补记", "en": "recorded"},
    "status.outcome.raced": {"zh": "已被记录", "en": "already recorded"},
    "status.outcome.deleted": {"zh": "已删除", "en": "deleted"},
    "status.outcome.requeued": {"zh": "已入队", "en": "requeued"},
    "status.outcome.released": {"zh": "已释放", "en": "released"},
    "status.outcome.failed": {"zh": "已失败", "en": "failed"},
    "worker.summary": {"zh": "处理 {processed} 条消息:完成 {done},重试 {retried},死信 {dead}",
                       "en": "Processed {processed} messages: {done} done, {retried} retried,"
                             " {dead} dead-lettered"},
    "check.ok": {"zh": "检查通过:{count} 个函数的 config.json 均符合 SCF 限制",
                 "en": "OK: {count} function configs are within SCF limits"},
    "check.failed": {"zh": "发现 {count} 个问题", "en": "{count} problems found"},
    "package.done": {"zh": "已生成 {path}:{files} 个文件,压缩后 {zip_mb:.1f} MB(上限 50 MB),"
                           "解压后 {unzipped_mb:.1f} MB(上限 500 MB),目标 Python {python}",
                     "en": "Built {path}: {files} files, {zip_mb:.1f} MB zipped (limit 50 MB),"
                           " {unzipped_mb:.1f} MB unzipped (limit 500 MB), Python {python}"},
    "package.failed": {"zh": "打包失败", "en": "Packaging failed"},
    "deploy.done": {"zh": "{function}:别名 {alias} 指向版本 {version}(流量 {weight}%),此前为 {previous}",
                    "en": "{function}: alias {alias} now serves version {version} at {weight}%"
                          " (was {previous})"},
    "deploy.failed": {"zh": "发布失败", "en": "Deploy failed"},
    "dev.ready": {"zh": "本地环境已启动:API 网关 {gateway},Webhook 接收端 {receiver};"
                        "密钥与开发令牌见 {info}。按 Ctrl-C 停止。",
                  "en": "Dev stack up: API Gateway {gateway}, webhook receiver {receiver};"
                        " secrets and a dev token are in {info}. Ctrl-C stops it."},
    "dev.stopped": {"zh": "本地环境已停止", "en": "Dev stack stopped"},
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
    "dlq.discard_needs_filter": {
        "zh": "丢弃不可撤销:请用 --function、--type、--since、--until、--id 或 --limit 缩小范围,"
              "或用 --all 确认丢弃全部待处理死信(可先加 --dry-run 查看)",
        "en": "discarding cannot be undone: narrow it with --function, --type, --since, --until, --id"
              " or --limit, or pass --all to discard every pending entry (try --dry-run first)"},
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
