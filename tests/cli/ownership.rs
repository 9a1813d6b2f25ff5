//! qmspec owns only what it wrote: the manifest grants nothing, unreadable is foreign, outputs
//! stay out of `.git` and the inputs, names cannot inject, races and concurrent runs stay
//! inside the repository, nothing hangs or panics, and it runs from any folder of the repository.
//! Each test asserts the exit code, the diagnostic and what was (not) written.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{TIMEOUT, fixture, repo_with_spec, run_bounded as run, unwrapped};

/// What is at each path under `dir`, symlinks not followed: file bytes, a directory, a link
/// target, or "special".
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in rd {
            let path = entry.expect("entry").path();
            let rel = path
                .strip_prefix(base)
                .expect("under base")
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = std::fs::read_link(&path).expect("readlink");
                out.insert(rel, format!("link -> {}", target.display()));
            } else if ft.is_dir() {
                out.insert(rel.clone(), "dir".into());
                walk(base, &path, out);
            } else if ft.is_file() {
                let bytes = std::fs::read(&path).expect("read");
                out.insert(rel, format!("file {}", String::from_utf8_lossy(&bytes)));
            } else {
                out.insert(rel, "special".into());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The hex sha256 of a body: what a qmspec 0.1 stamp records (the body alone).
fn body_hash(body: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    let text = if rel.starts_with("specs/") && rel.ends_with(".yaml") {
        crate::support::marked(text)
    } else {
        text.to_string()
    };
    std::fs::write(p, text).expect("write");
}

#[test]
fn manifest_lines_grant_nothing() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    for (rel, text) in [
        (".git/HEAD", "ref: refs/heads/main\n"),
        ("Cargo.toml", "[package]\n"),
        ("src/main.rs", "fn main() {}\n"),
        ("README.md", "# readme\n"),
    ] {
        write(d, rel, text);
    }
    assert_eq!(run(d, &["generate"]).0, 0);
    let mut manifest =
        std::fs::read_to_string(d.join("generated/.qmspec-manifest")).expect("manifest");
    for line in [
        "specs/worker.yaml\t.git/HEAD",
        "specs/worker.yaml\t.GIT/HEAD",
        "specs/worker.yaml\tCargo.toml",
        "specs/worker.yaml\tspecs/worker.yaml",
        "specs/worker.yaml\tsrc/main.rs",
        "specs/worker.yaml\tgenerated/../Cargo.toml",
        "specs/worker.yaml\t/etc/hostname",
        "specs/gone.yaml\tREADME.md",
        "not a manifest line",
    ] {
        manifest.push_str(line);
        manifest.push('\n');
    }
    write(d, "generated/.qmspec-manifest", &manifest);
    let before = tree(d);
    for args in [&["generate"][..], &["generate", "--force"][..]] {
        let (code, stdout, stderr) = run(d, args);
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(!stdout.contains("removed"), "{stdout}");
        assert!(
            stderr.contains("kept      Cargo.toml")
                || !tree(d)["generated/.qmspec-manifest"].contains("Cargo.toml"),
            "{stderr}"
        );
        for rel in [
            ".git/HEAD",
            "Cargo.toml",
            "src/main.rs",
            "README.md",
            "specs/worker.yaml",
        ] {
            assert_eq!(tree(d).get(rel), before.get(rel), "{rel} changed");
        }
    }
    // The rewritten manifest lists only what the spec produces.
    let manifest = std::fs::read_to_string(d.join("generated/.qmspec-manifest")).expect("manifest");
    assert!(
        !manifest.contains("Cargo.toml") && !manifest.contains(".git"),
        "{manifest}"
    );
    assert_eq!(run(d, &["check", "--no-schema"]).0, 0);
}

/// Remove the arm64 platform from the minimal spec, so its Dockerfile becomes an orphan.
fn without_arm64(spec: &str) -> String {
    let start = spec.find("  arm64:\n    base:").expect("arm64 platform");
    let end = spec.find("apt:").expect("apt");
    format!("{}{}", &spec[..start], &spec[end..]).replace(
        "      arm64:\n        kind: archive\n        url: https://example.org/hello-{{version}}-aarch64.tar.gz\n        sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9\n        dest: /opt/hello\n        path: [/opt/hello]\n",
        "",
    )
}

#[test]
fn an_orphan_whose_stamp_was_removed_is_never_deleted() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    assert_eq!(run(d, &["generate"]).0, 0);
    let arm = d.join("generated/Dockerfile.demo.arm64");
    let mine: String = std::fs::read_to_string(&arm)
        .expect("read")
        .lines()
        .filter(|l| !l.starts_with("# Generated by qmspec") && !l.starts_with("# qmspec-hash"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "# my own notes\n";
    std::fs::write(&arm, &mine).expect("write");
    write(
        d,
        "specs/worker.yaml",
        &without_arm64(&fixture("minimal.yaml")),
    );
    for (i, args) in [&["generate"][..], &["generate", "--force"][..]]
        .iter()
        .enumerate()
    {
        let (code, stdout, stderr) = run(d, args);
        assert_eq!(code, 0, "{stdout}{stderr}");
        // The first run says why it keeps the file and drops it from the manifest.
        assert_eq!(
            stderr.contains("kept      generated/Dockerfile.demo.arm64: the manifest lists it, but it has no qmspec stamp"),
            i == 0,
            "{stderr}"
        );
        assert!(!stdout.contains("removed"), "{stdout}");
        assert_eq!(std::fs::read_to_string(&arm).expect("kept"), mine);
    }
    assert_eq!(run(d, &["check", "--no-schema"]).0, 0);
}

#[test]
fn an_edited_orphan_is_kept_even_with_force() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    assert_eq!(run(d, &["generate"]).0, 0);
    let arm = d.join("generated/Dockerfile.demo.arm64");
    let edited = std::fs::read_to_string(&arm).expect("read") + "# an edit\n";
    std::fs::write(&arm, &edited).expect("write");
    write(
        d,
        "specs/worker.yaml",
        &without_arm64(&fixture("minimal.yaml")),
    );
    let (code, stdout, stderr) = run(d, &["generate", "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("removed"), "{stdout}");
    assert!(
        stderr.contains(
            "kept      generated/Dockerfile.demo.arm64: the manifest lists it, but it was edited"
        ),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&arm).expect("kept"), edited);
    assert_eq!(run(d, &["check", "--no-schema"]).0, 0);
}

#[test]
fn stamped_copies_and_old_stamps_elsewhere_are_never_removed() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    assert_eq!(run(d, &["generate"]).0, 0);
    let generated =
        std::fs::read_to_string(d.join("generated/Dockerfile.demo.amd64")).expect("read");
    // An unchanged copy of a generated file at another path.
    write(d, "docs/Dockerfile.copy", &generated);
    // A file with an old-style stamp (a hash of the body alone) naming this spec.
    let body = "Important runbook.\nDo not lose.\n";
    let old_hash = body_hash(body);
    let runbook = format!(
        "# Generated by qmspec from specs/worker.yaml: do not edit by hand.\n# qmspec-hash: sha256:{old_hash}\n{body}"
    );
    write(d, "docs/runbook.md", &runbook);
    let mut manifest =
        std::fs::read_to_string(d.join("generated/.qmspec-manifest")).expect("manifest");
    manifest
        .push_str("specs/worker.yaml\tdocs/Dockerfile.copy\nspecs/worker.yaml\tdocs/runbook.md\n");
    write(d, "generated/.qmspec-manifest", &manifest);
    for args in [&["generate"][..], &["generate", "--force"][..]] {
        let (code, stdout, stderr) = run(d, args);
        assert_eq!(code, 0, "{stderr}");
        assert!(!stdout.contains("removed"), "{stdout}");
    }
    assert_eq!(
        std::fs::read_to_string(d.join("docs/Dockerfile.copy")).expect("kept"),
        generated
    );
    assert_eq!(
        std::fs::read_to_string(d.join("docs/runbook.md")).expect("kept"),
        runbook
    );
}

#[test]
fn an_old_style_stamp_at_the_specs_own_path_is_regenerated() {
    // Files written before stamps bound the path: upgrading qmspec is not a hand edit.
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    assert_eq!(run(d, &["generate"]).0, 0);
    let path = d.join("generated/Dockerfile.demo.amd64");
    let body: String = std::fs::read_to_string(&path)
        .expect("read")
        .lines()
        .skip(3)
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace("FROM debian", "FROM debian:old");
    let old_hash = body_hash(&body);
    std::fs::write(
        &path,
        format!("# Generated by qmspec from specs/worker.yaml: do not edit by hand.\n# Change the spec, then run `qmspec generate`; `qmspec check` reports drift.\n# qmspec-hash: sha256:{old_hash}\n{body}"),
    )
    .expect("write");
    let (code, stdout, _) = run(d, &["check", "--no-schema"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("qmspec::stale\n")
            && stdout.contains("× generated/Dockerfile.demo.amd64 is stale"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(d, &["generate"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("updated   generated/Dockerfile.demo.amd64"),
        "{stdout}"
    );
}

#[test]
fn only_qmspecs_own_temporaries_are_swept() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    assert_eq!(run(d, &["generate"]).0, 0);
    let precious = d.join("generated/.validate-demo.sh.qmspec-tmp-1-1");
    std::fs::write(&precious, "precious\n").expect("write");
    let leftover = d.join("generated/.validate-demo.sh.qmspec-tmp-2-7");
    let stamped = std::fs::read_to_string(d.join("generated/validate-demo.sh")).expect("read");
    std::fs::write(&leftover, &stamped).expect("write");
    let empty = d.join("generated/.validate-demo.sh.qmspec-tmp-3-0");
    std::fs::write(&empty, "").expect("write");
    // Stamped, then edited: not a whole file a run wrote.
    let edited = d.join("generated/.validate-demo.sh.qmspec-tmp-4-0");
    std::fs::write(&edited, format!("{stamped}# MY EDITS\n")).expect("write");
    let (code, _, stderr) = run(d, &["generate", "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&precious).expect("kept"),
        "precious\n"
    );
    assert!(
        !leftover.exists(),
        "a whole, intact leftover of a killed run is swept"
    );
    // An empty one proves nothing: it is kept, and reported.
    assert!(empty.exists() && edited.exists());
    assert!(
        stderr.contains("kept      generated/.validate-demo.sh.qmspec-tmp-3-0")
            && stderr.contains("kept      generated/.validate-demo.sh.qmspec-tmp-4-0"),
        "{stderr}"
    );
}

/// An old version set aside by a replacement or removal (`-rm-`) is swept when it is a whole
/// file of qmspec's, and otherwise kept with a message that it may hold someone's content.
#[test]
fn set_aside_old_versions_are_swept_only_when_they_are_qmspecs() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    assert_eq!(run(d, &["generate"]).0, 0);
    let stamped = std::fs::read_to_string(d.join("generated/validate-demo.sh")).expect("read");
    let ours = d.join("generated/.validate-demo.sh.qmspec-rm-5-1");
    std::fs::write(&ours, &stamped).expect("write");
    let theirs = d.join("generated/.validate-demo.sh.qmspec-rm-6-2");
    std::fs::write(&theirs, "someone's script\n").expect("write");
    let (code, _, stderr) = run(d, &["generate", "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!ours.exists(), "a whole qmspec file set aside is swept");
    assert_eq!(
        std::fs::read_to_string(&theirs).expect("kept"),
        "someone's script\n"
    );
    let stderr = unwrapped(&stderr);
    assert!(
        stderr.contains("kept      generated/.validate-demo.sh.qmspec-rm-6-2")
            && stderr.contains("look at it before you delete it"),
        "{stderr}"
    );
}

#[test]
fn a_file_where_another_output_needs_a_folder_is_refused_up_front() {
    let spec = fixture("minimal.yaml")
        .replace(
            "validation-script: generated/validate-demo.sh",
            "validation-script: out/x",
        )
        .replace(
            "workflow: generated/publish-demo.yml",
            "workflow: out/x/publish.yml",
        );
    let dir = repo_with_spec(&spec);
    let d = dir.path();
    let (code, _, stderr) = run(d, &["generate", "--force"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("qmspec::output-conflict"), "{stderr}");
    insta::assert_snapshot!(stderr, @"
    qmspec::refused

      × nothing was written: 1 file(s) cannot be generated safely

    Error: qmspec::output-conflict

      × out/x/publish.yml is written by both specs/worker.yaml (`validation-script`, as a file) and
      │ specs/worker.yaml (`ci.workflow`, as a folder on its path)
      help: give each generated file its own path in one of the two specs, then run `qmspec generate`
    ");
    assert!(
        !d.join("out").exists() && !d.join("generated").exists(),
        "nothing written"
    );
    // The manifest's folder cannot be an output either.
    let spec = fixture("minimal.yaml")
        .replace("generated/", "out/")
        .replace(
            "validation-script: out/validate-demo.sh",
            "validation-script: generated",
        );
    let dir = repo_with_spec(&spec);
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is the folder of qmspec's manifest"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn long_output_names_are_refused_before_any_write() {
    let spec = fixture("minimal.yaml").replace(
        "workflow: generated/publish-demo.yml",
        &format!("workflow: generated/{}", "W".repeat(240)),
    );
    let dir = repo_with_spec(&spec);
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("longer than 200 bytes"), "{stderr}");
    assert!(!dir.path().join("generated").exists());
    let spec = fixture("minimal.yaml").replace(
        "workflow: generated/publish-demo.yml",
        &format!("workflow: generated/{}", "W".repeat(200)),
    );
    let dir = repo_with_spec(&spec);
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(run(dir.path(), &["check", "--no-schema"]).0, 0);
}

#[test]
fn terminal_escapes_in_a_spec_are_not_replayed_by_reports() {
    let spec = fixture("minimal.yaml").replace(
        "name: demo",
        "name: demo # \u{1b}]0;pwned\u{7}\u{1b}[31mRED\nbogus-key: 1",
    );
    let dir = repo_with_spec(&spec);
    let (code, _, stderr) = run(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("bogus-key"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
}

#[test]
fn an_empty_tag_list_is_refused() {
    let spec = fixture("minimal.yaml").replace(
        "workflow: generated/publish-demo.yml",
        "workflow: generated/publish-demo.yml\n  on-tags: []",
    );
    let dir = repo_with_spec(&spec);
    let (code, _, stderr) = run(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("ci.on-tags"), "{stderr}");
    let dir = repo_with_spec(&spec.replace("on-tags: []", "on-tags: [\"\"]"));
    let (code, _, stderr) = run(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("ci.on-tags[0]"), "{stderr}");
}

#[test]
fn long_strings_repeated_through_aliases_are_refused() {
    let long = "n".repeat(8000);
    let mut checks = format!("  checks:\n  - {{name: &n \"{long}\", run: &r \"true {long}\"}}\n");
    for _ in 0..200 {
        checks.push_str("  - {name: *n, run: *r}\n");
    }
    let spec = fixture("minimal.yaml").replace(
        "  command: [python3, -m, demo]",
        &format!("  command: [python3, -m, demo]\n{checks}"),
    );
    let dir = repo_with_spec(&spec);
    let started = std::time::Instant::now();
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("qmspec::alias-budget"), "{stderr}");
    assert!(stderr.contains("KiB of text"), "{stderr}");
    assert!(!dir.path().join("generated").exists());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn an_output_over_one_mebibyte_is_refused() {
    // Written out, no aliases: 130 checks of almost 8 KiB, on both platforms' scripts.
    let run_text = format!("true {}", "x".repeat(8000));
    let mut checks = String::from("  checks:\n");
    for i in 0..130 {
        checks.push_str(&format!("  - {{name: c{i}, run: \"{run_text}\"}}\n"));
    }
    let spec = fixture("minimal.yaml").replace(
        "  command: [python3, -m, demo]",
        &format!("  command: [python3, -m, demo]\n{checks}"),
    );
    let dir = repo_with_spec(&spec);
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("qmspec::output-too-large"), "{stderr}");
    insta::assert_snapshot!(stderr, @"
    qmspec::output-too-large

      × generated/validate-demo.sh would be 2087662 bytes, more than the 1 MiB qmspec writes
      help: a generated file is a few KiB: shorten the spec's lists and values, then run `qmspec
            generate`
    ");
    assert!(!dir.path().join("generated").exists());
}

#[test]
fn a_deleted_specs_outputs_are_removed_with_it() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    write(d, "specs/second.yaml", &fixture("all-kinds.yaml"));
    assert_eq!(run(d, &["generate"]).0, 0);
    assert!(d.join("generated/Dockerfile.all").exists());
    std::fs::remove_file(d.join("specs/second.yaml")).expect("rm");
    let (code, stdout, _) = run(d, &["check", "--no-schema"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("qmspec::orphaned\n")
            && stdout.contains("× generated/Dockerfile.all is orphaned"),
        "{stdout}"
    );
    let (code, stdout, _) = run(d, &["generate"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("removed   generated/Dockerfile.all"),
        "{stdout}"
    );
    assert!(!d.join("generated/Dockerfile.all").exists());
    assert!(d.join("generated/Dockerfile.demo.amd64").exists());
    assert_eq!(run(d, &["check", "--no-schema"]).0, 0);
}

#[test]
fn a_non_utf8_file_at_an_output_path_is_foreign_not_missing() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    let path = d.join("generated/Dockerfile.demo.amd64");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"FROM scratch\n\xff\xfe\n").expect("write");
    let (code, stdout, _) = run(d, &["check", "--no-schema"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("qmspec::not-generated\n")
            && stdout.contains("× generated/Dockerfile.demo.amd64 is not UTF-8 text"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("× generated/Dockerfile.demo.amd64 is missing"),
        "{stdout}"
    );
    let before = tree(d);
    let (code, _, stderr) = run(d, &["generate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("qmspec::not-generated"), "{stderr}");
    assert_eq!(tree(d), before, "nothing written");
    assert_eq!(run(d, &["generate", "--force"]).0, 0);
    assert!(
        std::fs::read_to_string(&path)
            .expect("utf-8 now")
            .contains("FROM debian")
    );
}

#[test]
fn outputs_never_land_in_git_specs_or_inputs() {
    for target in [
        ".git/hooks/post-checkout",
        ".GIT/hooks/post-checkout",
        "./.git/info/attributes",
        ".git./hooks/x",
        "specs/planted.yaml",
        "specs/worker.yaml",
        "Specs/x.yaml",
        "generated/.qmspec-manifest",
        "schema/worker.schema.json",
        "generated/-rf",
        "schema/worker.schema.json/x.sh",
        "generated/.qmspec-manifest/x.sh",
        "specs./x.sh",
        "generated/.x.qmspec-tmp-1-1",
    ] {
        let spec = fixture("minimal.yaml").replace(
            "validation-script: generated/validate-demo.sh",
            &format!("validation-script: \"{target}\""),
        );
        let dir = repo_with_spec(&spec);
        let d = dir.path();
        std::fs::create_dir_all(d.join(".git/hooks")).expect("git dir");
        let before = tree(d);
        for args in [&["generate"][..], &["generate", "--force"][..]] {
            let (code, _, stderr) = run(d, args);
            assert_eq!(code, 1, "{target}: {stderr}");
            assert!(stderr.contains("qmspec::unsafe-path"), "{target}: {stderr}");
            assert_eq!(tree(d), before, "{target}: nothing written");
        }
    }
}

#[test]
fn two_outputs_on_one_path_are_an_error_naming_both() {
    // Within one spec: two spellings of one path.
    let spec = fixture("minimal.yaml").replace(
        "dockerfile: generated/Dockerfile.demo.arm64",
        "dockerfile: ./generated//Dockerfile.demo.amd64",
    );
    let dir = repo_with_spec(&spec);
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("qmspec::duplicate-output"), "{stderr}");
    assert!(!dir.path().join("generated").exists());
    // Across two specs.
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    let other = fixture("minimal.yaml")
        .replace("name: demo", "name: other")
        .replace("generated/Dockerfile.demo", "generated/Dockerfile.other")
        .replace("generated/validate-demo.sh", "generated/validate-other.sh")
        .replace(
            "workflow: generated/publish-demo.yml",
            "workflow: ./generated/PUBLISH-demo.yml",
        );
    write(d, "specs/other.yaml", &other);
    let (code, _, stderr) = run(d, &["generate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("qmspec::output-conflict"), "{stderr}");
    // Both specs and both keys are named (miette may wrap the line between them).
    let flat = crate::support::unwrapped(&stderr);
    assert!(
        flat.contains("specs/other.yaml (`ci.workflow`)")
            && flat.contains("specs/worker.yaml (`ci.workflow`)"),
        "{stderr}"
    );
    assert!(!d.join("generated").exists(), "nothing written");
    let (code, stdout, _) = run(d, &["check", "--no-schema"]);
    assert_eq!(code, 1);
    assert!(stdout.contains("qmspec::output-conflict"), "{stdout}");
}

#[test]
fn the_spec_file_name_cannot_inject() {
    for name in [
        "specs/x\nRUN touch pwned\n.yaml",
        "specs/x\rUSER 0.yaml",
        "specs/x\u{2028}y.yaml",
        "specs/x\u{1b}[31m.yaml",
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        write(dir.path(), name, &fixture("minimal.yaml"));
        let (code, _, stderr) = run(dir.path(), &["generate"]);
        assert_eq!(code, 1, "{name:?}: {stderr}");
        assert!(stderr.contains("qmspec::spec-name"), "{name:?}: {stderr}");
        if name.contains('\n') {
            insta::assert_snapshot!(stderr, @"
            qmspec::spec-name

              × the spec's file name contains a control character (a line break, tab or escape)
              help: the name is printed into every generated file: rename the spec to plain text, e.g.
                    `specs/worker.yaml`, then run `qmspec validate`
            specs/x?RUN touch pwned?.yaml: invalid (1 error, 0 warnings)
            nothing written: fix specs/x?RUN touch pwned?.yaml first (`qmspec validate` lists every finding)
            ");
        }
        assert!(!dir.path().join("generated").exists(), "{name:?}");
    }
}

#[test]
fn injected_instructions_flags_and_options_write_nothing() {
    let dir = repo_with_spec(&fixture("validate/injection.yaml"));
    let d = dir.path();
    std::fs::create_dir_all(d.join(".git/hooks")).expect("git dir");
    let (code, _, stderr) = run(d, &["generate", "--force"]);
    assert_eq!(code, 1);
    for code in [
        "qmspec::unsafe-path",
        "qmspec::package-name",
        "qmspec::unsafe-value",
        "qmspec::duplicate-output",
    ] {
        assert!(stderr.contains(code), "{code}: {stderr}");
    }
    assert!(!d.join("generated").exists());
    assert_eq!(
        std::fs::read_dir(d.join(".git/hooks")).expect("ls").count(),
        0
    );
}

#[test]
fn a_value_too_long_for_buildkit_is_refused() {
    let long = "x".repeat(70 * 1024);
    let spec = fixture("minimal.yaml").replace(
        "    check: hello --version",
        &format!("    check: hello --version\n    description: {long}"),
    );
    let dir = repo_with_spec(&spec);
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("qmspec::value-too-long"), "{stderr}");
    insta::assert_snapshot!(stderr, @"
    qmspec::value-too-long

      × `tools[0].description` is longer than 8 KiB (line 27, column 5: the line is too long to show)
      help: every value lands on one line of a generated file: shorten it, or move a long script into
            a file the image copies
    specs/worker.yaml: invalid (1 error, 0 warnings)
    nothing written: fix specs/worker.yaml first (`qmspec validate` lists every finding)
    ");
    assert!(stderr.len() < 64 * 1024, "the value is not printed whole");
    assert!(!dir.path().join("generated").exists());
}

#[test]
fn what_cannot_be_written_is_found_before_anything_is_written() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    assert_eq!(run(d, &["generate"]).0, 0);
    // Every output goes stale, and one output path is now a directory.
    let spec = fixture("minimal.yaml").replace("name: demo", "name: demo-two");
    write(d, "specs/worker.yaml", &spec);
    std::fs::remove_file(d.join("generated/validate-demo.sh")).expect("rm");
    std::fs::create_dir(d.join("generated/validate-demo.sh")).expect("dir");
    let before = tree(d);
    for args in [&["generate"][..], &["generate", "--force"][..]] {
        let (code, _, stderr) = run(d, args);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("qmspec::not-a-file"), "{stderr}");
        assert_eq!(tree(d), before, "no file was rewritten");
    }
    let (code, stdout, _) = run(d, &["check", "--no-schema"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("qmspec::not-a-file\n") && stdout.contains("× generated/validate-demo.sh"),
        "{stdout}"
    );
    // A file where a folder of an output path should be is found up front too.
    std::fs::remove_dir(d.join("generated/validate-demo.sh")).expect("rmdir");
    let spec = spec.replace(
        "validation-script: generated/validate-demo.sh",
        "validation-script: generated/Dockerfile.demo.amd64/validate.sh",
    );
    write(d, "specs/worker.yaml", &spec);
    let before = tree(d);
    let (code, _, stderr) = run(d, &["generate"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("qmspec::not-a-file"), "{stderr}");
    assert_eq!(tree(d), before);
}

#[test]
fn fifos_never_hang_validate_check_or_generate() {
    // A FIFO as the spec.
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::create_dir_all(d.join("specs")).expect("mkdir");
    mkfifo(&d.join("specs/worker.yaml"));
    for cmd in ["validate", "check", "generate"] {
        let (code, _, stderr) = run(d, &[cmd]);
        assert_eq!(code, 2, "{cmd}: {stderr}");
        assert!(stderr.contains("FIFO"), "{cmd}: {stderr}");
    }
    // A FIFO at an output path, and one named by the manifest as an orphan.
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    assert_eq!(run(d, &["generate"]).0, 0);
    std::fs::remove_file(d.join("generated/Dockerfile.demo.amd64")).expect("rm");
    mkfifo(&d.join("generated/Dockerfile.demo.amd64"));
    mkfifo(&d.join("generated/old-output"));
    let mut manifest =
        std::fs::read_to_string(d.join("generated/.qmspec-manifest")).expect("manifest");
    manifest.push_str("specs/worker.yaml\tgenerated/old-output\n");
    write(d, "generated/.qmspec-manifest", &manifest);
    let (code, stdout, _) = run(d, &["check", "--no-schema"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("qmspec::not-a-file\n")
            && stdout.contains("× generated/Dockerfile.demo.amd64"),
        "{stdout}"
    );
    let (code, _, stderr) = run(d, &["generate", "--force"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("qmspec::not-a-file"), "{stderr}");
    std::fs::remove_file(d.join("generated/Dockerfile.demo.amd64")).expect("rm");
    let (code, _, stderr) = run(d, &["generate", "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("kept      generated/old-output"),
        "{stderr}"
    );
    let ft = std::fs::symlink_metadata(d.join("generated/old-output"))
        .expect("still there")
        .file_type();
    assert!(!ft.is_file() && !ft.is_dir(), "the FIFO is left alone");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    for args in [&["schema"][..], &["check", "--no-schema"][..]] {
        let dir = repo_with_spec(&fixture("minimal.yaml"));
        // The read end is closed before qmspec starts: its first write fails with EPIPE.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(assert_cmd::cargo::cargo_bin("qmspec"))
            .args(args)
            .current_dir(dir.path())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        // `check` has drift to report (nothing generated yet): its exit code is kept.
        let want = if args[0] == "schema" { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(want), "{args:?}: {stderr}");
    }
}

#[test]
fn a_full_disk_is_exit_2_with_a_message() {
    for args in [&["schema"][..], &["check", "--no-schema"][..]] {
        let dir = repo_with_spec(&fixture("minimal.yaml"));
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = Command::new(assert_cmd::cargo::cargo_bin("qmspec"))
            .args(args)
            .current_dir(dir.path())
            .stdout(full)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("cannot write the output"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_huge_committed_file_is_reported_by_its_size() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    assert_eq!(run(d, &["generate"]).0, 0);
    let line = "RUN echo 0123456789012345678901234567890123456789012345678901234567\n";
    let big = line.repeat((64 << 20) / line.len());
    std::fs::write(d.join("generated/Dockerfile.demo.amd64"), &big).expect("write");
    // Just under the read limit but over the diff budget: stamped and edited, no diff.
    let stamped = std::fs::read_to_string(d.join("generated/Dockerfile.demo.arm64")).expect("read")
        + &line.repeat((2 << 20) / line.len());
    std::fs::write(d.join("generated/Dockerfile.demo.arm64"), &stamped).expect("write");
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = run(d, &["check", "--no-schema"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "generated/Dockerfile.demo.amd64 is {} bytes, larger than any file qmspec writes",
            big.len()
        )),
        "{}",
        &stdout[..stdout.len().min(2000)]
    );
    assert!(
        stdout.contains("qmspec::edited-by-hand\n")
            && stdout.contains("× generated/Dockerfile.demo.arm64 was edited")
    );
    assert!(
        stdout.contains("more than qmspec diffs"),
        "no diff of a 2 MiB file"
    );
    assert!(
        stdout.len() < 64 * 1024,
        "the report is bounded: {} bytes",
        stdout.len()
    );
    assert!(started.elapsed() < TIMEOUT);
}

#[test]
fn it_runs_from_any_folder_of_the_repository() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    std::fs::create_dir_all(d.join("docs/deep")).expect("mkdir");
    let deep = d.join("docs/deep");
    // A spec named relative to the working directory, outputs relative to the root.
    let (code, stdout, stderr) = run(&deep, &["generate", "../../specs/worker.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("created   generated/Dockerfile.demo.amd64"),
        "{stdout}"
    );
    assert!(!deep.join("generated").exists(), "no nested copy");
    assert!(d.join("generated/Dockerfile.demo.amd64").exists());
    let (code, stdout, _) = run(&deep, &["check", "--no-schema"]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = run(&d.join("generated"), &["validate"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("specs/worker.yaml: valid"),
        "paths relative to the root: {stderr}"
    );
    // `--root` from anywhere.
    let elsewhere = tempfile::tempdir().expect("tmp");
    let root = d.to_str().expect("utf-8 path");
    let (code, stdout, _) = run(elsewhere.path(), &["--root", root, "check", "--no-schema"]);
    assert_eq!(code, 0, "{stdout}");
    // A spec outside the repository is refused.
    write(elsewhere.path(), "x.yaml", &fixture("minimal.yaml"));
    let outside = elsewhere.path().join("x.yaml");
    let (code, _, stderr) = run(d, &["generate", outside.to_str().expect("utf-8")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("outside the repository"), "{stderr}");
    // Validating writes nothing: a spec anywhere may be validated, under the name given.
    let (code, _, stderr) = run(d, &["validate", outside.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("x.yaml: valid"), "{stderr}");
}

#[test]
fn a_manifest_that_cannot_be_written_is_found_before_the_outputs_are() {
    let spec = fixture("minimal.yaml").replace("generated/", "out/");
    let dir = repo_with_spec(&spec);
    let d = dir.path();
    // `generated` is a file, so the manifest (`generated/.qmspec-manifest`) has no folder.
    write(d, "generated", "not a folder\n");
    let before = tree(d);
    let (code, _, stderr) = run(d, &["generate", "--force"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("qmspec::not-a-file"), "{stderr}");
    assert!(stderr.contains("generated/.qmspec-manifest"), "{stderr}");
    assert_eq!(tree(d), before, "no output was written first");
}

#[test]
fn concurrent_generate_runs_serialise() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path().to_path_buf();
    let bin = assert_cmd::cargo::cargo_bin("qmspec");
    for round in 0..100 {
        // Every other round changes the spec, so both runs have files to write.
        let spec =
            fixture("minimal.yaml").replace("name: demo", &format!("name: demo{}", round % 2));
        write(&d, "specs/worker.yaml", &spec);
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(&bin)
                    .arg("generate")
                    .current_dir(&d)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().expect("wait");
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert_eq!(run(&d, &["check", "--no-schema"]).0, 0);
    let leftovers: Vec<String> = tree(&d)
        .into_keys()
        .filter(|k| k.contains("qmspec-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn swapping_a_folder_for_a_symlink_mid_run_never_writes_outside() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path().to_path_buf();
    let outside = tempfile::tempdir().expect("tmp");
    let out_path = outside.path().to_path_buf();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (d, out_path, stop) = (d.clone(), out_path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let gen_dir = d.join("generated");
                let _ = std::fs::create_dir_all(&gen_dir);
                let _ = std::fs::rename(&gen_dir, d.join("generated.real"));
                let _ = std::os::unix::fs::symlink(&out_path, &gen_dir);
                std::thread::sleep(Duration::from_micros(300));
                let _ = std::fs::remove_file(&gen_dir);
                let _ = std::fs::rename(d.join("generated.real"), &gen_dir);
                std::thread::sleep(Duration::from_micros(300));
                swaps += 1;
            }
            swaps
        })
    };
    let mut outcomes = BTreeMap::new();
    for i in 0..150 {
        let spec = fixture("minimal.yaml").replace("name: demo", &format!("name: demo{i}"));
        write(&d, "specs/worker.yaml", &spec);
        let (code, _, stderr) = run(&d, &["generate"]);
        assert!(code == 0 || code == 2, "run {i}: exit {code}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        *outcomes.entry(code).or_insert(0) += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(swaps > 50, "the race was exercised ({swaps} swaps)");
    assert_eq!(
        tree(&out_path),
        BTreeMap::new(),
        "nothing was written outside the repository ({outcomes:?})"
    );
}

/// States a path can be in before `generate` runs.
#[derive(Debug, Clone, Copy)]
enum State {
    Absent,
    OursCurrent,
    OursStale,
    OtherSpec,
    StampRemoved,
    Edited,
    NotUtf8,
    Directory,
    Fifo,
    SymlinkIn,
    SymlinkOut,
}

const STATES: [State; 11] = [
    State::Absent,
    State::OursCurrent,
    State::OursStale,
    State::OtherSpec,
    State::StampRemoved,
    State::Edited,
    State::NotUtf8,
    State::Directory,
    State::Fifo,
    State::SymlinkIn,
    State::SymlinkOut,
];

const SPEC: &str = "specs/worker.yaml";

/// Paths a manifest line may name: repository files, outputs, escapes.
const MANIFEST_PATHS: [&str; 10] = [
    ".git/HEAD",
    "Cargo.toml",
    "specs/worker.yaml",
    "src/lib.rs",
    "README.md",
    "generated/old.txt",
    "generated/Dockerfile.demo.amd64",
    "../outside.txt",
    "generated/validate-demo.sh",
    "generated/gone.sh",
];

fn place(d: &Path, outside: &Path, rel: &str, state: State, current: &str) {
    use qmspec::render::stamp;
    let p = d.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    let body: String = current
        .lines()
        .filter(|l| !l.starts_with("# Generated by qmspec") && !l.starts_with("# qmspec-hash"))
        .map(|l| format!("{l}\n"))
        .collect();
    match state {
        State::Absent => {}
        State::OursCurrent => std::fs::write(&p, current).expect("w"),
        State::OursStale => std::fs::write(&p, stamp("FROM old\n", SPEC, rel)).expect("w"),
        State::OtherSpec => {
            std::fs::write(&p, stamp("FROM other\n", "specs/other.yaml", rel)).expect("w")
        }
        State::StampRemoved => std::fs::write(&p, format!("{body}# mine\n")).expect("w"),
        State::Edited => std::fs::write(&p, format!("{current}# edited\n")).expect("w"),
        State::NotUtf8 => std::fs::write(&p, b"\xff\xfe\xfd").expect("w"),
        State::Directory => std::fs::create_dir_all(&p).expect("w"),
        State::Fifo => mkfifo(&p),
        State::SymlinkIn => std::os::unix::fs::symlink("../README.md", &p).expect("w"),
        State::SymlinkOut => std::os::unix::fs::symlink(outside.join("target.txt"), &p).expect("w"),
    }
}

/// What qmspec may do to a path in `state` when it is this spec's output: `true` when it may
/// replace it (with or without `--force`).
fn may_replace(state: State, force: bool) -> bool {
    match state {
        State::Absent | State::OursCurrent | State::OursStale => true,
        State::OtherSpec | State::StampRemoved | State::Edited | State::NotUtf8 => force,
        State::Directory | State::Fifo | State::SymlinkIn | State::SymlinkOut => false,
    }
}

/// Random file-system states around a valid spec: at every output path, at orphan paths and
/// in the manifest. Whatever the state, nothing but this spec's own outputs (and the manifest)
/// changes, nothing foreign is removed, foreign files are replaced only with `--force`, every
/// run ends in time, and `check` after a successful `generate` is clean.
#[test]
fn random_file_system_states_never_lose_a_foreign_file() {
    let reference = repo_with_spec(&fixture("minimal.yaml"));
    assert_eq!(run(reference.path(), &["generate"]).0, 0);
    let outputs = [
        "generated/Dockerfile.demo.amd64",
        "generated/Dockerfile.demo.arm64",
        "generated/validate-demo.sh",
        "generated/publish-demo.yml",
    ];
    let current: Vec<String> = outputs
        .iter()
        .map(|o| std::fs::read_to_string(reference.path().join(o)).expect("reference"))
        .collect();
    // A small deterministic generator: the same cases every run, different across cases.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut codes = BTreeMap::new();
    for case in 0..64 {
        let dir = repo_with_spec(&fixture("minimal.yaml"));
        let d = dir.path();
        let outside = tempfile::tempdir().expect("tmp");
        std::fs::write(outside.path().join("target.txt"), "outside\n").expect("w");
        for (rel, text) in [
            (".git/HEAD", "ref: refs/heads/main\n"),
            ("Cargo.toml", "[package]\n"),
            ("src/lib.rs", "\n"),
            ("README.md", "# readme\n"),
        ] {
            write(d, rel, text);
        }
        let mut states = Vec::new();
        for (k, o) in outputs.iter().enumerate() {
            let s = STATES[next(STATES.len())];
            place(d, outside.path(), o, s, &current[k]);
            states.push(s);
        }
        // Orphan candidates, in random states, and a manifest of random lines.
        for o in ["generated/old.txt", "generated/gone.sh"] {
            let s = STATES[next(STATES.len())];
            place(d, outside.path(), o, s, &current[2]);
        }
        let mut manifest = String::from(
            "# Files qmspec generated (spec, tab, output). `qmspec generate` maintains this list.\n",
        );
        for _ in 0..next(6) {
            let spec = ["specs/worker.yaml", "specs/gone.yaml", "specs/other.yaml"][next(3)];
            manifest.push_str(&format!(
                "{spec}\t{}\n",
                MANIFEST_PATHS[next(MANIFEST_PATHS.len())]
            ));
        }
        write(d, "generated/.qmspec-manifest", &manifest);
        let force = next(2) == 1;
        let before = tree(d);
        let outside_before = tree(outside.path());
        let args: &[&str] = if force {
            &["generate", "--force"]
        } else {
            &["generate"]
        };
        let (code, stdout, stderr) = run(d, args);
        assert!(matches!(code, 0..=2), "case {case}: exit {code}");
        *codes.entry(code).or_insert(0) += 1;
        assert!(!stderr.contains("panicked"), "case {case}: {stderr}");
        let after = tree(d);
        let ctx = || format!("case {case} states {states:?} force {force}\n{stdout}{stderr}");
        assert_eq!(
            tree(outside.path()),
            outside_before,
            "outside changed: {}",
            ctx()
        );
        let own: Vec<&str> = outputs.to_vec();
        for (path, was) in &before {
            let is_output = own.contains(&path.as_str());
            let now = after.get(path);
            if path == "generated/.qmspec-manifest" {
                continue;
            }
            if is_output {
                let k = own.iter().position(|o| o == path).expect("output");
                if !may_replace(states[k], force) {
                    assert_eq!(now, Some(was), "{path} must be kept: {}", ctx());
                }
                continue;
            }
            // An orphan may go only when its own stamp is intact and names the spec that a
            // manifest line gives for it (this spec, or one whose file is gone), `--force` or not.
            let listed = |spec: &str| manifest.contains(&format!("{spec}\t{path}\n"));
            let removable = was.starts_with("file ")
                && match qmspec::render::stamp_state(&was[5..], path) {
                    qmspec::render::StampState::Intact { spec } => listed(&spec),
                    _ => false,
                };
            if now != Some(was) {
                assert!(
                    removable && now.is_none(),
                    "{path} changed from {was:.60} to {now:.60?}: {}",
                    ctx()
                );
            }
        }
        if code == 0 {
            for (k, o) in outputs.iter().enumerate() {
                assert_eq!(
                    after.get(*o).map(String::as_str),
                    Some(format!("file {}", current[k]).as_str()),
                    "{o} written: {}",
                    ctx()
                );
            }
            let (c, out, err) = run(d, &["check", "--no-schema"]);
            assert_eq!(
                c,
                0,
                "check after a successful generate: {out}{err}\n{}",
                ctx()
            );
        } else {
            let changed: Vec<&String> = before
                .keys()
                .filter(|k| after.get(*k) != before.get(*k))
                .collect();
            assert!(
                changed.is_empty(),
                "a refused run wrote {changed:?}: {}",
                ctx()
            );
        }
    }
    // The cases cover successful runs and both kinds of refusal.
    assert_eq!(
        codes.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2],
        "{codes:?}"
    );
}

/// One spec value changed in the minimal spec: `validate` refuses it with `code`.
fn refused_value(from: &str, to: &str, code: &str) -> String {
    let spec = fixture("minimal.yaml");
    assert!(spec.contains(from), "{from}");
    let dir = repo_with_spec(&spec.replacen(from, to, 1));
    let (exit, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(exit, 1, "{to}: {stderr}");
    assert!(stderr.contains(code), "{to}: {stderr}");
    assert!(
        !dir.path().join("generated").exists(),
        "{to}: nothing written"
    );
    stderr
}

#[test]
fn options_exec_forms_globs_and_match_specs_are_refused() {
    // apt-get reads a trailing `-` as "remove".
    refused_value("wget=1.21.3-1+b2", "wget-", "qmspec::package-name");
    // A JSON array as the first command makes RUN skip the shell and its pipefail.
    refused_value(
        "app:\n",
        "  - name: exec\n    sources:\n      amd64: { kind: commands, run: ['[\"/bin/sh\",\"-c\",\"id\"]'] }\n      arm64: { kind: base-image }\napp:\n",
        "JSON exec form",
    );
    // Conda's bracket syntax in a version would pick another channel.
    let out = refused_value(
        "version: \"2.12\"",
        "version: \"2.12[channel=https://evil.example/c]\"",
        "qmspec::invalid-value",
    );
    assert!(out.contains("tools[0].version"), "{out}");
    // COPY expands globs in the validation script's path.
    refused_value(
        "validation-script: generated/validate-demo.sh",
        "validation-script: \"generated/[v]alidate*.sh\"",
        "qmspec::unsafe-path",
    );
}

/// A repository of two specs sharing one workflow, the second made from the first by `edit`.
fn two_specs(edit: &dyn Fn(String) -> String) -> tempfile::TempDir {
    let first = fixture("minimal.yaml");
    let dir = repo_with_spec(&first);
    let second = edit(
        first
            .replace("Dockerfile.demo", "Dockerfile.other")
            .replace("validate-demo", "validate-other"),
    );
    std::fs::write(
        dir.path().join("specs/other.yaml"),
        crate::support::marked(&second),
    )
    .expect("write");
    dir
}

#[test]
fn specs_sharing_a_workflow_publish_distinct_images_with_one_pin_each() {
    // The same image from two specs: their tags would overwrite each other.
    let dir = two_specs(&|s| s);
    let (exit, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(exit, 1, "{stderr}");
    assert!(stderr.contains("qmspec::shared-output"), "{stderr}");
    insta::assert_snapshot!(stderr, @"
    qmspec::shared-output

      × generated/publish-demo.yml: specs/other.yaml and specs/worker.yaml both publish ghcr.io/
      │ example/demo; their pushes would overwrite each other's tags
      help: the specs that share a workflow must agree on its trigger and pins and publish distinct
            images: change one of them, or give it its own `ci.workflow`, then run `qmspec generate`
    ");
    let flat = crate::support::unwrapped(&stderr);
    assert!(
        flat.contains("specs/other.yaml and specs/worker.yaml both")
            && flat.contains("ghcr.io/example/demo"),
        "{stderr}"
    );
    assert!(!dir.path().join("generated").exists(), "nothing written");
    // Names that differ only in `.` and `_` would share a job name.
    let dir = two_specs(&|s| s.replace("name: demo", "name: de.mo"));
    write(
        dir.path(),
        "specs/worker.yaml",
        &fixture("minimal.yaml").replace("name: demo", "name: de_mo"),
    );
    let (exit, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(exit, 1, "{stderr}");
    assert!(stderr.contains("build-de_mo"), "{stderr}");
    // Two pins for one action: the one workflow cannot use both.
    let pin = |sha: char| {
        format!(
            "ci:\n  pins:\n    actions/checkout: \"{} # v9.9.9\"\n",
            sha.to_string().repeat(40)
        )
    };
    let dir = two_specs(&|s| {
        s.replace("name: demo", "name: other")
            .replace("ci:\n", &pin('b'))
    });
    write(
        dir.path(),
        "specs/worker.yaml",
        &fixture("minimal.yaml").replace("ci:\n", &pin('a')),
    );
    let (exit, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(exit, 1, "{stderr}");
    assert!(stderr.contains("differently"), "{stderr}");
    // Different triggers: a tag meant for one image would publish the other too.
    let dir = two_specs(&|s| {
        s.replace("name: demo", "name: other")
            .replace("ci:\n", "ci:\n  on-tags: [\"other-v*\"]\n")
    });
    let (exit, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        stderr.contains("start") && stderr.contains("differently"),
        "{stderr}"
    );
    // Agreeing specs share the workflow: one file, stamped with both, publishing both.
    let dir = two_specs(&|s| s.replace("name: demo", "name: other"));
    let (exit, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(exit, 0, "{stderr}");
    let wf = std::fs::read_to_string(dir.path().join("generated/publish-demo.yml")).expect("read");
    assert!(
        wf.starts_with(
            "# Generated by qmspec from specs/other.yaml, specs/worker.yaml: do not edit by hand."
        ),
        "{wf}"
    );
    assert!(
        wf.contains("build-demo:") && wf.contains("build-other:"),
        "{wf}"
    );
    let manifest =
        std::fs::read_to_string(dir.path().join("generated/.qmspec-manifest")).expect("read");
    assert!(
        manifest.contains("specs/worker.yaml\tgenerated/publish-demo.yml")
            && manifest.contains("specs/other.yaml\tgenerated/publish-demo.yml"),
        "{manifest}"
    );
    // Checking or regenerating one spec still assembles the workflow from both.
    let (exit, stdout, stderr) = run(dir.path(), &["check", "--no-schema", "specs/other.yaml"]);
    assert_eq!(exit, 0, "{stdout}{stderr}");
    let (exit, _, stderr) = run(dir.path(), &["generate", "specs/other.yaml"]);
    assert_eq!(exit, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("generated/publish-demo.yml")).expect("read"),
        wf
    );
    // A change to one member makes the shared file stale, for a check of either spec.
    let other = std::fs::read_to_string(dir.path().join("specs/other.yaml")).expect("read");
    std::fs::write(
        dir.path().join("specs/other.yaml"),
        other.replace("ci:\n", "ci:\n  tag-rules: [version]\n"),
    )
    .expect("write");
    for args in [
        &["check", "--no-schema"][..],
        &["check", "--no-schema", "specs/worker.yaml"],
    ] {
        let (exit, stdout, stderr) = run(dir.path(), args);
        assert_eq!(exit, 1, "{args:?}: {stdout}{stderr}");
        assert!(
            stdout.contains("× generated/publish-demo.yml is stale"),
            "{args:?}: {stdout}"
        );
    }
    let (exit, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(exit, 0, "{stderr}");
    // A spec that leaves the group takes its jobs with it; the file stays the others'.
    std::fs::remove_file(dir.path().join("specs/other.yaml")).expect("rm");
    let (exit, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(exit, 0, "{stderr}");
    let wf = std::fs::read_to_string(dir.path().join("generated/publish-demo.yml")).expect("read");
    assert!(
        wf.contains("build-demo:") && !wf.contains("build-other:"),
        "{wf}"
    );
    assert!(!dir.path().join("generated/Dockerfile.other.amd64").exists());
    // An invalid spec holds the shared file back, naming the spec to fix.
    std::fs::write(
        dir.path().join("specs/other.yaml"),
        crate::support::marked("name: ["),
    )
    .expect("write");
    let (exit, _, stderr) = run(dir.path(), &["generate", "specs/worker.yaml"]);
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        stderr.contains("qmspec validate specs/other.yaml"),
        "{stderr}"
    );
}

#[test]
fn comments_carry_no_control_characters() {
    let spec = fixture("minimal.yaml").replace(
        "    check: hello --version",
        "    check: hello --version\n    description: \"a\\0b \\e[2K\\e[1A \\u0085 next\"",
    );
    let dir = repo_with_spec(&spec);
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(code, 0, "{stderr}");
    let dockerfile =
        std::fs::read_to_string(dir.path().join("generated/Dockerfile.demo.amd64")).expect("read");
    assert!(
        dockerfile.contains("# hello 2.12: a\\u{0}b"),
        "{dockerfile}"
    );
    assert!(
        !dockerfile.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the Dockerfile"
    );
}

#[test]
fn a_case_only_rename_removes_the_old_file() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let d = dir.path();
    assert_eq!(run(d, &["generate"]).0, 0);
    let spec = fixture("minimal.yaml").replace(
        "validation-script: generated/validate-demo.sh",
        "validation-script: generated/Validate-demo.sh",
    );
    write(d, "specs/worker.yaml", &spec);
    let (code, stdout, stderr) = run(d, &["generate"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("removed   generated/validate-demo.sh"),
        "{stdout}"
    );
    assert!(d.join("generated/Validate-demo.sh").exists());
    assert_eq!(run(d, &["check", "--no-schema"]).0, 0);
}

#[test]
fn a_dense_needs_graph_validates_in_time() {
    // 200 tools, each providing 60 capabilities and needing 60 earlier ones, on five
    // platforms: the graph is built once, not rescanned per edge.
    let mut tools = String::from("tools:\n");
    for i in 0..200 {
        let provides: Vec<String> = (0..60).map(|k| format!("c{i}x{k}")).collect();
        let needs: Vec<String> = (0..60.min(i)).map(|k| format!("t{}", i - 1 - k)).collect();
        tools.push_str(&format!(
            "  - name: t{i}\n    provides: [{}]\n    needs: [{}]\n    sources:\n      amd64: {{ kind: base-image }}\n      arm64: {{ kind: base-image }}\n",
            provides.join(", "),
            needs.join(", ")
        ));
    }
    let spec = fixture("minimal.yaml");
    let start = spec.find("tools:\n").expect("tools");
    let end = spec.find("app:\n").expect("app");
    let spec = format!("{}{tools}{}", &spec[..start], &spec[end..]);
    let dir = repo_with_spec(&spec);
    let started = std::time::Instant::now();
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(code, 0, "{}", &stderr[..stderr.len().min(3000)]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_rendered_line_buildkit_would_refuse_is_refused() {
    // Five `PATH` entries of almost 8 KiB each: every value is within its limit, but they
    // join on one `ENV PATH=` line of about 40 KiB.
    let entries: Vec<String> = (0..5)
        .map(|i| format!("/opt/{i}{}", "p".repeat(7900)))
        .collect();
    let spec = fixture("minimal.yaml").replacen(
        "        path: [/opt/hello]",
        &format!("        path: [{}]", entries.join(", ")),
        1,
    );
    let dir = repo_with_spec(&spec);
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("qmspec::line-too-long"), "{stderr}");
    insta::assert_snapshot!(stderr, @"
    qmspec::line-too-long

      × generated/Dockerfile.demo.amd64 would have a line of 39553 bytes (line 23); BuildKit refuses
      │ lines over 64 KiB
      help: shorten the spec's values or lists that end up on that line, then run `qmspec generate`
    ");
    assert!(
        stderr.contains("generated/Dockerfile.demo.amd64"),
        "{stderr}"
    );
    assert!(!dir.path().join("generated").exists(), "nothing written");
}

/// Another `generate` holding the repository: with `--wait 0` the second one fails at once,
/// naming the lock, and writes nothing.
#[test]
fn a_held_lock_is_reported_after_the_wait() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    // flock(1) locks the directory the way qmspec does (flock on the root folder).
    let mut holder = Command::new("flock")
        .args(["--exclusive"])
        .arg(dir.path())
        .args(["sleep", "30"])
        .spawn()
        .expect("flock(1) runs");
    let start = std::time::Instant::now();
    let mut code = 0;
    let mut stderr = String::new();
    // flock(1) takes the lock a moment after it starts.
    while start.elapsed() < Duration::from_secs(10) {
        (code, _, stderr) = run(dir.path(), &["generate", "--wait", "0"]);
        if code == 2 {
            break;
        }
        std::fs::remove_dir_all(dir.path().join("generated")).ok();
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code, 2, "{stderr}");
    insta::assert_snapshot!(stderr, @"
    qmspec::locked

      × cannot lock the repository: another `qmspec generate` holds the repository's lock
      ╰─▶ another `qmspec generate` holds the repository's lock
      help: wait for the other `qmspec generate` to finish, then run it again
    ");
    assert!(!dir.path().join("generated").exists());
}

/// A spec named on the command line that is not there.
#[test]
fn a_missing_spec_is_an_io_error() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let (code, _, stderr) = run(dir.path(), &["generate", "specs/nope.yaml"]);
    assert_eq!(code, 2, "{stderr}");
    insta::assert_snapshot!(stderr, @"
    qmspec::io

      × cannot read specs/nope.yaml: entity not found
      ╰─▶ entity not found
      help: check that the file exists and is readable, then rerun the command
    ");
}

/// In a monorepo (more specs than `check` keeps parsed), a workflow two specs share is still
/// made from both: their specs are read again for it.
#[test]
fn a_monorepo_checks_its_shared_workflow_from_every_spec_naming_it() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("specs")).expect("mkdir");
    for i in 0..70 {
        let spec = fixture("minimal.yaml")
            .replace("name: demo", &format!("name: demo{i}"))
            .replace("generated/", &format!("generated/d{i}/"));
        // The first two share one workflow.
        let spec = if i < 2 {
            spec.replace(
                &format!("generated/d{i}/publish-demo.yml"),
                "generated/publish-pair.yml",
            )
        } else {
            spec
        };
        write(dir.path(), &format!("specs/s{i:02}.yaml"), &spec);
    }
    let (exit, _, stderr) = run(dir.path(), &["generate"]);
    assert_eq!(exit, 0, "{stderr}");
    let pair =
        std::fs::read_to_string(dir.path().join("generated/publish-pair.yml")).expect("read");
    assert!(
        pair.contains("build-demo0:") && pair.contains("build-demo1:"),
        "{pair}"
    );
    let (exit, stdout, _) = run(dir.path(), &["check", "--no-schema"]);
    assert_eq!(exit, 0, "{stdout}");
    // 70 specs × 3 files of their own, 68 workflows of one spec and the pair's.
    assert!(
        stdout.contains("279 generated files are up to date"),
        "{stdout}"
    );
    let s01 = std::fs::read_to_string(dir.path().join("specs/s01.yaml")).expect("read");
    std::fs::write(
        dir.path().join("specs/s01.yaml"),
        s01.replace("ci:\n", "ci:\n  tag-rules: [version]\n"),
    )
    .expect("write");
    let (exit, stdout, _) = run(dir.path(), &["check", "--no-schema"]);
    assert_eq!(exit, 1, "{stdout}");
    assert!(
        stdout.contains("× generated/publish-pair.yml is stale"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 of the generated files need attention"),
        "{stdout}"
    );
}

/// A plan that holds no rendered file (a monorepo's, past `HELD_BYTES`) renders each file again
/// when it writes it: the files are byte for byte those of a plan that held them all.
#[test]
fn a_plan_holding_nothing_writes_the_same_files() {
    let specs = vec![
        "specs/api.yaml".to_string(),
        "specs/worker.yaml".to_string(),
    ];
    let mut trees = Vec::new();
    for held in [usize::MAX, 0] {
        let dir = crate::support::copy_of_project();
        std::fs::remove_dir_all(dir.path().join("generated")).expect("rm generated");
        let repo = qmspec::repo::Repo::open(dir.path()).expect("repo");
        let plan = qmspec::output::plan_holding(&repo, &specs, &[], held).expect("plan");
        let held_files = plan.outputs.iter().filter(|p| p.held).count();
        // Only the workflow both specs share is held when nothing else may be.
        assert_eq!(
            held_files,
            if held == 0 { 1 } else { plan.outputs.len() },
            "{held}"
        );
        let mut actions = Vec::new();
        qmspec::output::generate(&repo, &plan, false, Duration::ZERO, &mut || {}, &mut |a| {
            actions.push(a)
        })
        .expect("generate");
        assert!(
            actions
                .iter()
                .all(|a| matches!(a, qmspec::output::Action::Created(_))),
            "{actions:?}"
        );
        assert_eq!(actions.len(), plan.outputs.len());
        trees.push(tree(&dir.path().join("generated")));
    }
    assert!(trees[0] == trees[1], "the two plans wrote different files");
    // And both are the committed files (the manifest aside: a plan of named specs records no
    // state for `check`'s fast path).
    let mut committed = tree(&crate::support::root().join("generated"));
    for t in [&mut trees[0], &mut committed] {
        t.remove(".qmspec-manifest");
    }
    assert!(
        trees[0] == committed,
        "generate wrote other files than committed"
    );
}

/// A spec edited after its files were planned, and before a file the plan did not hold is
/// written, stops the run with a diagnostic naming it: the file is not written from a spec
/// that was never validated.
#[test]
fn a_spec_changed_during_generate_stops_it() {
    let dir = crate::support::copy_of_project();
    std::fs::remove_dir_all(dir.path().join("generated")).expect("rm generated");
    let specs = vec![
        "specs/api.yaml".to_string(),
        "specs/worker.yaml".to_string(),
    ];
    let repo = qmspec::repo::Repo::open(dir.path()).expect("repo");
    let plan = qmspec::output::plan_holding(&repo, &specs, &[], 0).expect("plan");
    // The worker's files are written after the api's.
    let path = dir.path().join("specs/worker.yaml");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replacen("\nname: ", "\nname: x", 1)).expect("edit");
    let mut actions = Vec::new();
    let err = qmspec::output::generate(&repo, &plan, false, Duration::ZERO, &mut || {}, &mut |a| {
        actions.push(a)
    })
    .expect_err("a changed spec stops generate");
    assert_eq!(err.exit_code(), 2);
    let mut report = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut report, &err)
        .expect("render");
    insta::assert_snapshot!(report, @"
    qmspec::changed-during-run

      × specs/worker.yaml (or its lock file) changed while qmspec ran: what it produces now is not
      │ what was validated; 3 file(s) were written before qmspec stopped
      help: run the command again when nothing else is editing the specs; files already written are
            whole, stamped and listed in the manifest
    ");
    // Each write was reported as it was made: the three before the stop, and nothing else.
    let mut reported: Vec<&str> = actions
        .iter()
        .map(|a| match a {
            qmspec::output::Action::Created(p) => p.as_str(),
            other => panic!("not a creation: {other:?}"),
        })
        .collect();
    reported.sort();
    assert_eq!(
        reported,
        [
            "generated/Dockerfile.api.amd64",
            "generated/Dockerfile.api.arm64",
            "generated/validate-api.sh"
        ]
    );
    // The api's files were written, whole; nothing was written from the edited spec.
    let written: Vec<String> = std::fs::read_dir(dir.path().join("generated"))
        .expect("generated")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut sorted = written.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ".qmspec-manifest",
            "Dockerfile.api.amd64",
            "Dockerfile.api.arm64",
            "validate-api.sh"
        ]
    );
    // The manifest was written before the first file: every file of the run is listed, so
    // none is left untracked by the stop.
    let manifest =
        std::fs::read_to_string(dir.path().join("generated/.qmspec-manifest")).expect("manifest");
    for name in &written {
        assert!(
            manifest.contains(&format!("\tgenerated/{name}\n")) || name == ".qmspec-manifest",
            "{name} is not in the manifest:\n{manifest}"
        );
    }
    assert!(!manifest.contains("# qmspec-check: "), "{manifest}");
    for name in written.iter().filter(|n| *n != ".qmspec-manifest") {
        let text = std::fs::read_to_string(dir.path().join("generated").join(name)).expect("read");
        assert!(text.contains("qmspec-hash: sha256:"), "{name}");
        assert!(!text.contains("xqm-nmr-calc-worker"), "{name}");
    }
}

/// The record `check`'s fast path trusts binds the files to the spec they were made from: a
/// spec edited after `generate` read it, while it wrote, leaves a record that no longer matches,
/// so `check` takes the full path and reports the files stale (recording the spec as found
/// after writing would have vouched for files made from its old text).
#[test]
fn a_spec_edited_while_generate_writes_is_not_recorded_as_current() {
    let dir = crate::support::copy_of_project();
    let specs = vec![
        "specs/api.yaml".to_string(),
        "specs/worker.yaml".to_string(),
    ];
    let repo = qmspec::repo::Repo::open(dir.path()).expect("repo");
    let mut plan = qmspec::output::plan(&repo, &specs, &[]).expect("plan");
    plan.complete = true;
    let path = dir.path().join("specs/worker.yaml");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("version: 3.0.2", "version: 3.1.0")).expect("edit");
    qmspec::output::generate(&repo, &plan, false, Duration::ZERO, &mut || {}, &mut |_| {})
        .expect("generate");
    let manifest =
        std::fs::read_to_string(dir.path().join("generated/.qmspec-manifest")).expect("manifest");
    assert!(manifest.contains("# qmspec-check: "), "{manifest}");
    let out = crate::support::qmspec(dir.path())
        .args(["check", "--no-schema"])
        .env("QMSPEC_TRACE_CHECK", "1")
        .output()
        .expect("check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("full path"), "{stderr}");
    assert!(stdout.contains("qmspec::stale"), "{stdout}");
}
