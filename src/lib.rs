//! qmspec: compile one declarative worker spec into per-architecture Dockerfiles and CI.
#![warn(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

pub mod codes;
pub mod conda;
pub mod config;
pub mod diag;
pub mod draft;
pub mod explain;
pub mod fetch;
pub mod init;
pub mod load;
pub mod lock;
pub mod model;
pub mod oci;
pub mod output;
pub mod outputs;
pub mod paths;
pub mod pins;
pub mod pypi;
pub mod render;
pub mod repo;
pub mod resolve;
pub mod rules;
pub mod schema;
pub mod toolbox;
pub mod versions;
pub mod yaml;
