#!/usr/bin/env python3
"""The seed's usage examples from Python: native gRPC stubs generated from proto/ at run time.

Creates an enhanced task, moves it to in progress, logs time, stores a template, searches templates and logs
the template's usage over gRPC straight to the services, then reads the task back over Connect JSON through the
gateway. Prints the resource names it created and exits 0.

    python3 -m venv .venv-python && .venv-python/bin/pip install -r examples/python/requirements.txt
    .venv-python/bin/python examples/python/seed_usage.py --grpc 127.0.0.1:50051 --gateway http://127.0.0.1:8080

--grpc is the task service; --template-grpc the template service (default: --grpc's host, port + 1, as
`./taskmaster start` lays them out). The third-party imports (google/api, google/type) come from the repo's
npm package google-proto-files (or the `.proto-deps/` buf module); google/protobuf ships with grpcio-tools.
"""

import argparse
import datetime
import importlib
import os
import sys
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def include_dirs():
    """Where protoc finds our protos, the google/api + google/type imports, and the well-known types."""
    from grpc_tools import protoc  # noqa: PLC0415 (needs the venv)

    import importlib.resources as resources  # noqa: PLC0415

    candidates = [os.path.join(ROOT, ".proto-deps"), os.path.join(ROOT, "node_modules", "google-proto-files")]
    deps = next((d for d in candidates if os.path.isfile(os.path.join(d, "google", "api", "resource.proto"))), None)
    if deps is None:
        sys.exit("seed_usage: google/api protos not found; run `npm ci` at the repo root (google-proto-files)")
    wkt = str(resources.files("grpc_tools") / "_proto")
    return [os.path.join(ROOT, "proto"), deps, wkt], deps, protoc


def generate_stubs(out_dir):
    """Runs grpcio-tools' protoc over proto/ and the third-party files they import; returns out_dir."""
    includes, deps, protoc = include_dirs()
    ours = [
        os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "proto"))
        for d, _, files in os.walk(os.path.join(ROOT, "proto"))
        for f in files
        if f.endswith(".proto")
    ]
    theirs = ["google/api/field_behavior.proto", "google/api/resource.proto", "google/type/date.proto"]
    theirs += ["google/rpc/status.proto", "google/rpc/error_details.proto", "google/rpc/code.proto"]
    theirs = [f for f in theirs if os.path.isfile(os.path.join(deps, f))]
    args = ["protoc", *[f"-I{i}" for i in includes], f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    if protoc.main([*args, *sorted(ours), *theirs]) != 0:
        sys.exit("seed_usage: protoc failed on proto/")
    sys.path.insert(0, out_dir)
    # `google` is a namespace package shared by protobuf and the generated google/api, google/type modules.
    importlib.invalidate_caches()
    return out_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grpc", default="127.0.0.1:50051", help="task service gRPC address (host:port)")
    parser.add_argument("--template-grpc", help="template service gRPC address (default: --grpc's port + 1)")
    parser.add_argument("--actor", default="developer", help="caller for direct gRPC calls (development)")
    parser.add_argument("--gateway", default="http://127.0.0.1:8080", help="gateway base URL (Connect JSON)")
    args = parser.parse_args()
    host, port = args.grpc.rsplit(":", 1)
    template_addr = args.template_grpc or f"{host}:{int(port) + 1}"

    import grpc  # noqa: PLC0415
    import requests  # noqa: PLC0415
    from google.protobuf import duration_pb2, struct_pb2  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="taskmaster-py-") as out:
        generate_stubs(out)
        from google.type import date_pb2  # noqa: PLC0415
        from taskmaster.task.v1 import collaboration_pb2, task_pb2  # noqa: PLC0415
        from taskmaster.task.v1 import task_service_pb2 as ts  # noqa: PLC0415
        from taskmaster.task.v1 import task_service_pb2_grpc as ts_grpc  # noqa: PLC0415
        from taskmaster.template.v1 import collaboration_pb2 as tcollab  # noqa: PLC0415
        from taskmaster.template.v1 import template_pb2  # noqa: PLC0415
        from taskmaster.template.v1 import template_service_pb2 as tps  # noqa: PLC0415
        from taskmaster.template.v1 import template_service_pb2_grpc as tps_grpc  # noqa: PLC0415

        tasks = ts_grpc.TaskServiceStub(grpc.insecure_channel(args.grpc))
        templates = tps_grpc.TemplateServiceStub(grpc.insecure_channel(template_addr))
        # A deadline on every call; who is calling (plain header, accepted by services in development)
        opts = {"timeout": 10, "metadata": (("x-taskmaster-actor", args.actor),)}

        # storeAtomicTask: an enhanced task
        security = struct_pb2.Struct()
        security.update({"encryption": "AES-256", "tokenExpiry": "24h"})
        task = tasks.CreateTask(
            ts.CreateTaskRequest(
                task=task_pb2.Task(
                    title="Implement user authentication",
                    description="Add JWT-based authentication with refresh tokens",
                    type=task_pb2.TASK_TYPE_FEATURE,
                    priority=task_pb2.TASK_PRIORITY_HIGH,
                    complexity=task_pb2.TASK_COMPLEXITY_COMPLEX,
                    story_points=8,
                    business_value=9,
                    estimated_hours=16,
                    acceptance_criteria=[
                        "Users can register with email and password",
                        "Users can log in and receive a JWT token",
                        "Protected routes require a valid token",
                    ],
                    technical_notes="Use bcrypt for password hashing",
                    security_requirements=security,
                ),
                request_id=str(uuid.uuid4()),
            ),
            **opts,
        ).task

        # updateTaskStatus and logTime
        tasks.TransitionTaskStatus(
            ts.TransitionTaskStatusRequest(name=task.name, status=task_pb2.TASK_STATUS_IN_PROGRESS),
            **opts,
        )
        today = datetime.date.today()
        logged = tasks.CreateTimeLog(
            ts.CreateTimeLogRequest(
                parent=task.name,
                time_log=collaboration_pb2.TimeLog(
                    hours=2.5,
                    description="Initial research and planning",
                    log_date=date_pb2.Date(year=today.year, month=today.month, day=today.day),
                ),
            ),
            **opts,
        )

        # storeTemplate (slugs are unique: the suffix makes the example re-runnable)
        parameters = struct_pb2.Struct()
        parameters.update({"title": "Feature Implementation"})
        template = templates.CreateTemplate(
            tps.CreateTemplateRequest(
                template=template_pb2.Template(
                    slug=f"feature_implementation_{int(time.time() * 1000):x}",
                    title="Feature Implementation Template",
                    description="Standard template for implementing new features",
                    template_type="templateTypes/task_template",
                    content="# {{feature_name}}\n\n## Requirements\n{{#each requirements}}- {{this}}\n{{/each}}",
                    variables=[
                        template_pb2.TemplateVariable(name=n, required=True)
                        for n in ("feature_name", "requirements")
                    ],
                    parameters=parameters,
                    tags=["feature", "development", "standard"],
                    active=True,
                )
            ),
            **opts,
        ).template

        # searchTemplates and logTemplateUsage
        found = templates.SearchTemplates(
            tps.SearchTemplatesRequest(template_type="templateTypes/task_template", tags=["feature"], active=True),
            **opts,
        )
        usage = templates.LogTemplateUsage(
            tps.LogTemplateUsageRequest(
                parent=template.name,
                template_usage_log=tcollab.TemplateUsageLog(
                    task=task.name,
                    used_by="codegen-agent",
                    execution_time=duration_pb2.Duration(nanos=150_000_000),
                    success=True,
                ),
            ),
            **opts,
        ).template_usage_log

        # Read the task back over Connect JSON through the gateway (proto3 JSON: camelCase, enums by name)
        res = requests.post(
            f"{args.gateway.rstrip('/')}/taskmaster.task.v1.TaskService/GetTask",
            json={"name": task.name},
            headers={"Connect-Protocol-Version": "1"},
            timeout=10,
        )
        res.raise_for_status()
        back = res.json()["task"]
        if back["status"] != "TASK_STATUS_IN_PROGRESS" or back.get("actualHours") != 2.5:
            sys.exit(f"seed_usage: the gateway answered an unexpected task: {back}")

        print(f"task           {task.name}  ({task.title}, {logged.task_actual_hours} h logged)")
        print(f"template       {template.name}  (v{template.version}, {len(found.results)} found by search)")
        print(f"usage          {usage.name}  (by {usage.used_by})")
        print(f"via gateway    {back['name']}  ({back['status']}, {back['storyPoints']} story points)")


if __name__ == "__main__":
    main()
