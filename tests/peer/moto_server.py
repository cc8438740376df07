"""moto in server mode on a port the kernel picks (port 0), printed as the first line of stdout.
Picking a free port in the test and handing it to moto_server left a window in which two tests
could pick the same port: the second server failed to bind, and its test then talked to the
other test's server. Runs until stdin closes (the test is done) or it is killed.

Stricter than plain moto where AWS is: EC2 is eventually consistent, and an instance or volume
id RunInstances or CreateVolume just returned answers NotFound for a while to calls naming it
(DescribeInstances, DescribeInstanceStatus, DescribeVolumes), and filters leave it out. Plain
moto knows every id at once; here each new instance and volume is unseen by those three
Describe calls for MOTO_PROPAGATION_SECONDS (default 1) after it was made, by patching moto's
models (moto's own lookups inside other calls still see it). And ClientToken is honoured by
RunInstances, CreateVolume and CopyImage, as EC2 honours it: plain moto makes a second
instance; and CopyImage applies its TagSpecifications, which plain moto drops."""
import logging
import os
import sys
import threading
import time

from moto.ec2.exceptions import InvalidInstanceIdError, InvalidVolumeIdError
from moto.ec2.models.elastic_block_store import EBSBackend, Volume
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.core.responses import ActionResult
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.responses.instances import InstanceResponse
from moto.server import ThreadedMotoServer

PROPAGATION = float(os.environ.get("MOTO_PROPAGATION_SECONDS", "1"))
# Set while a Describe request is answered: moto's own use of its lookups (RunInstances tags
# the volumes it made through describe_volumes) must see everything.
ASKING = threading.local()


def born(init):
    def wrapped(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._rebound_born = time.monotonic()

    return wrapped


def unseen(resource):
    young = time.monotonic() - getattr(resource, "_rebound_born", 0.0) < PROPAGATION
    return young and getattr(ASKING, "on", False)


def asked(handler):
    def wrapped(self, *args, **kwargs):
        ASKING.on = True
        try:
            return handler(self, *args, **kwargs)
        finally:
            ASKING.on = False

    return wrapped


Instance.__init__ = born(Instance.__init__)
Volume.__init__ = born(Volume.__init__)

by_id = InstanceBackend.get_multi_instances_by_id
all_reservations = InstanceBackend.all_reservations
all_instances = InstanceBackend.all_instances
describe_volumes = EBSBackend.describe_volumes


def get_multi_instances_by_id(self, instance_ids, filters=None):
    found = by_id(self, instance_ids, filters)
    young = [i.id for i in found if unseen(i)]
    if young:
        raise InvalidInstanceIdError(young)
    return found


def visible_reservations(self, filters=None):
    # Filters (and listings without ids) leave out what has not propagated.
    out = []
    for r in all_reservations(self, filters):
        r.instances = [i for i in r.instances if not unseen(i)]
        if r.instances:
            out.append(r)
    return out


def visible_instances(self, filters=None):
    return [i for i in all_instances(self, filters) if not unseen(i)]


def volumes(self, volume_ids=None, filters=None):
    found = describe_volumes(self, volume_ids, filters)
    if volume_ids:
        young = [v.id for v in found if unseen(v)]
        if young:
            raise InvalidVolumeIdError(", ".join(young))
        return found
    return [v for v in found if not unseen(v)]


InstanceBackend.get_multi_instances_by_id = get_multi_instances_by_id
InstanceBackend.all_reservations = visible_reservations
InstanceBackend.all_instances = visible_instances
EBSBackend.describe_volumes = volumes
# ClientToken, as EC2 honours it: RunInstances and CreateVolume with a token seen before
# answer what the first call made, instead of making it again. (Plain moto ignores it.)
MADE = {}
MADE_LOCK = threading.Lock()
TOKEN = threading.local()
run_instances = InstanceBackend.run_instances
create_volume = EBSBackend.create_volume


def once(token, make):
    if not token or token == "ABCDE":  # moto's stand-in when no token was sent
        return make()
    with MADE_LOCK:
        if token not in MADE:
            MADE[token] = make()
        return MADE[token]


def tokened_run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
    return once(
        kwargs.get("client_token"),
        lambda: run_instances(self, image_id, count, user_data, security_group_names, **kwargs),
    )


def tokened_create_volume(self, *args, **kwargs):
    return once(getattr(TOKEN, "value", None), lambda: create_volume(self, *args, **kwargs))


def with_token(handler):
    def wrapped(self, *args, **kwargs):
        TOKEN.value = self._get_param("ClientToken")
        try:
            return handler(self, *args, **kwargs)
        finally:
            TOKEN.value = None

    return wrapped


def copy_image(self):
    # CopyImage as EC2 answers it: the ClientToken honoured (plain moto makes a second copy),
    # and the TagSpecifications applied to the copy (plain moto drops them, and a copy untagged
    # is one teardown may not delete). The copy's state is moto's: available at once.
    def make():
        image = self.ec2_backend.copy_image(
            self._get_param("SourceImageId"),
            self._get_param("SourceRegion"),
            self._get_param("Name"),
            self._get_param("Description"),
        )
        tags = self._parse_tag_specification().get("image", {})
        if tags:
            self.ec2_backend.create_tags([image.id], tags)
        return image.id

    image_id = once(self._get_param("ClientToken"), make)
    return ActionResult({"ImageId": image_id})


AmisResponse.copy_image = copy_image
InstanceBackend.run_instances = tokened_run_instances
EBSBackend.create_volume = tokened_create_volume
ElasticBlockStore.create_volume = with_token(ElasticBlockStore.create_volume)
InstanceResponse.describe_instances = asked(InstanceResponse.describe_instances)
InstanceResponse.describe_instance_status = asked(InstanceResponse.describe_instance_status)
ElasticBlockStore.describe_volumes = asked(ElasticBlockStore.describe_volumes)

# Errors still reach stderr; a line per request would bury the tests' own output.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
