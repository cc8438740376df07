//! Generated runbooks of any size, for benchmarks: `tiers` copies of the web tier's snapshot
//! path (find image, find snapshot, launch, create volume, attach, verify), each tier in its
//! own path, every step written one field per line as `fmt` lays it out.

use std::fmt::Write as _;

/// A runbook of `tiers` tiers; six steps and 30 lines per tier.
pub fn tiers(tiers: usize) -> String {
    let mut out = String::from(
        "runbook \"generated\" {\n  rto      = 30m\n  rpo      = 1d\n  strategy = \"all\"\n\n  param subnet = \"subnet-0123456789abcdef0\"\n\n",
    );
    for t in 0..tiers {
        let _ = write!(
            out,
            r#"  path tier{t} {{
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
  }}
"#
        );
    }
    out.push_str("}\n");
    out
}
