#!/usr/bin/env python3
"""moto's server with EC2's sense of time, for benches/peer: plain moto makes an instance
`running` and a volume `available` the instant they are created, so no waiter ever waits and no
restore tool can be told apart from another. Here, by patching moto's models (not its answers):

  - an instance is `pending` (code 0) for --hold seconds after RunInstances, then `running`;
    every reader of the state (DescribeInstances, DescribeInstanceStatus, filters, waiters)
    sees the same thing, and an explicit change (terminate, stop) still wins;
  - a volume is `creating` for --volume-hold seconds after CreateVolume, then `available`;
  - an attachment is `attaching` for --attach-hold seconds after AttachVolume, then `attached`
    (the volume is `in-use` throughout, as on EC2);
  - AttachVolume is refused, as EC2 refuses it, while the instance is pending
    (IncorrectInstanceState) or the volume is not available (IncorrectState).

It also counts requests: every request's Action (EC2 and STS use the query protocol) is logged
with its time. GET /_bench/calls gives {"counts": {...}, "log": [[epoch, action], ...]},
GET /_bench/state when each instance/volume/attachment became ready, POST /_bench/reset clears
both. Usage: held_moto.py PORT [--hold 5] [--volume-hold 2] [--attach-hold 1]
"""
import argparse
import io
import json
import threading
import time
from collections import Counter
from urllib.parse import parse_qs

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_block_store import Volume, VolumeAttachment
from moto.ec2.models.instances import Instance, InstanceState
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

HOLD = {"instance": 5.0, "volume": 2.0, "attach": 1.0}
LOCK = threading.Lock()
LOG = []  # [epoch seconds, Action]
READY = {}  # resource id -> {"created": epoch, "ready": epoch}


def note(key, hold):
    now = time.time()
    with LOCK:
        READY[key] = {"created": now, "ready": now + hold}
    return time.monotonic() + hold


class HeldState(InstanceState):
    """`pending` until `until` (monotonic), then `running`, unless something set another state."""

    def __init__(self, until):  # no super().__init__: name and code are properties here
        self._name, self._code, self.until = "pending", 0, until

    def _settle(self):
        if self._name == "pending" and time.monotonic() >= self.until:
            self._name, self._code = "running", 16

    @property
    def name(self):
        self._settle()
        return self._name

    @name.setter
    def name(self, value):
        self._name = value

    @property
    def code(self):
        self._settle()
        return self._code

    @code.setter
    def code(self, value):
        self._code = value


_instance_init = Instance.__init__


def instance_init(self, *args, **kwargs):
    _instance_init(self, *args, **kwargs)
    self._state = HeldState(note(self.id, HOLD["instance"]))


_volume_init = Volume.__init__


def volume_init(self, *args, **kwargs):
    _volume_init(self, *args, **kwargs)
    self._available_at = note(self.id, HOLD["volume"])


def volume_status(self):
    if self.attachment:
        return "in-use"
    return "available" if time.monotonic() >= self._available_at else "creating"


def attachment_status(self):
    if self._status == "attached" and time.monotonic() < self._attached_at:
        return "attaching"
    return self._status


def set_attachment_status(self, value):
    self._status = value
    if value == "attached":
        self._attached_at = note(f"{self.volume.id}@{self.instance.id}", HOLD["attach"])


_attach_volume = ElasticBlockStore.attach_volume


def attach_volume(self):
    """The AttachVolume API (not the backend, which RunInstances uses for root volumes)."""
    volume = self.ec2_backend.get_volume(self._get_param("VolumeId"))
    instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
    if instance.state not in ("running", "stopped"):
        raise EC2ClientError(
            "IncorrectInstanceState", f"Instance '{instance.id}' is not 'running'."
        )
    if volume.status != "available":
        raise EC2ClientError(
            "IncorrectState", f"{volume.id} is not 'available' (it is '{volume.status}')."
        )
    return _attach_volume(self)


Instance.__init__ = instance_init
Volume.__init__ = volume_init
Volume.status = property(volume_status)
VolumeAttachment.status = property(attachment_status, set_attachment_status)
ElasticBlockStore.attach_volume = attach_volume


class Counting:
    """WSGI middleware: logs each request's Action, serves /_bench/*, passes the rest to moto."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bench/"):
            return self.bench(path, start_response)
        action = None
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            # Read the body and hand moto a fresh stream, as moto's own dispatcher does.
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size)
            environ["wsgi.input"] = io.BytesIO(body)
            action = parse_qs(body.decode("utf-8")).get("Action", [None])[0]
        if action is None:  # JSON protocols name the operation in a header
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            action = target.rsplit(".", 1)[-1] or f"{environ.get('REQUEST_METHOD')} {path}"
        with LOCK:
            LOG.append([time.time(), action])
        return self.app(environ, start_response)

    def bench(self, path, start_response):
        with LOCK:
            if path == "/_bench/reset":
                LOG.clear()
                READY.clear()
                body = {}
            elif path == "/_bench/calls":
                body = {"counts": dict(Counter(a for _, a in LOG)), "log": list(LOG)}
            elif path == "/_bench/state":
                body = dict(READY)
            else:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"unknown /_bench path\n"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("port", type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--hold", type=float, default=5.0, help="seconds an instance stays pending")
    p.add_argument("--volume-hold", type=float, default=2.0, help="seconds a volume is creating")
    p.add_argument("--attach-hold", type=float, default=1.0, help="seconds an attachment is attaching")
    a = p.parse_args()
    HOLD.update(instance=a.hold, volume=a.volume_hold, attach=a.attach_hold)
    app = Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server(a.host, a.port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"held moto on http://{a.host}:{a.port}: hold {HOLD}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
