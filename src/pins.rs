//! Action pins: every `uses:` in a generated workflow is a full commit SHA with its version.
//!
//! Each SHA below is the commit its release tag points at, read from the action's repository
//! (`git rev-parse vX.Y.Z^{commit}`). Update them together with the version comment.

use std::collections::BTreeMap;

use crate::model::{Emulation, Spec, Strategy};

/// Built-in pins: `owner/repo` → (commit, tag).
pub const KNOWN: &[(&str, &str, &str)] = &[
    (
        "actions/attest-build-provenance",
        "a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32",
        "v4.1.0",
    ),
    (
        "actions/checkout",
        "3d3c42e5aac5ba805825da76410c181273ba90b1",
        "v7.0.1",
    ),
    (
        "actions/download-artifact",
        "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
        "v8.0.1",
    ),
    (
        "actions/upload-artifact",
        "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
        "v7.0.0",
    ),
    (
        "docker/build-push-action",
        "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a",
        "v7.3.0",
    ),
    (
        "docker/login-action",
        "4907a6ddec9925e35a0a9e82d7399ccc52663121",
        "v4.1.0",
    ),
    (
        "docker/metadata-action",
        "dc802804100637a589fabce1cb79ff13a1411302",
        "v6.2.0",
    ),
    (
        "docker/setup-buildx-action",
        "37fe631027851001ddb9b187196cc803df7f5f0e",
        "v4.3.0",
    ),
    (
        "sigstore/cosign-installer",
        "6f9f17788090df1f26f669e9d70d6ae9567deba6",
        "v4.1.2",
    ),
    (
        "docker/setup-qemu-action",
        "96fe6ef7f33517b61c61be40b68a1882f3264fb8",
        "v4.2.0",
    ),
];

/// The pin table in force for one spec: built-ins overridden or extended by `ci.pins`.
#[derive(Debug, Clone, Default)]
pub struct Pins {
    table: BTreeMap<String, (String, String)>,
}

impl Pins {
    /// Built-ins plus the spec's `ci.pins` (`owner/repo` → `SHA # vX.Y.Z`, checked by the schema).
    pub fn new(overrides: &indexmap::IndexMap<String, String>) -> Self {
        let mut table: BTreeMap<String, (String, String)> = KNOWN
            .iter()
            .map(|(a, sha, v)| (a.to_string(), (sha.to_string(), v.to_string())))
            .collect();
        for (action, pin) in overrides {
            if let Some((sha, version)) = pin.split_once(" # ") {
                table.insert(
                    action.clone(),
                    (sha.trim().to_string(), version.trim().to_string()),
                );
            }
        }
        Pins { table }
    }

    /// Built-ins, then the actions a lock file resolved, then the spec's `ci.pins`.
    pub fn with_lock(
        overrides: &indexmap::IndexMap<String, String>,
        locked: &[crate::lock::LockedAction],
    ) -> Self {
        let mut pins = Pins::new(&indexmap::IndexMap::new());
        for a in locked {
            pins.table
                .insert(a.action.clone(), (a.sha.clone(), a.tag.clone()));
        }
        for (action, pin) in overrides {
            if let Some((sha, version)) = pin.split_once(" # ") {
                pins.table.insert(
                    action.clone(),
                    (sha.trim().to_string(), version.trim().to_string()),
                );
            }
        }
        pins
    }

    /// The release tag an action is pinned to.
    pub fn tag(&self, action: &str) -> Option<&str> {
        self.table.get(action).map(|(_, v)| v.as_str())
    }

    /// `owner/repo@SHA # vX.Y.Z` for each action, or the first action without a pin.
    pub fn resolve_all(
        &self,
        actions: Vec<&'static str>,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for action in actions {
            let Some((sha, version)) = self.table.get(action) else {
                return Err(format!(
                    "the workflow uses `{action}`, which has no known pin"
                ));
            };
            out.insert(action.to_string(), format!("{action}@{sha} # {version}"));
        }
        Ok(out)
    }
}

/// The actions the workflow template uses for a spec (validation checks their pins before
/// anything is resolved; `resolve` records them for the template).
pub fn workflow_actions(spec: &Spec) -> Vec<&'static str> {
    let native = spec.ci.strategy == Strategy::Native;
    let emulated = spec
        .platforms
        .iter()
        .any(|(_, p)| p.emulation == Emulation::Qemu);
    let mut v = vec![
        "actions/checkout",
        "docker/setup-buildx-action",
        "docker/login-action",
        "docker/metadata-action",
        "docker/build-push-action",
        // Digests travel from the build to the test and merge jobs as artifacts.
        "actions/upload-artifact",
        "actions/download-artifact",
    ];
    if !native || emulated {
        v.push("docker/setup-qemu-action");
    }
    if spec.ci.attest {
        v.push("actions/attest-build-provenance");
    }
    if spec.ci.sign {
        v.push("sigstore/cosign-installer");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_without_a_pin_is_an_error() {
        let pins = Pins::new(&indexmap::IndexMap::new());
        assert!(pins.resolve_all(vec!["actions/checkout"]).is_ok());
        let err = pins
            .resolve_all(vec!["someone/unknown-action"])
            .expect_err("no pin");
        assert!(err.contains("someone/unknown-action"));
    }

    #[test]
    fn pins_are_full_shas_with_versions() {
        for (action, sha, version) in KNOWN {
            assert!(
                sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                "{action}"
            );
            assert!(version.starts_with('v'), "{action}");
        }
    }
}
