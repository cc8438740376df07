"""moto in server mode on a port the kernel picks (port 0), printed as the first line of stdout.
Picking a free port in the test and handing it to moto_server left a window in which two tests
could pick the same port: the second server failed to bind, and its test then talked to the
other test's server. Runs until stdin closes (the test is done) or it is killed."""
import logging
import sys

from moto.server import ThreadedMotoServer

# Errors still reach stderr; a line per request would bury the tests' own output.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
