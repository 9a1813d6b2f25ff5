//! `qmspec check` and safe `generate`: every drift state, refusals that lose nothing,
//! atomic writes under SIGKILL, and the real pre-commit hook in a scratch git repository.

use std::path::Path;
use std::process::Command;

use crate::support::{PreCommit, copy_of_project, fixture, qmspec, repo_with_spec, root};

fn check(dir: &Path) -> (i32, String) {
    let out = qmspec(dir).args(["check"]).output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("code"), text)
}

#[test]
fn this_repository_is_up_to_date() {
    let (code, out) = check(&root());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("8 generated files are up to date"), "{out}");
}

#[test]
fn a_missing_file_is_reported() {
    let dir = copy_of_project();
    std::fs::remove_file(dir.path().join("generated/Dockerfile.worker.arm64")).expect("rm");
    let (code, out) = check(dir.path());
    assert_eq!(code, 1);
    insta::assert_snapshot!(out, @"
    qmspec::missing

      × generated/Dockerfile.worker.arm64 is missing: the spec produces it
      help: run `qmspec generate`
    qmspec check: 1 of the generated files need attention
    ");
}

#[test]
fn a_stale_file_shows_a_diff_and_the_fix() {
    let dir = copy_of_project();
    let spec = dir.path().join("specs/worker.yaml");
    let text = std::fs::read_to_string(&spec)
        .expect("read")
        .replace("NWCHEM_NPROC: \"4\"", "NWCHEM_NPROC: \"8\"");
    std::fs::write(&spec, text).expect("write");
    let (code, out) = check(dir.path());
    assert_eq!(code, 1);
    assert!(
        out.contains("qmspec::stale\n")
            && out.contains("× generated/Dockerfile.worker.amd64 is stale"),
        "{out}"
    );
    assert!(
        out.contains("--- a/generated/Dockerfile.worker.amd64 (committed)"),
        "{out}"
    );
    assert!(
        out.contains("+++ b/generated/Dockerfile.worker.amd64 (from the spec)"),
        "{out}"
    );
    assert!(
        out.contains("-    NWCHEM_NPROC=\"4\" \\") && out.contains("+    NWCHEM_NPROC=\"8\" \\"),
        "{out}"
    );
    assert!(!out.contains('\u{1b}'), "no colour when not on a terminal");
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    assert_eq!(check(dir.path()).0, 0);
}

#[test]
fn a_hand_edit_is_reported_and_never_overwritten_silently() {
    let dir = copy_of_project();
    let file = dir.path().join("generated/Dockerfile.worker.amd64");
    let edited = std::fs::read_to_string(&file)
        .expect("read")
        .replace("USER 10001:10001", "USER 0");
    std::fs::write(&file, &edited).expect("write");
    let (code, out) = check(dir.path());
    assert_eq!(code, 1);
    assert!(
        out.contains("× generated/Dockerfile.worker.amd64 was edited by hand"),
        "{out}"
    );
    assert!(out.contains("-USER 0\n+USER 10001:10001"), "{out}");
    let refused = qmspec(dir.path()).args(["generate"]).assert().code(1);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        err.contains("edited by hand") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        edited,
        "the edit is kept"
    );
    qmspec(dir.path())
        .args(["generate", "--force"])
        .assert()
        .code(0);
    assert_eq!(check(dir.path()).0, 0);
}

/// A checkout that turned LF into CRLF (git's `core.autocrlf`, Git for Windows' default) is
/// told apart from a hand edit, with the `.gitattributes` line that keeps LF.
#[test]
fn crlf_line_endings_from_a_checkout_are_named_with_their_fix() {
    let dir = copy_of_project();
    let file = dir.path().join("generated/Dockerfile.worker.amd64");
    let lf = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, lf.replace('\n', "\r\n")).expect("write");
    let (code, out) = check(dir.path());
    assert_eq!(code, 1);
    let out = crate::support::unwrapped(&out);
    assert!(
        out.contains(
            "× generated/Dockerfile.worker.amd64 has CRLF line endings where qmspec wrote LF"
        ) && out.contains(
            "add `generated/** text eol=lf` to .gitattributes, then run `qmspec generate --force`"
        ),
        "{out}"
    );
    // A real edit besides the line endings is a hand edit.
    std::fs::write(
        &file,
        lf.replace('\n', "\r\n")
            .replace("USER 10001:10001", "USER 0"),
    )
    .expect("write");
    let (code, out) = check(dir.path());
    assert_eq!(code, 1);
    assert!(
        out.contains("was edited by hand") && !out.contains("CRLF"),
        "{out}"
    );
    qmspec(dir.path())
        .args(["generate", "--force"])
        .assert()
        .code(0);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), lf);
    assert_eq!(check(dir.path()).0, 0);
}

#[test]
fn a_file_qmspec_did_not_write_is_not_replaced() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    std::fs::create_dir_all(dir.path().join("generated")).expect("mkdir");
    let mine = dir.path().join("generated/Dockerfile.demo.amd64");
    std::fs::write(&mine, "FROM scratch\n").expect("write");
    qmspec(dir.path()).args(["generate"]).assert().code(1);
    assert_eq!(
        std::fs::read_to_string(&mine).expect("read"),
        "FROM scratch\n"
    );
    assert!(
        !dir.path().join("generated/Dockerfile.demo.arm64").exists(),
        "nothing is written when one file is refused"
    );
    let (code, out) = check(dir.path());
    assert_eq!(code, 1);
    assert!(out.contains("qmspec::not-generated"), "{out}");
}

#[test]
fn a_removed_platform_leaves_an_orphan_that_generate_removes() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    let spec = dir.path().join("specs/worker.yaml");
    let text = std::fs::read_to_string(&spec).expect("read");
    let start = text.find("  arm64:\n    base:").expect("arm64 platform");
    let end = text.find("apt:").expect("apt");
    let without = format!("{}{}", &text[..start], &text[end..]).replace(
        "      arm64:\n        kind: archive\n        url: https://example.org/hello-{{version}}-aarch64.tar.gz\n        sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9\n        dest: /opt/hello\n        path: [/opt/hello]\n",
        "",
    );
    std::fs::write(&spec, without).expect("write");
    let out = qmspec(dir.path())
        .args(["check", "--no-schema"])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("qmspec::orphaned\n")
            && text.contains("× generated/Dockerfile.demo.arm64 is orphaned"),
        "{text}"
    );
    let out = qmspec(dir.path()).args(["generate"]).assert().code(0);
    assert!(
        String::from_utf8_lossy(&out.get_output().stdout)
            .contains("removed   generated/Dockerfile.demo.arm64")
    );
    assert!(!dir.path().join("generated/Dockerfile.demo.arm64").exists());
    qmspec(dir.path())
        .args(["check", "--no-schema"])
        .assert()
        .code(0);
}

#[test]
fn an_outdated_schema_is_reported() {
    let dir = copy_of_project();
    let schema = dir.path().join("schema/worker.schema.json");
    let text = std::fs::read_to_string(&schema)
        .expect("read")
        .replace("Image name as published", "Image name");
    std::fs::write(&schema, text).expect("write");
    let (code, out) = check(dir.path());
    assert_eq!(code, 1);
    assert!(
        out.contains("qmspec::schema-outdated")
            && out.contains("run `qmspec generate`, which writes this qmspec's schema there"),
        "{out}"
    );
}

#[test]
fn an_invalid_spec_fails_check_with_its_diagnostics() {
    let dir = repo_with_spec(&fixture("validate/unknown-key.yaml"));
    let (code, out) = check(dir.path());
    assert_eq!(code, 1);
    assert!(out.contains("qmspec::unknown-key"), "{out}");
}

#[test]
fn check_speaks_json_and_github() {
    let dir = copy_of_project();
    std::fs::remove_file(dir.path().join("generated/validate-worker.sh")).expect("rm");
    let out = qmspec(dir.path())
        .args(["check", "--format", "json"])
        .assert()
        .code(1);
    let line: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).expect("one JSON object");
    assert_eq!(line["code"], "qmspec::missing");
    assert_eq!(line["file"], "generated/validate-worker.sh");
    let out = qmspec(dir.path())
        .args(["check", "--format", "github"])
        .assert()
        .code(1);
    assert!(
        String::from_utf8_lossy(&out.get_output().stdout)
            .starts_with(
                "::error file=generated/validate-worker.sh,title=qmspec%3A%3Amissing::generated/validate-worker.sh is missing"
            ),
        "a finding about a whole file has no made-up position"
    );
    let out = qmspec(dir.path())
        .args(["check", "--format", "sarif"])
        .assert()
        .code(1);
    let sarif: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("SARIF");
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "qmspec::missing");
}

#[test]
fn outputs_outside_the_repository_are_refused() {
    // Lexically: the schema and the rules reject it before anything is written.
    let spec =
        fixture("minimal.yaml").replace("generated/Dockerfile.demo.amd64", "../escape/Dockerfile");
    let dir = repo_with_spec(&spec);
    let out = qmspec(dir.path()).args(["generate"]).assert().code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("qmspec::unsafe-path"));
    assert!(!dir.path().join("../escape").exists());
    let spec =
        fixture("minimal.yaml").replace("generated/Dockerfile.demo.amd64", "/tmp/qmspec-escape");
    let dir = repo_with_spec(&spec);
    qmspec(dir.path()).args(["generate"]).assert().code(1);
    assert!(!Path::new("/tmp/qmspec-escape").exists());
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_repository_is_refused() {
    let outside = tempfile::tempdir().expect("tmp");
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    std::os::unix::fs::symlink(outside.path(), dir.path().join("generated")).expect("symlink");
    let out = qmspec(dir.path()).args(["generate"]).assert().code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("symlink"));
    assert_eq!(
        std::fs::read_dir(outside.path()).expect("ls").count(),
        0,
        "nothing written outside"
    );
}

/// SIGKILL `generate` at many points: every output is always the whole old or the whole new file.
#[test]
fn an_interrupted_generate_leaves_old_or_new_files() {
    let dir = repo_with_spec(&fixture("all-kinds.yaml"));
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    let files = [
        "Dockerfile.all",
        "Dockerfile.all.amd64",
        "Dockerfile.all.arm64",
        "validate-all.sh",
        "publish-all.yml",
    ];
    let read_all = |d: &Path| -> Vec<String> {
        files
            .iter()
            .map(|f| std::fs::read_to_string(d.join("generated").join(f)).expect("read"))
            .collect()
    };
    let old = read_all(dir.path());
    let spec = dir.path().join("specs/worker.yaml");
    let v2 = std::fs::read_to_string(&spec)
        .expect("read")
        .replace("name: all-kinds", "name: all-kinds-two");
    std::fs::write(&spec, &v2).expect("write");
    let reference = repo_with_spec(&v2);
    qmspec(reference.path()).args(["generate"]).assert().code(0);
    let new = read_all(reference.path());
    assert_ne!(old, new);
    let bin = assert_cmd::cargo::cargo_bin("qmspec");
    let mut interrupted = 0;
    for i in 0..120u64 {
        // Restore the old files, then kill a run after a varying delay.
        for (f, content) in files.iter().zip(&old) {
            std::fs::write(dir.path().join("generated").join(f), content).expect("restore");
        }
        let mut child = Command::new(&bin)
            .arg("generate")
            .current_dir(dir.path())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_micros(i * 40));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if !status.success() {
            interrupted += 1;
        }
        for (k, f) in files.iter().enumerate() {
            let now = std::fs::read_to_string(dir.path().join("generated").join(f)).expect("read");
            assert!(
                now == old[k] || now == new[k],
                "run {i}: {f} is neither old nor new"
            );
        }
    }
    assert!(
        interrupted > 0,
        "no run was interrupted; the test proved nothing"
    );
    // The next run finishes the job and sweeps the whole temporaries killed runs left. A run
    // killed between creating a temporary file and writing it leaves an empty one, which
    // proves nothing: it is kept, and the run names it.
    let out = qmspec(dir.path()).args(["generate"]).assert().code(0);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for entry in std::fs::read_dir(dir.path().join("generated")).expect("ls") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains("qmspec-tmp") {
            assert_eq!(
                entry.metadata().expect("stat").len(),
                0,
                "{name} is a whole leftover"
            );
            assert!(
                stderr.contains(&format!("kept      generated/{name}")),
                "{stderr}"
            );
        }
    }
    assert_eq!(read_all(dir.path()), new);
}

/// `git` in `dir` with a test identity and qmspec and the referees on PATH.
/// The real pre-commit, with this repository's `.pre-commit-hooks.yaml`, in a scratch repo.
#[test]
fn pre_commit_rejects_a_stale_commit_and_accepts_it_after_generate() {
    let dir = copy_of_project();
    let d = dir.path();
    let hooks = PreCommit::install(d);
    let (ok, out) = hooks.commit("initial");
    assert!(ok, "the up-to-date project commits: {out}");

    let spec = d.join("specs/worker.yaml");
    let text = std::fs::read_to_string(&spec)
        .expect("read")
        .replace("version: 3.0.2", "version: 3.1.0");
    std::fs::write(&spec, text).expect("write");
    let (ok, out) = hooks.commit("bump crest without regenerating");
    assert!(!ok, "a stale commit must be rejected: {out}");
    assert!(
        out.contains("qmspec::stale")
            && out.contains("+RUN /opt/conda/bin/conda install -y -c conda-forge 'crest=3.1.0'"),
        "{out}"
    );

    qmspec(d).args(["generate"]).assert().code(0);
    let (ok, out) = hooks.commit("bump crest");
    assert!(ok, "after `qmspec generate` the commit passes: {out}");
}

/// A `check` report without the diffs (their hash lines change with every template edit):
/// each finding's code, message and help.
fn without_diffs(report: &str) -> String {
    let mut out = String::new();
    let mut in_diff = false;
    for line in report.lines() {
        if line.starts_with("--- a/") {
            in_diff = true;
        } else if line.starts_with("qmspec") {
            in_diff = false;
        }
        if !in_diff {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Every kind of drift at once, each reported as a diagnostic on its file with the command
/// that fixes it; the same findings as JSON Lines, one object per file.
#[test]
fn every_kind_of_drift_is_one_diagnostic_naming_its_fix() {
    let both = fixture("minimal.yaml").replace(
        "platforms:",
        "dockerfiles: both\nmulti-arch-dockerfile: generated/Dockerfile.demo\nplatforms:",
    );
    let dir = repo_with_spec(&both);
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    let spec = fixture("minimal.yaml").replace("ubuntu-24.04-arm\n", "ubuntu-24.04-arm-large\n");
    std::fs::write(
        dir.path().join("specs/worker.yaml"),
        crate::support::marked(&spec),
    )
    .expect("write");
    let g = dir.path().join("generated");
    std::fs::remove_file(g.join("Dockerfile.demo.arm64")).expect("rm");
    std::fs::write(g.join("Dockerfile.demo.amd64"), "FROM scratch\n").expect("write");
    let script = std::fs::read_to_string(g.join("validate-demo.sh")).expect("read");
    std::fs::write(g.join("validate-demo.sh"), script + "echo extra\n").expect("write");
    std::fs::create_dir_all(dir.path().join("schema")).expect("mkdir");
    // Another qmspec's schema (its `$id`): outdated, not foreign.
    std::fs::write(
        dir.path().join("schema/worker.schema.json"),
        "{\"$id\": \"https://qmspec.dev/schema/worker.schema.json\"}\n",
    )
    .expect("write");
    let (code, out) = check(dir.path());
    assert_eq!(code, 1, "{out}");
    insta::assert_snapshot!(without_diffs(&out), @"
    qmspec::not-generated

      × generated/Dockerfile.demo.amd64 has no qmspec stamp, but the spec writes it
      help: move the file away, then run `qmspec generate`
    qmspec::missing

      × generated/Dockerfile.demo.arm64 is missing: the spec produces it
      help: run `qmspec generate`
    qmspec::edited-by-hand

      × generated/validate-demo.sh was edited by hand: `qmspec generate` would lose these edits
      help: move the edits into the spec, then run `qmspec generate` (or `qmspec generate --force` to
            discard them)
    qmspec::stale

      × generated/publish-demo.yml is stale: the spec changed since it was generated
      help: run `qmspec generate`
    qmspec::orphaned

      × generated/Dockerfile.demo is orphaned: qmspec generated it, but the spec no longer produces it
      help: run `qmspec generate` to remove it
    qmspec::schema-outdated

      × schema/worker.schema.json does not match this qmspec's schema
      help: run `qmspec generate`, which writes this qmspec's schema there
    qmspec check: 6 of the generated files need attention
    ");
    let out = qmspec(dir.path())
        .args(["check", "--format", "json"])
        .output()
        .expect("runs");
    let codes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object per line");
            format!(
                "{} {} {}",
                v["code"].as_str().expect("code"),
                v["file"].as_str().expect("file"),
                v.get("diff").is_some()
            )
        })
        .collect();
    insta::assert_snapshot!(codes.join("\n"), @"
    qmspec::not-generated generated/Dockerfile.demo.amd64 true
    qmspec::missing generated/Dockerfile.demo.arm64 false
    qmspec::edited-by-hand generated/validate-demo.sh true
    qmspec::stale generated/publish-demo.yml true
    qmspec::orphaned generated/Dockerfile.demo false
    qmspec::schema-outdated schema/worker.schema.json true
    ");
}

#[test]
fn something_in_the_way_of_an_output_is_not_a_file() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    let path = dir.path().join("generated/Dockerfile.demo.arm64");
    std::fs::remove_file(&path).expect("rm");
    std::fs::create_dir(&path).expect("mkdir");
    let out = qmspec(dir.path())
        .args(["check", "--no-schema"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout), @"
    qmspec::not-a-file

      × generated/Dockerfile.demo.arm64: there is a directory at or on the way to the path, but the
      │ spec writes a file there
      help: remove what is there, then run `qmspec generate`
    qmspec check: 1 of the generated files need attention
    ");
    let out = qmspec(dir.path())
        .args(["generate"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr), @"
    qmspec::refused

      × nothing was written: 1 file(s) cannot be generated safely

    Error: qmspec::not-a-file

      × generated/Dockerfile.demo.arm64: there is a directory on the way or at the path; qmspec writes
      │ only regular files and never follows a symlink
      help: qmspec writes only regular files through plain folders: remove or move what is there, then
            run `qmspec generate`
    ");
}

/// `check` (which may take the fast path) and `check --full` on the same tree: the exit code and
/// every byte printed must agree; returns which path the first took.
fn fast_and_full(dir: &Path) -> &'static str {
    let run = |args: &[&str]| {
        qmspec(dir)
            .args(args)
            .env("QMSPEC_TRACE_CHECK", "1")
            .output()
            .expect("runs")
    };
    let (fast, full) = (run(&["check"]), run(&["check", "--full"]));
    let fast_err = String::from_utf8_lossy(&fast.stderr).into_owned();
    assert_eq!(fast.status.code(), full.status.code(), "{fast_err}");
    assert_eq!(
        String::from_utf8_lossy(&fast.stdout),
        String::from_utf8_lossy(&full.stdout)
    );
    for format in ["json", "github", "sarif"] {
        let (a, b) = (
            run(&["check", "--format", format]),
            run(&["check", "--full", "--format", format]),
        );
        assert_eq!(
            (a.status.code(), a.stdout),
            (b.status.code(), b.stdout),
            "{format}"
        );
    }
    if fast_err.contains("trace: check took the fast path") {
        "fast"
    } else {
        assert!(
            fast_err.contains("trace: check took the full path"),
            "{fast_err}"
        );
        "full"
    }
}

/// Replace a file's text with `change` of it.
fn edit(path: &Path, change: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).expect("read");
    std::fs::write(path, change(text)).expect("write");
}

/// After a complete `generate`, `check` is a read: it takes the fast path and agrees with
/// `check --full`. Every input it depends on, changed, sends it down the full path (which then
/// reports what changed, or nothing): a spec byte, a lock file, the qmspec build, a generated
/// byte, the manifest's entries or record, the schema, a spec added or removed, a symlink in
/// place of an output; and a `generate` of only some specs records nothing.
#[test]
fn the_fast_check_is_exactly_as_strict_as_the_full_one() {
    let fresh = || {
        let dir = copy_of_project();
        qmspec(dir.path()).args(["generate"]).assert().code(0);
        dir
    };
    let dir = fresh();
    assert_eq!(fast_and_full(dir.path()), "fast");
    type Mutation = (&'static str, fn(&Path), bool);
    let mutations: [Mutation; 12] = [
        (
            "a comment in a spec (outputs unchanged)",
            |d| {
                edit(&d.join("specs/worker.yaml"), |t| {
                    format!("{t}# one more comment\n")
                })
            },
            false,
        ),
        (
            "a version in a spec",
            |d| {
                edit(&d.join("specs/worker.yaml"), |t| {
                    t.replace("version: 3.0.2", "version: 3.1.0")
                })
            },
            true,
        ),
        (
            "a lock file beside a spec",
            |d| {
                std::fs::write(d.join("specs/api.lock"), "# Written by `qmspec lock`\n")
                    .expect("write");
            },
            true,
        ),
        (
            "a generated byte",
            |d| {
                edit(&d.join("generated/Dockerfile.api.amd64"), |t| {
                    t.replacen("FROM ", "FROM  ", 1)
                })
            },
            true,
        ),
        (
            "a manifest entry removed",
            |d| {
                edit(&d.join("generated/.qmspec-manifest"), |t| {
                    t.lines()
                        .filter(|l| !l.ends_with("validate-api.sh"))
                        .map(|l| format!("{l}\n"))
                        .collect()
                })
            },
            false,
        ),
        (
            "the manifest's record",
            |d| {
                edit(&d.join("generated/.qmspec-manifest"), |t| {
                    t.replace("# qmspec-check: ", "# qmspec-check: x")
                })
            },
            false,
        ),
        (
            "the schema",
            |d| {
                edit(&d.join("schema/worker.schema.json"), |t| {
                    t.replacen("{", "{\n", 1)
                })
            },
            true,
        ),
        (
            "a spec added",
            |d| {
                let t = std::fs::read_to_string(d.join("specs/api.yaml")).expect("read");
                std::fs::write(
                    d.join("specs/api2.yaml"),
                    t.replace("name: qm-nmr-calc-api", "name: qm-nmr-calc-api2")
                        .replace("generated/Dockerfile.api.", "generated/Dockerfile.api2.")
                        .replace("generated/validate-api.sh", "generated/validate-api2.sh"),
                )
                .expect("write");
            },
            true,
        ),
        (
            "a spec removed",
            |d| {
                std::fs::remove_file(d.join("specs/api.yaml")).expect("rm");
            },
            true,
        ),
        (
            "a symlink in place of an output",
            |d| {
                let p = d.join("generated/validate-api.sh");
                let target = d.join("generated/validate-api.copy");
                std::fs::rename(&p, &target).expect("mv");
                std::os::unix::fs::symlink(&target, &p).expect("symlink");
            },
            true,
        ),
        (
            "a generate of one spec only",
            |d| {
                edit(&d.join("specs/worker.yaml"), |t| {
                    t.replace("version: 3.0.2", "version: 3.1.0")
                });
                qmspec(d)
                    .args(["generate", "specs/worker.yaml"])
                    .assert()
                    .code(0);
            },
            false,
        ),
        (
            "an output deleted",
            |d| {
                std::fs::remove_file(d.join("generated/validate-api.sh")).expect("rm");
            },
            true,
        ),
    ];
    for (what, mutate, drifts) in mutations {
        let dir = fresh();
        mutate(dir.path());
        assert_eq!(fast_and_full(dir.path()), "full", "{what}");
        let code = qmspec(dir.path())
            .args(["check", "--full"])
            .output()
            .expect("runs")
            .status
            .code();
        assert_eq!(code == Some(0), !drifts, "{what}");
    }
    // Another qmspec build: the record is not its own.
    let dir = fresh();
    let other = qmspec(dir.path())
        .args(["check"])
        .env("QMSPEC_TRACE_CHECK", "1")
        .env("QMSPEC_TEST_BUILD_ID", "0.0.0-another-build")
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("took the full path"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    // The build's identity covers the templates: they live under src/, which build.rs hashes.
    let build = std::fs::read_to_string(root().join("build.rs")).expect("build.rs");
    assert!(build.contains("[\"src\", \"schema\"]") && root().join("src/templates").is_dir());
}
