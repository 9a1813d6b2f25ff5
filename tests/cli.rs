//! The one integration test binary: every suite of qmspec's behaviour, judged by real tools.
//! It runs on Linux, where the referees, builds and services are; qmspec's Windows build is
//! tested from here too (`windows.rs`: its library tests and the binary, under Wine).
#![cfg(unix)]

#[path = "cli/support.rs"]
mod support;

#[path = "cli/validate.rs"]
mod validate;

#[path = "cli/schema.rs"]
mod schema;

#[path = "cli/dockerfile.rs"]
mod dockerfile;

#[path = "cli/workflow.rs"]
mod workflow;

#[path = "cli/check.rs"]
mod check;

#[path = "cli/build.rs"]
mod build;

#[path = "cli/lsp.rs"]
mod lsp;

#[path = "cli/hostile.rs"]
mod hostile;

#[path = "cli/property.rs"]
mod property;

#[path = "cli/ownership.rs"]
mod ownership;

#[path = "cli/lock.rs"]
mod lock;

#[path = "cli/start.rs"]
mod start;

#[path = "cli/sarif.rs"]
mod sarif;

#[path = "cli/install.rs"]
mod install;

#[path = "cli/windows.rs"]
mod windows;
