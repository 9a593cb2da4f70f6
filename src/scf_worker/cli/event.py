"""``scf-worker event generate apigw|cos|timer|queue``: print a realistic sample event."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("event", help="sample events in the shapes SCF delivers")
    actions = parser.add_subparsers(dest="event_action", required=True)
    generate = actions.add_parser("generate", help="print one sample event as JSON")
    kinds = generate.add_subparsers(dest="kind", required=True)

    apigw = kinds.add_parser("apigw", help="API Gateway integration request")
    apigw.add_argument("--method", default="POST")
    apigw.add_argument("--path", default="/upload/sign")
    apigw.add_argument("--body", default='{"filename": "clip.mp4", "mime": "video/mp4", "size": 1048576}')
    apigw.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")

    cos = kinds.add_parser("cos", help="COS object-created notification")
    cos.add_argument("--bucket", default="media-1250000000")
    cos.add_argument("--key", default="uploads/demo-user/clip.mp4")
    cos.add_argument("--size", type=int, default=1048576)
    cos.add_argument("--etag", default="d41d8cd98f00b204e9800998ecf8427e")
    cos.add_argument("--content-type", default="video/mp4")
    cos.add_argument("--region", default="ap-guangzhou")

    timer = kinds.add_parser("timer", help="timer trigger tick")
    timer.add_argument("--name", default="timer")
    timer.add_argument("--message", default="")

    queue = kinds.add_parser("queue", help="CMQ queue trigger with one message")
    queue.add_argument("--topic", default="transcode")
    queue.add_argument("--body", default='{"jobId": "media-transcode-0000000000"}', help="message JSON")

    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scf_worker.devstack import events

    event: dict[str, Any]
    if args.kind == "apigw":
        headers = dict(h.split(":", 1) for h in args.header if ":" in h)
        event = events.apigw(args.method, args.path, args.body,
                             {k.strip().lower(): v.strip() for k, v in headers.items()})
    elif args.kind == "cos":
        event = events.cos(args.bucket, args.key, args.size, args.etag or None, args.content_type or None,
                           args.region)
    elif args.kind == "timer":
        event = events.timer(args.name, args.message)
    else:
        try:
            body: Any = json.loads(args.body)
        except json.JSONDecodeError:
            body = args.body
        event = events.queue(args.topic, body)
    print(json.dumps(event, ensure_ascii=False, indent=2))
    return 0
