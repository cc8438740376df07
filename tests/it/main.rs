//! rebound's integration tests, one binary (as casey/just keeps them): every test file used to
//! link its own copy of the AWS SDK, and linking 18 binaries was most of CI's time. Each module
//! is one area; `common` holds the `Test` builder, example paths and the moto harness.

mod common;

mod aws;
mod cli;
mod crash;
mod daemon;
mod diagnostics;
mod evidence;
mod examples;
mod exec;
mod fmt;
mod history_s3;
mod isolation;
mod limits;
mod monitoring;
mod notify;
mod plan;
mod policy;
mod preflight;
mod schedule_export;
mod secrets;
mod signing;
mod simulate;
mod ssm;
mod storm;
mod teardown;
mod tidy;
