//! Installing qmspec as its users do: the wheel maturin builds from a clean tree, installed into a
//! fresh virtual environment; the pre-commit hook that installs that wheel and compiles nothing;
//! the placeholder package that points the hook at the wheel; and the build from source with the
//! newest compatible dependencies, as `cargo install` and the `rust` hook resolve them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{
    PreCommit, build_lock, cargo, copy_of_project, hook_repository, qmspec, referee, referees, root,
};

/// The files a clean clone has: tracked ones and new ones not ignored (so uncommitted work is
/// built too), without `target/`, the referees or anything else `.gitignore` names; a file
/// deleted in the work tree but still in the index is not there.
pub fn tree_files() -> Vec<String> {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root())
        .output()
        .expect("git ls-files");
    assert!(out.status.success());
    out.stdout
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| std::str::from_utf8(n).expect("utf8 path").to_string())
        .filter(|rel| root().join(rel).exists())
        .collect()
}

/// A copy of [`tree_files`] under `to`.
pub fn clean_tree(to: &Path) {
    for rel in tree_files() {
        let from = root().join(&rel);
        let target = to.join(&rel);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&from, &target).unwrap_or_else(|e| panic!("copy {rel}: {e}"));
    }
}

/// Run a command to success; its output on failure.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = crate::support::printed(&out);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// The wheel maturin builds from a clean tree (`python/`, `bindings = "bin"`), once per test
/// run: tests run in separate processes, so a file lock serialises them and the second finds
/// the wheel of the same tree. Cargo's target folder is kept under `target/` between runs.
fn wheel() -> PathBuf {
    let base = root().join("target/qmspec-wheel-test");
    let _lock = build_lock();
    let tree = tempfile::tempdir().expect("tmp");
    clean_tree(tree.path());
    // The tree's identity, and the tools': a wheel built from other sources, or by another
    // maturin or rustc, is not reused.
    let mut id = String::new();
    for rel in tree_files() {
        let bytes = std::fs::read(root().join(&rel)).expect("read");
        id = sha256_hex(format!("{id}{rel}\0{}", sha256_hex(&bytes)).as_bytes());
    }
    for tool in [referee("maturin"), PathBuf::from("rustc")] {
        let version = run(Command::new(tool).arg("--version"));
        id = sha256_hex(format!("{id}{version}").as_bytes());
    }
    let out = base.join("wheels").join(&id[..16]);
    let found = |dir: &Path| -> Option<PathBuf> {
        std::fs::read_dir(dir).ok()?.find_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "whl").then_some(p)
        })
    };
    if let Some(w) = found(&out) {
        return w;
    }
    let _ = std::fs::remove_dir_all(base.join("wheels"));
    run(Command::new(referee("maturin"))
        .args(["build", "--release", "--locked", "--out"])
        .arg(&out)
        .current_dir(tree.path().join("python"))
        .env("CARGO_TARGET_DIR", base.join("target")));
    found(&out).expect("maturin wrote a wheel")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The one file of a wheel whose name ends with `suffix`, read by Python's zipfile.
fn file_in(wheel: &Path, suffix: &str) -> Vec<u8> {
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nname = [n for n in z.namelist() if n.endswith(sys.argv[2])]\nassert len(name) == 1, z.namelist()\nsys.stdout.buffer.write(z.read(name[0]))\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(wheel)
        .arg(suffix)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn cargo_version() -> String {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let table: toml::Table = toml::from_str(&text).expect("toml");
    table["package"]["version"]
        .as_str()
        .expect("version")
        .to_string()
}

#[test]
fn the_wheel_installs_into_a_fresh_venv_and_checks_a_repository() {
    let wheel = wheel();
    let name = wheel
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    // A binary-only wheel: any Python 3, no ABI.
    assert!(
        name.starts_with(&format!("qmspec-{}-py3-none-", cargo_version())),
        "{name}"
    );
    let venv = tempfile::tempdir().expect("tmp");
    run(Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv.path()));
    run(Command::new(venv.path().join("bin/pip"))
        .args(["install", "--no-index", "--disable-pip-version-check"])
        .arg(&wheel));
    let bin = venv.path().join("bin/qmspec");
    let version = run(Command::new(&bin).arg("--version"));
    assert_eq!(version.trim(), format!("qmspec {}", cargo_version()));
    // The metadata PyPI shows: summary, license, links, classifiers.
    let metadata = file_in(&wheel, ".dist-info/METADATA");
    let metadata = String::from_utf8(metadata).expect("utf8");
    // The license travels with the binary, as MIT asks.
    let license = file_in(&wheel, ".dist-info/licenses/LICENSE");
    assert!(String::from_utf8_lossy(&license).starts_with("MIT License"));
    for want in [
        "Name: qmspec\n",
        &format!("Version: {}\n", cargo_version()),
        "License-Expression: MIT\n",
        "Requires-Python: >=3.8\n",
        "Summary: Compile declarative container-image specs",
        "Project-URL: Repository, https://github.com/qmspec/qmspec\n",
        "Classifier: Topic :: Software Development :: Build Tools\n",
        "Description-Content-Type: text/markdown",
        // The short PyPI page (python/README.md), not the developer's manual.
        "uv tool install qmspec",
    ] {
        assert!(
            metadata.contains(want),
            "{want:?} missing from:\n{metadata}"
        );
    }
    // `check` from that install, on a copy of this repository's specs and generated files.
    let project = copy_of_project();
    let check = || {
        Command::new(&bin)
            .arg("check")
            .current_dir(project.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("qmspec check")
    };
    let out = check();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", crate::support::printed(&out));
    assert!(text.contains("generated files are up to date"), "{text}");
    // And it refuses drift, as the built binary does.
    let spec = project.path().join("specs/worker.yaml");
    let edited = std::fs::read_to_string(&spec)
        .expect("read")
        .replace("version: 3.0.2", "version: 3.1.0");
    std::fs::write(&spec, edited).expect("write");
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("qmspec::stale"));
}

/// The placeholder pre-commit installs names the wheel of this very version.
#[test]
fn the_placeholder_depends_on_the_wheel_of_this_version() {
    let text = std::fs::read_to_string(root().join("pyproject.toml")).expect("pyproject.toml");
    let table: toml::Table = toml::from_str(&text).expect("toml");
    let project = &table["project"];
    let version = cargo_version();
    assert_eq!(project["version"].as_str(), Some(version.as_str()));
    let deps: Vec<&str> = project["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    assert_eq!(deps, [format!("qmspec=={version}")]);
    // The maturin project is not at the root, where pre-commit's `pip install .` would build it.
    assert_eq!(
        table["build-system"]["build-backend"].as_str(),
        Some("setuptools.build_meta")
    );
    assert!(table.get("tool").and_then(|t| t.get("maturin")).is_none());
    let wheel_project =
        std::fs::read_to_string(root().join("python/pyproject.toml")).expect("python/");
    assert!(wheel_project.contains("bindings = \"bin\""));
    assert!(wheel_project.contains("manifest-path = \"../Cargo.toml\""));
}

/// A fake `cargo`, `rustc`, `maturin` and C compiler that fail, and leave a mark if anything
/// runs them for more than their version (pip asks `rustc --version` for its user agent).
fn tripwires(dir: &Path, answer_versions: bool) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let mark = dir.join("compiled");
    for tool in ["cargo", "rustc", "rustup", "maturin", "cc", "gcc"] {
        let path = bin.join(tool);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\ncase \"$*\" in\n    --version|-V|-vV) {} ;;\n    *) echo \"{tool} $*\" >> '{}' ;;\nesac\nexit 1\n",
                if answer_versions {
                    format!("echo '{tool} 1.0.0'; exit 0")
                } else {
                    String::new()
                },
                mark.display()
            ),
        )
        .expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    mark
}

/// The `qmspec-check` hook as a pre-commit user gets it: pre-commit clones this repository and
/// runs `pip install .`, which builds the placeholder and takes qmspec from the wheel (here a
/// local folder, as pip would take it from PyPI). No Rust toolchain is reachable, and a fake
/// `cargo`/`rustc`/`maturin`/C compiler on PATH proves none was called; the binary in the hook's
/// environment is the wheel's, byte for byte.
#[test]
fn the_pre_commit_hook_installs_the_wheel_and_compiles_nothing() {
    let wheel = wheel();
    // The hook repository: a clean clone of this one, one commit.
    let (hooks, rev) = hook_repository(clean_tree);
    let scratch = tempfile::tempdir().expect("tmp");
    let mark = tripwires(scratch.path(), false);
    let path = format!("{}:/usr/bin:/bin", scratch.path().join("bin").display());
    let project = copy_of_project();
    let d = project.path();
    // pip builds the placeholder offline with the setuptools wheel setup.sh downloaded.
    let build_wheels = referees().join("wheels");
    assert!(
        std::fs::read_dir(&build_wheels).is_ok_and(|mut d| d
            .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("setuptools-")))),
        "no setuptools wheel in {}: run `bash tests/setup.sh` (the README's test command does)",
        build_wheels.display()
    );
    let find_links = format!(
        "{} {}",
        wheel.parent().expect("wheel dir").display(),
        referees().join("wheels").display()
    );
    // The README's configuration, pointed at the local clone and its commit.
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let section = &readme[readme
        .find("## Pre-commit\n")
        .expect("a Pre-commit section")..];
    let snippet = crate::support::yaml_blocks(section)
        .into_iter()
        .find(|b| {
            b.contains("id: qmspec-check\n") && b.contains("https://github.com/qmspec/qmspec")
        })
        .expect("the README's remote hook block");
    let rev_line = snippet
        .lines()
        .find(|l| l.trim_start().starts_with("rev:"))
        .expect("a rev line");
    let config = snippet
        .replace(
            "https://github.com/qmspec/qmspec",
            &hooks.path().display().to_string(),
        )
        .replace(rev_line, &format!("    rev: {}", rev.trim()));
    let pre_commit = PreCommit::install_config(d, &config, hooks)
        .with_env("PATH", &path)
        .with_env("PIP_NO_INDEX", "1")
        .with_env("PIP_FIND_LINKS", &find_links)
        .with_env(
            "CARGO_HOME",
            &scratch.path().join("no-cargo").display().to_string(),
        )
        .with_env(
            "RUSTUP_HOME",
            &scratch.path().join("no-rustup").display().to_string(),
        );
    let started = std::time::Instant::now();
    let (ok, out) = pre_commit.commit("initial");
    assert!(ok, "the up-to-date project commits: {out}");
    eprintln!(
        "hook environment installed and run in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        !mark.exists(),
        "something tried to compile: {}",
        std::fs::read_to_string(&mark).unwrap_or_default()
    );
    // The hook's qmspec is the wheel's binary.
    let installed: Vec<PathBuf> = std::fs::read_dir(pre_commit.home())
        .expect("pre-commit home")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .flat_map(|repo| std::fs::read_dir(repo).into_iter().flatten())
        .filter_map(|e| e.ok().map(|e| e.path().join("bin/qmspec")))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(installed.len(), 1, "{installed:?}");
    assert!(
        std::fs::read(&installed[0]).expect("read") == file_in(&wheel, ".data/scripts/qmspec"),
        "the hook's qmspec is not the wheel's"
    );

    // A stale commit is refused, naming the drift and the fix.
    let spec = d.join("specs/worker.yaml");
    let text = std::fs::read_to_string(&spec)
        .expect("read")
        .replace("version: 3.0.2", "version: 3.1.0");
    std::fs::write(&spec, text).expect("write");
    let (ok, out) = pre_commit.commit("bump crest without regenerating");
    assert!(!ok, "a stale commit must be refused: {out}");
    assert!(
        out.contains("qmspec::stale") && out.contains("qmspec generate"),
        "{out}"
    );
    // After `generate`, the same commit goes through.
    qmspec(d).args(["generate"]).assert().code(0);
    let (ok, out) = pre_commit.commit("bump crest");
    assert!(ok, "after `qmspec generate` the commit passes: {out}");
    assert!(!mark.exists(), "something tried to compile");
}

/// `cargo install --path .` and the `rust` hook ignore Cargo.lock: qmspec must build with the
/// newest dependencies the version requirements allow, not only with the locked ones.
#[test]
fn qmspec_builds_with_the_newest_compatible_dependencies() {
    let tree = tempfile::tempdir().expect("tmp");
    clean_tree(tree.path());
    let cargo = cargo();
    run(Command::new(&cargo)
        .args(["generate-lockfile", "--quiet"])
        .current_dir(tree.path()));
    let newest = std::fs::read_to_string(tree.path().join("Cargo.lock")).expect("lock");
    let locked = std::fs::read_to_string(root().join("Cargo.lock")).expect("lock");
    eprintln!(
        "newest resolution differs from Cargo.lock in {} lines",
        similar::TextDiff::from_lines(&locked, &newest)
            .iter_all_changes()
            .filter(|c| c.tag() != similar::ChangeTag::Equal)
            .count()
    );
    let target = root().join("target/qmspec-newest-deps");
    let _lock = build_lock();
    run(Command::new(&cargo)
        .args(["build", "--quiet", "--bin", "qmspec"])
        .current_dir(tree.path())
        .env("CARGO_TARGET_DIR", &target));
    let bin = target.join("debug/qmspec");
    let version = run(Command::new(&bin).arg("--version"));
    assert_eq!(version.trim(), format!("qmspec {}", cargo_version()));
    let project = copy_of_project();
    run(Command::new(&bin)
        .args(["check", "--full"])
        .current_dir(project.path())
        .env("NO_COLOR", "1"));
}

/// The tripwires catch a hook that compiles: the `rust` hook, with a `cargo` that answers its
/// version, is refused and leaves `cargo install` in the mark.
#[test]
fn the_tripwires_catch_a_hook_that_compiles() {
    let (hooks, rev) = hook_repository(|dir| {
        for file in [".pre-commit-hooks.yaml", "Cargo.toml"] {
            std::fs::copy(root().join(file), dir.join(file)).expect("copy");
        }
    });
    let scratch = tempfile::tempdir().expect("tmp");
    let mark = tripwires(scratch.path(), true);
    let project = copy_of_project();
    let config = format!(
        "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: qmspec-check-rust\n",
        hooks.path().display(),
        rev.trim()
    );
    let pre_commit = PreCommit::install_config(project.path(), &config, hooks)
        .with_env(
            "PATH",
            &format!("{}:/usr/bin:/bin", scratch.path().join("bin").display()),
        )
        .with_env(
            "CARGO_HOME",
            &scratch.path().join("no-cargo").display().to_string(),
        );
    let (ok, out) = pre_commit.commit("initial");
    assert!(!ok, "{out}");
    let marked = std::fs::read_to_string(&mark).unwrap_or_default();
    assert!(marked.contains("cargo install"), "{marked}\n{out}");
}
