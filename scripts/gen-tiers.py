#!/usr/bin/env python3
"""Writes a runbook of N tiers to stdout: the same six-step tier as benches/common/mod.rs
(find image, find snapshot, launch, create volume, attach, verify), each in its own path."""
import sys

tiers = int(sys.argv[1])
out = ['runbook "generated" {', '  rto      = 30m', '  rpo      = 1d', '  strategy = "all"', '',
       '  param subnet = "subnet-0123456789abcdef0"', '']
for t in range(tiers):
    out.append(f'''  path tier{t} {{
    rto = 20m

    step base{t} = find_image {{
      tags = {{ Role = "base", Safe = "True" }}
    }}
    step data{t} = find_snapshot {{
      tags = {{ Volume = "data{t}" }}
    }}
    step host{t} = launch {{
      image          = base{t}.id
      subnet         = subnet
      instance_types = ["m6i.large", "m5.large"]
    }}
    step disk{t} = create_volume {{
      snapshot = data{t}.id
      zone     = host{t}.zone
      type     = "gp3"
    }}
    step mount{t} = attach {{
      volume   = disk{t}.id
      instance = host{t}.instance
      device   = "/dev/sdf"
    }}
    step ok{t} = verify {{
      instances = host{t}.instances
      checks    = ["running", "status_ok"]
      after     = [mount{t}]
    }}
  }}''')
out.append('}')
print('\n'.join(out))
