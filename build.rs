//! The build's identity for `qmspec check`'s fast path: its version and a hash of everything
//! that decides what qmspec generates (its sources, templates, schema and locked dependencies),
//! so a manifest record written by one build is never trusted by another. Cargo.toml's bytes
//! are left out: `cargo package` and maturin rewrite it, and the same release installed from
//! crates.io, PyPI or a clone must be one build, or a team whose members install it differently
//! would rewrite each other's record on every `generate`.

use sha2::{Digest, Sha256};
use std::path::Path;

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, files),
            Ok(t) if t.is_file() => files.push(path),
            _ => {}
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "schema"] {
        walk(&root.join(dir), &mut files);
        println!("cargo:rerun-if-changed={dir}");
    }
    files.push(root.join("Cargo.lock"));
    println!("cargo:rerun-if-changed=Cargo.lock");
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        let rel = file.strip_prefix(root).unwrap_or(file);
        let bytes = std::fs::read(file).unwrap_or_default();
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let id: String = hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    println!(
        "cargo:rustc-env=QMSPEC_BUILD_ID={}-{id}",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    );
}
