"""A RunPod GraphQL emulator on 127.0.0.1 for the real ``runpod`` SDK.

Point the SDK at it with ``RUNPOD_API_BASE_URL=<emulator url>`` (the SDK posts to
``<base>/graphql``) and an API key registered with :meth:`RunPodEmulator.add_key`.

It parses the GraphQL documents the SDK sends (a small parser for the subset used: operation
keyword, fields, arguments with string/number/enum/bool/null/object/list values, nested
selection sets) and answers with exactly the selected fields, as a GraphQL server does —
an unknown field is a GraphQL error, like the real API's validation.

Supported operations: ``podFindAndDeployOnDemand``, ``podTerminate``, ``podStop``,
``pod(input: {podId})``, ``myself { pods … clientBalance currentSpendPerHr }``,
``gpuTypes(input: {id})``.

State and faults:

* pods move through ``desiredStatus`` RUNNING → (EXITED via podStop) → TERMINATED (removed);
  ``runtime`` is null until ``boot_delay`` seconds after creation, then lists the published
  ports (22/tcp → ``ssh_host:ssh_port``) and ``uptimeSeconds`` counts from then;
* ``costPerHr`` = the GPU type's secure (or community) price × gpuCount;
* the pod's start command (``dockerArgs``) is honoured for its deadline: a
  ``sleep N; runpodctl remove pod …`` watchdog removes the pod N seconds after creation;
* ``PUBLIC_KEY`` from the pod env is appended to ``authorized_keys`` (what RunPod images'
  start script does), so the test sshd accepts the run's key;
* auth: a missing/unknown Bearer key answers HTTP 401;
* :meth:`fail_op` makes the next N calls of one operation answer a GraphQL error;
  ``capacity`` limits concurrent pods ("no longer any instances available");
  the base class' ``fail_next`` faults (429/500/html/hang…) work too.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.emulators.base import Emulator, Request, Response, json_response

# ----------------------------------------------------------------------------- mini GraphQL
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[_A-Za-z][_0-9A-Za-z]*)|(?P<punct>[{}():,\[\]$!=@]))'
)


class GraphQLSyntaxError(Exception):
    pass


@dataclass
class Field:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    selections: list[Field] | None = None


class _Parser:
    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise GraphQLSyntaxError(f"Syntax Error: Unexpected character at {pos}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        while self.i < len(self.tokens) and self.tokens[self.i] == ("punct", ","):
            self.i += 1
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise GraphQLSyntaxError(f"Syntax Error: Expected {value!r}, found {tok[1] if tok else '<EOF>'}")
        self.i += 1
        return tok

    def document(self) -> tuple[str, list[Field]]:
        op = "query"
        tok = self.peek()
        if tok and tok[0] == "name" and tok[1] in ("query", "mutation"):
            op = self.take()[1]
            nxt = self.peek()
            if nxt and nxt[0] == "name":
                self.take()
        sel = self.selection_set()
        if self.peek() is not None:
            raise GraphQLSyntaxError("Syntax Error: Unexpected text after the operation")
        return op, sel

    def selection_set(self) -> list[Field]:
        self.take("{")
        out = []
        while True:
            tok = self.peek()
            if tok is None:
                raise GraphQLSyntaxError("Syntax Error: Expected Name, found <EOF>")
            if tok[1] == "}":
                self.take()
                return out
            out.append(self.field())

    def field(self) -> Field:
        kind, name = self.take()
        if kind != "name":
            raise GraphQLSyntaxError(f"Syntax Error: Expected Name, found {name!r}")
        f = Field(name)
        tok = self.peek()
        if tok and tok[1] == "(":
            self.take()
            while self.peek() and self.peek()[1] != ")":  # type: ignore[index]
                key = self.take()[1]
                self.take(":")
                f.args[key] = self.value()
            self.take(")")
        tok = self.peek()
        if tok and tok[1] == "{":
            f.selections = self.selection_set()
        return f

    def value(self) -> Any:
        kind, tok = self.take()
        if kind == "str":
            return bytes(tok[1:-1], "utf-8").decode("unicode_escape") if "\\" in tok else tok[1:-1]
        if kind == "num":
            return float(tok) if "." in tok else int(tok)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(tok, tok)
        if tok == "{":
            obj = {}
            while self.peek() and self.peek()[1] != "}":  # type: ignore[index]
                key = self.take()[1]
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        if tok == "[":
            items = []
            while self.peek() and self.peek()[1] != "]":  # type: ignore[index]
                items.append(self.value())
            self.take("]")
            return items
        raise GraphQLSyntaxError(f"Syntax Error: Unexpected {tok!r}")


def parse_graphql(text: str) -> tuple[str, list[Field]]:
    return _Parser(text).document()


class GraphQLError(Exception):
    def __init__(self, message: str, code: str = "BAD_USER_INPUT"):
        super().__init__(message)
        self.code = code


def project(value: Any, selections: list[Field] | None, type_name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [project(v, selections, type_name) for v in value]
    if selections is None:
        if isinstance(value, dict):
            raise GraphQLError(
                f'Field of type "{type_name}" must have a selection of subfields.',
                "GRAPHQL_VALIDATION_FAILED",
            )
        return value
    if not isinstance(value, dict):
        raise GraphQLError(
            f'Field of type "{type_name}" must not have a selection since it is a scalar.',
            "GRAPHQL_VALIDATION_FAILED",
        )
    out = {}
    for f in selections:
        if f.name not in value:
            raise GraphQLError(
                f'Cannot query field "{f.name}" on type "{type_name}".', "GRAPHQL_VALIDATION_FAILED"
            )
        out[f.name] = project(value[f.name], f.selections, f.name)
    return out


# ----------------------------------------------------------------------------- the service
DEFAULT_GPUS = {
    "NVIDIA H100 80GB HBM3": {"displayName": "H100 SXM", "memoryInGb": 80, "securePrice": 2.99, "communityPrice": 2.69, "maxGpuCount": 8},
    "NVIDIA H100 PCIe": {"displayName": "H100 PCIe", "memoryInGb": 80, "securePrice": 2.39, "communityPrice": 1.99, "maxGpuCount": 8},
    "NVIDIA A100 80GB PCIe": {"displayName": "A100 PCIe", "memoryInGb": 80, "securePrice": 1.64, "communityPrice": 1.19, "maxGpuCount": 8},
}  # fmt: skip
_SLEEP = re.compile(r"\bsleep (\d+)\s*;\s*runpodctl remove pod")


@dataclass
class EmuPod:
    id: str
    name: str
    image: str
    gpu_type: str
    gpu_count: int
    cloud: str
    cost_per_hr: float
    docker_args: str
    env: dict[str, str]
    ports: str
    container_disk: int
    volume: int
    created: float
    status: str = "RUNNING"
    last_change: str = ""
    deadline_after: float | None = None
    removed_by: str = ""
    removed_at: float | None = None  # time.monotonic() when it was terminated/removed


class RunPodEmulator(Emulator):
    name = "runpod"

    def __init__(
        self,
        *,
        boot_delay: float = 0.0,
        ssh_host: str = "127.0.0.1",
        ssh_port: int | None = None,
        authorized_keys: Path | None = None,
        capacity: int = 100,
    ):
        super().__init__()
        self.keys: set[str] = set()
        self.gpus: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_GPUS.items()}
        self.boot_delay = boot_delay
        self.ssh_host = ssh_host
        self.ssh_port = ssh_port
        self.authorized_keys = authorized_keys
        self.capacity = capacity
        self.pods: dict[str, EmuPod] = {}
        self.gone: dict[str, EmuPod] = {}
        self.calls: list[str] = []  # root field names, in order
        self.client_balance = 1000.0
        self.extra_spend_per_hr = 0.0  # billing outside the listed pods (storage, …)
        self._op_faults: dict[str, list[str]] = {}
        self._lost_replies: dict[str, int] = {}  # ops that take effect but whose reply is an error
        self._state_lock = threading.RLock()
        self.add_route("POST", "/graphql", self._graphql)

    # ------------------------------------------------------------------ test controls
    def add_key(self, key: str | None = None) -> str:
        key = key or "rp_" + uuid.uuid4().hex
        self.keys.add(key)
        return key

    def fail_op(
        self,
        op: str,
        times: int = 1,
        message: str = "Something went wrong. Please try again later or contact support.",
    ) -> None:
        with self._state_lock:
            self._op_faults.setdefault(op, []).extend([message] * times)

    def lose_reply(self, op: str, times: int = 1) -> None:
        """The next ``times`` calls of ``op`` take effect (a pod is created…) but the client gets
        an error back, as when RunPod's gateway times out after the backend did the work."""
        with self._state_lock:
            self._lost_replies[op] = self._lost_replies.get(op, 0) + times

    def alive(self) -> list[EmuPod]:
        with self._state_lock:
            self._tick()
            return [p for p in self.pods.values() if p.status != "TERMINATED"]

    def billed_usd(self, name: str) -> float:
        """What RunPod charges for the pods named ``name``: the running time (uptime, from the end
        of the boot to removal or now, unrounded) × costPerHr — the truth a booked cost is
        checked against."""
        with self._state_lock:
            self._tick()
            now = time.monotonic()
            return sum(
                max(0.0, (p.removed_at if p.removed_at is not None else now) - p.created - self.boot_delay)
                / 3600.0
                * p.cost_per_hr
                for p in [*self.pods.values(), *self.gone.values()]
                if p.name == name
            )

    def count(self, op: str) -> int:
        return self.calls.count(op)

    # ------------------------------------------------------------------ state
    def _tick(self) -> None:
        now = time.monotonic()
        for pid, p in list(self.pods.items()):
            if p.deadline_after is not None and now - p.created >= p.deadline_after:
                p.status = "TERMINATED"
                p.removed_by = "deadline"
                p.removed_at = p.created + p.deadline_after
                self.gone[pid] = self.pods.pop(pid)

    def _runtime(self, p: EmuPod) -> dict[str, Any] | None:
        up = time.monotonic() - p.created - self.boot_delay
        if p.status != "RUNNING" or up < 0:
            return None
        ports = []
        if self.ssh_port is not None and "22/tcp" in p.ports:
            ports.append(
                {
                    "ip": self.ssh_host,
                    "isIpPublic": True,
                    "privatePort": 22,
                    "publicPort": self.ssh_port,
                    "type": "tcp",
                }
            )
        ports.append(
            {"ip": "100.65.0.2", "isIpPublic": False, "privatePort": 22, "publicPort": 22, "type": "tcp"}
        )
        return {
            "uptimeInSeconds": int(up),
            "ports": ports,
            "gpus": [
                {"id": f"GPU-{i}", "gpuUtilPercent": 0, "memoryUtilPercent": 0} for i in range(p.gpu_count)
            ],
        }

    def _pod_obj(self, p: EmuPod) -> dict[str, Any]:
        rt = self._runtime(p)
        return {
            "id": p.id,
            "name": p.name,
            "imageName": p.image,
            "env": [f"{k}={v}" for k, v in p.env.items()],
            "machineId": "m-" + p.id[:8],
            "machine": {
                "podHostId": f"{p.id}-64410f2e",
                "gpuDisplayName": self.gpus[p.gpu_type]["displayName"],
            },
            "desiredStatus": p.status,
            "costPerHr": p.cost_per_hr,
            "dockerArgs": p.docker_args,
            "dockerId": None,
            "gpuCount": p.gpu_count,
            "lastStatusChange": p.last_change,
            "memoryInGb": 125 * p.gpu_count,
            "containerDiskInGb": p.container_disk,
            "podType": "RESERVED",
            "port": None,
            "ports": p.ports,
            "uptimeSeconds": rt["uptimeInSeconds"] if rt else 0,
            "vcpuCount": 16 * p.gpu_count,
            "volumeInGb": p.volume,
            "volumeMountPath": "/workspace",
            "runtime": rt,
        }

    # ------------------------------------------------------------------ resolvers
    def _deploy(self, args: dict[str, Any]) -> dict[str, Any]:
        inp = args.get("input") or {}
        for req in ("name", "imageName", "cloudType", "gpuTypeId"):
            if inp.get(req) in (None, ""):
                raise GraphQLError(
                    f'Field "PodFindAndDeployOnDemandInput.{req}" of required type was not provided.'
                )
        gpu = str(inp["gpuTypeId"])
        if gpu not in self.gpus:
            raise GraphQLError(f"Invalid GPU type: {gpu}")
        cloud = str(inp["cloudType"])
        if cloud not in ("ALL", "SECURE", "COMMUNITY"):
            raise GraphQLError(
                f'Value "{cloud}" does not exist in "CloudTypeEnum" enum.', "GRAPHQL_VALIDATION_FAILED"
            )
        count = int(inp.get("gpuCount") or 1)
        if count > int(self.gpus[gpu]["maxGpuCount"]) or len(self.alive()) >= self.capacity:
            raise GraphQLError(
                "There are no longer any instances available with the requested specifications. Please refresh and try again."
            )
        env = {str(e["key"]): str(e["value"]) for e in inp.get("env") or []}
        price = self.gpus[gpu]["communityPrice" if cloud == "COMMUNITY" else "securePrice"]
        docker_args = str(inp.get("dockerArgs") or "")
        m = _SLEEP.search(docker_args)
        pod = EmuPod(
            id=uuid.uuid4().hex[:14],
            name=str(inp["name"]),
            image=str(inp["imageName"]),
            gpu_type=gpu,
            gpu_count=count,
            cloud=cloud,
            cost_per_hr=round(float(price) * count, 3),
            docker_args=docker_args,
            env=env,
            ports=str(inp.get("ports") or ""),
            container_disk=int(inp.get("containerDiskInGb") or 0),
            volume=int(inp.get("volumeInGb") or 0),
            created=time.monotonic(),
            last_change="Rented by User: " + time.strftime("%a %b %d %Y %H:%M:%S GMT+0000"),
            deadline_after=float(m.group(1)) if m else None,
        )
        self.pods[pod.id] = pod
        if self.authorized_keys is not None and env.get("PUBLIC_KEY"):
            with self.authorized_keys.open("a") as fh:
                fh.write(env["PUBLIC_KEY"].strip() + "\n")
        return self._pod_obj(pod)

    def _find(self, args: dict[str, Any]) -> EmuPod | None:
        pid = str((args.get("input") or {}).get("podId") or "")
        self._tick()
        return self.pods.get(pid)

    def _resolve(self, op: str, f: Field) -> tuple[Any, str]:
        if op == "mutation" and f.name == "podFindAndDeployOnDemand":
            return self._deploy(f.args), "Pod"
        if op == "mutation" and f.name == "podTerminate":
            p = self._find(f.args)
            if p is None:
                raise GraphQLError("Pod not found")  # what the API says for an unknown/removed pod
            p.status = "TERMINATED"
            p.removed_by = "api"
            p.removed_at = time.monotonic()
            self.gone[p.id] = self.pods.pop(p.id)
            return None, "Void"
        if op == "mutation" and f.name == "podStop":
            p = self._find(f.args)
            if p is None:
                raise GraphQLError("Pod not found")
            p.status = "EXITED"
            return {"id": p.id, "desiredStatus": p.status}, "Pod"
        if op == "query" and f.name == "pod":
            p = self._find(f.args)
            return (self._pod_obj(p) if p else None), "Pod"
        if op == "query" and f.name == "myself":
            self._tick()
            running = [p for p in self.pods.values() if p.status == "RUNNING"]
            return {
                "id": "user_1",
                "pubKey": "",
                "pods": [self._pod_obj(p) for p in self.pods.values()],
                "networkVolumes": [],
                "clientBalance": round(self.client_balance, 4),
                "currentSpendPerHr": round(sum(p.cost_per_hr for p in running) + self.extra_spend_per_hr, 4),
            }, "User"
        if op == "query" and f.name == "gpuTypes":
            want = (f.args.get("input") or {}).get("id")
            out = []
            for gid, g in self.gpus.items():
                if want and gid != want:
                    continue
                out.append({
                    "id": gid, "displayName": g["displayName"], "memoryInGb": g["memoryInGb"],
                    "maxGpuCount": g["maxGpuCount"], "manufacturer": "Nvidia", "cudaCores": 0,
                    "secureCloud": True, "communityCloud": True, "securePrice": g["securePrice"],
                    "communityPrice": g["communityPrice"], "oneMonthPrice": None, "threeMonthPrice": None,
                    "oneWeekPrice": None, "communitySpotPrice": None, "secureSpotPrice": None,
                    "lowestPrice": {"minimumBidPrice": None, "uninterruptablePrice": g["securePrice"]},
                })  # fmt: skip
            return out, "GpuType"
        raise GraphQLError(
            f'Cannot query field "{f.name}" on type "{op.capitalize()}".', "GRAPHQL_VALIDATION_FAILED"
        )

    def _graphql(self, req: Request) -> Response:
        auth = req.header("authorization") or ""
        key = auth[7:] if auth.startswith("Bearer ") else ""
        if key not in self.keys:
            return json_response({"errors": [{"message": "Unauthorized"}]}, 401)
        try:
            body = req.json() or {}
            op, fields = parse_graphql(str(body.get("query") or ""))
        except (ValueError, GraphQLSyntaxError) as exc:
            return json_response(
                {"errors": [{"message": str(exc), "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]}, 400
            )
        data: dict[str, Any] = {}
        with self._state_lock:
            for f in fields:
                self.calls.append(f.name)
                faults = self._op_faults.get(f.name)
                if faults:
                    msg = faults.pop(0)
                    return json_response(
                        {
                            "errors": [
                                {
                                    "message": msg,
                                    "path": [f.name],
                                    "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                                }
                            ],
                            "data": None,
                        }
                    )
                try:
                    value, type_name = self._resolve(op, f)
                    data[f.name] = project(value, f.selections, type_name)
                    if self._lost_replies.get(f.name, 0) > 0:
                        self._lost_replies[f.name] -= 1
                        raise GraphQLError("upstream request timeout", "INTERNAL_SERVER_ERROR")
                except GraphQLError as exc:
                    return json_response(
                        {
                            "errors": [
                                {"message": str(exc), "path": [f.name], "extensions": {"code": exc.code}}
                            ],
                            "data": None,
                        }
                    )
        return json_response({"data": data})
