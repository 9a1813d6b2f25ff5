//! Shared helpers: running qmspec, finding the referee tools, scratch repositories.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (where Cargo.toml is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `qmspec` command run from `dir`, colour off.
pub fn qmspec(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("qmspec").expect("the qmspec binary is built");
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE");
    cmd
}

/// A hang is a failure: a normal run takes milliseconds, even on hostile input.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Run qmspec in `dir` with a kill timeout; returns (exit code, stdout, stderr). A run killed
/// by a signal or the timeout fails the test.
pub fn run_bounded(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = qmspec(dir)
        .args(args)
        .timeout(TIMEOUT)
        .output()
        .expect("qmspec runs");
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("qmspec was killed (signal or timeout): {:?}", out.status));
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The cargo that runs the tests (nextest and `cargo test` set `CARGO`), else the one on PATH.
pub fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// One build at a time: the machine has two cores, and nextest runs these tests at once.
pub fn build_lock() -> std::fs::File {
    let dir = root().join("target");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let lock = std::fs::File::create(dir.join("qmspec-install-tests.lock")).expect("lock file");
    lock.lock().expect("lock");
    lock
}

/// Where `tests/setup.sh` installed the referees.
pub fn referees() -> PathBuf {
    std::env::var_os("QMSPEC_REFEREES").map_or_else(|| root().join(".referees"), PathBuf::from)
}

/// A referee tool by name. Fails loudly when it is missing: a verdict is never skipped.
pub fn referee(name: &str) -> PathBuf {
    let candidates = [
        referees().join("venv/bin").join(name),
        referees().join("node/node_modules/.bin").join(name),
    ];
    for c in &candidates {
        if c.exists() {
            return c.clone();
        }
    }
    if let Some(p) = which(name) {
        return p;
    }
    panic!(
        "referee `{name}` is not installed: run `bash tests/setup.sh` (the README's test command does)"
    );
}

/// A program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// PATH with the referees first (actionlint finds shellcheck, pre-commit finds git, ...).
pub fn referee_path() -> String {
    let mut parts = vec![
        referees().join("venv/bin"),
        referees().join("node/node_modules/.bin"),
    ];
    if let Some(p) = std::env::var_os("PATH") {
        parts.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(parts)
        .expect("PATH entries are valid")
        .to_string_lossy()
        .into_owned()
}

/// Run a referee; returns (success, stdout + stderr).
pub fn run_referee(name: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(referee(name))
        .args(args)
        .current_dir(dir)
        .env("PATH", referee_path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run referee {name}: {e}"));
    (out.status.success(), printed(&out))
}

/// Everything a finished command printed: stdout, then stderr.
pub fn printed(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A scratch repository holding one spec at `specs/worker.yaml`.
pub fn repo_with_spec(spec: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("specs")).expect("specs dir");
    std::fs::write(dir.path().join("specs/worker.yaml"), marked(spec)).expect("write spec");
    dir
}

/// A miette report with its wrapped lines joined again (continuations start with `│` or are
/// indented under `help:`), so a test can look for a sentence wherever the width broke it. A
/// break after `/` or `-` joins without a space, as miette breaks inside paths and words there.
pub fn unwrapped(report: &str) -> String {
    let mut out = String::new();
    for line in report.lines() {
        let t = line.trim_start();
        let continued = t.starts_with("│ ") || (line.starts_with("        ") && !t.is_empty());
        if continued && !out.is_empty() {
            out.pop();
            if !(out.ends_with('/') || out.ends_with('-')) {
                out.push(' ');
            }
            out.push_str(t.trim_start_matches("│ "));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The modeline that marks a file under `specs/` as a spec (qmspec skips YAML without it).
pub const MODELINE: &str = "# yaml-language-server: $schema=../schema/worker.schema.json\n";

/// Spec text with the marker on its first line (unless it has it already).
pub fn marked(spec: &str) -> String {
    if spec.contains(MODELINE.trim_end()) {
        spec.to_string()
    } else {
        format!("{MODELINE}{spec}")
    }
}

/// A scratch copy of this repository's specs, schema and generated files.
pub fn copy_of_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for sub in ["specs", "schema", "generated"] {
        copy_dir(&root().join(sub), &dir.path().join(sub));
    }
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures").join(name)).expect("fixture exists")
}

/// A local git repository for every action the workflows may use, each with its pinned release
/// as an annotated tag and a newer patch release of the same major as a lightweight tag; and
/// the `--mirror` argument that sends `https://github.com/` there.
pub fn action_repos() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tmp");
    for (action, _, version) in qmspec::pins::KNOWN {
        let repo = dir.path().join(action);
        std::fs::create_dir_all(&repo).expect("mkdir");
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
                .args(args)
                .current_dir(&repo)
                .output()
                .expect("git runs");
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        git(&["init", "-q"]);
        git(&["commit", "-q", "--allow-empty", "-m", "release"]);
        git(&["tag", "-a", version, "-m", version]);
        git(&["commit", "-q", "--allow-empty", "-m", "next"]);
        let (head, patch) = version.rsplit_once('.').expect("vX.Y.Z");
        let next = format!("{head}.{}", patch.parse::<u32>().expect("patch") + 1);
        git(&["tag", &next]);
    }
    let mirror = format!(
        "--mirror=https://github.com/=file://{}/",
        dir.path().display()
    );
    (dir, mirror)
}

/// `git` in `dir`, with an author and qmspec on PATH (for hooks).
pub fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_AUTHOR_NAME", "qmspec test")
        .env("GIT_AUTHOR_EMAIL", "test@example.org")
        .env("GIT_COMMITTER_NAME", "qmspec test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .env("PATH", path_with_qmspec());
    cmd
}

pub fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    git_cmd(dir).args(args).output().expect("git runs")
}

/// PATH with the built qmspec first, then the referees.
pub fn path_with_qmspec() -> String {
    let bin = assert_cmd::cargo::cargo_bin("qmspec");
    format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        referee_path()
    )
}

/// The real pre-commit installed in a scratch git repository, using this repository's
/// `.pre-commit-hooks.yaml` from a one-commit copy, as pre-commit clones a hook repository.
pub struct PreCommit {
    dir: std::path::PathBuf,
    home: tempfile::TempDir,
    _hooks: tempfile::TempDir,
    /// Set for every commit (where pre-commit installs and runs the hooks).
    env: Vec<(String, String)>,
}

/// A hook repository as pre-commit clones one: the files `fill` writes, in one commit; and
/// that commit.
pub fn hook_repository(fill: impl FnOnce(&Path)) -> (tempfile::TempDir, String) {
    let hooks = tempfile::tempdir().expect("tmp");
    fill(hooks.path());
    assert!(git(hooks.path(), &["init", "-q"]).status.success());
    git(hooks.path(), &["add", "-A"]);
    assert!(
        git(hooks.path(), &["commit", "-qm", "hooks"])
            .status
            .success()
    );
    let rev = String::from_utf8(git(hooks.path(), &["rev-parse", "HEAD"]).stdout).expect("utf8");
    (hooks, rev.trim().to_string())
}

impl PreCommit {
    /// `git init` in `dir` (unless it is a repository already) and install the
    /// `qmspec-check-system` hook.
    pub fn install(dir: &Path) -> PreCommit {
        let (hooks, rev) = hook_repository(|repo| {
            std::fs::copy(
                root().join(".pre-commit-hooks.yaml"),
                repo.join(".pre-commit-hooks.yaml"),
            )
            .expect("copy");
        });
        PreCommit::install_config(
            dir,
            &format!(
                "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: qmspec-check-system\n",
                hooks.path().display(),
                rev
            ),
            hooks,
        )
    }

    /// Install pre-commit in `dir` with the given `.pre-commit-config.yaml`.
    pub fn install_config(dir: &Path, config: &str, keep: tempfile::TempDir) -> PreCommit {
        std::fs::write(dir.join(".pre-commit-config.yaml"), config).expect("config");
        if !dir.join(".git").exists() {
            assert!(git(dir, &["init", "-q"]).status.success());
        }
        let hooks = PreCommit {
            dir: dir.to_path_buf(),
            home: tempfile::tempdir().expect("pre-commit home"),
            _hooks: keep,
            env: Vec::new(),
        };
        let out = Command::new(referee("pre-commit"))
            .arg("install")
            .current_dir(dir)
            .env("PATH", path_with_qmspec())
            .env("PRE_COMMIT_HOME", hooks.home.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("pre-commit runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        hooks
    }

    /// The same, with `key=value` set for every commit (after the defaults, so `PATH` may be
    /// replaced).
    pub fn with_env(mut self, key: &str, value: &str) -> PreCommit {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Where pre-commit keeps the hook repositories and their environments.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `git add -A && git commit`: whether it went through, and everything printed.
    pub fn commit(&self, msg: &str) -> (bool, String) {
        git(&self.dir, &["add", "-A"]);
        let out = git_cmd(&self.dir)
            .args(["commit", "-m", msg])
            .env("PRE_COMMIT_HOME", self.home.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("git commit");
        (out.status.success(), printed(&out))
    }
}

/// The ```yaml blocks of a Markdown text, in order.
pub fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("```yaml\n") {
        let body = &rest[start + "```yaml\n".len()..];
        let Some(end) = body.find("```") else { break };
        out.push(body[..end].to_string());
        rest = &body[end..];
    }
    out
}
