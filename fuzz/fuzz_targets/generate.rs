//! Fuzz target: a spec's file name, a manifest and a spec → `generate` (with and without
//! `--force`) and `check` in a scratch repository holding files qmspec did not write.
//!
//! Input: the file name, NUL, the manifest text, NUL, the spec. Whatever the three hold,
//! qmspec never changes or removes a file it did not write (the sentinels, the spec, `.git`),
//! never panics, and `check` after a successful `generate` is clean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmspec::output::{MANIFEST, check, generate, plan};
use qmspec::repo::Repo;

const SENTINELS: [(&str, &str); 4] = [
    (".git/HEAD", "ref: refs/heads/main\n"),
    ("Cargo.toml", "[package]\n"),
    ("src/main.rs", "fn main() {}\n"),
    ("generated/notes.txt", "mine\n"),
];

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let manifest = parts.next().unwrap_or_default();
    let spec = parts.next().unwrap_or_default();
    // One path component under specs/: the name itself is what is fuzzed, not nesting.
    if name.is_empty() || name.contains('/') || name == "." || name == ".." || name.len() > 200 {
        return;
    }
    let dir = tempfile::tempdir().expect("scratch directory");
    let root = dir.path();
    for (rel, text) in SENTINELS {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("sentinel");
    }
    std::fs::create_dir_all(root.join("specs")).expect("specs");
    std::fs::write(root.join("specs").join(&name), spec).expect("spec");
    std::fs::write(root.join(MANIFEST), manifest).expect("manifest");
    let spec_path = format!("specs/{name}");
    let repo = Repo::open(root).expect("repository");
    let specs = vec![spec_path.clone()];
    for force in [false, true] {
        let Ok(p) = plan(&repo, &specs, &[]) else { return };
        if !p.valid() {
            return;
        }
        let done = generate(&repo, &p, force, std::time::Duration::from_secs(5), &mut || {});
        for (rel, text) in SENTINELS {
            assert_eq!(std::fs::read_to_string(root.join(rel)).ok().as_deref(), Some(text), "{rel} changed");
        }
        assert_eq!(std::fs::read(root.join(&spec_path)).ok().as_deref(), Some(spec), "the spec changed");
        if done.is_ok() {
            let (checks, drift) = check(&repo, &specs, &[], false).expect("check runs");
            assert!(drift.is_empty(), "drift after generate: {drift:?}");
            assert!(checks.iter().all(|c| c.drift.is_empty()));
        }
    }
});
