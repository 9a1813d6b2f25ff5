//! Hostile input: one test per attack. Each asserts the exit code (1 for a bad spec, 0 where the
//! input is valid YAML that must work; never a panic or a signal), a diagnostic that names the
//! problem, a bounded run (a hang is killed and fails the test), and that a refused spec wrote
//! nothing at all.

use std::path::Path;

use crate::support::{TIMEOUT, fixture, qmspec, repo_with_spec, run_bounded};

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).expect("under base");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Run `qmspec generate` on `bytes` as `specs/worker.yaml`; returns (exit code, stderr) and
/// the files present afterwards.
fn generate(bytes: &[u8]) -> (i32, String, Vec<String>, tempfile::TempDir) {
    let dir = repo_with_spec("");
    std::fs::write(dir.path().join("specs/worker.yaml"), bytes).expect("write spec");
    // Named on the command line: a spec given by name needs no marker, so the hostile bytes
    // are read exactly as written.
    let (code, _, stderr) = run_bounded(dir.path(), &["generate", "specs/worker.yaml"]);
    let after = files(dir.path());
    (code, stderr, after, dir)
}

/// The spec is refused with `code` named in the report, and nothing is written.
fn refused(bytes: &[u8], code: &str) -> String {
    let (exit, stderr, after, _dir) = generate(bytes);
    assert_eq!(exit, 1, "expected exit 1 for {code}, got {exit}:\n{stderr}");
    assert!(
        stderr.contains(code),
        "the report does not name {code}:\n{stderr}"
    );
    assert_eq!(
        after,
        ["specs/worker.yaml"],
        "a refused spec must write nothing"
    );
    assert!(
        stderr.len() < 64 * 1024,
        "the report is {} bytes: hostile input must not blow up the output",
        stderr.len()
    );
    stderr
}

/// The spec is accepted: generate writes its files and check then finds nothing to report.
fn accepted(bytes: &[u8]) -> tempfile::TempDir {
    let (exit, stderr, after, dir) = generate(bytes);
    assert_eq!(exit, 0, "expected the spec to be accepted:\n{stderr}");
    assert!(after.len() > 1, "generate wrote nothing: {after:?}");
    qmspec(dir.path())
        .args(["check", "--no-schema", "specs/worker.yaml"])
        .timeout(TIMEOUT)
        .assert()
        .code(0);
    dir
}

/// The generated files of the minimal fixture, to compare equivalent spellings against.
fn minimal_outputs() -> Vec<(String, String)> {
    outputs(&accepted(fixture("minimal.yaml").as_bytes()))
}

fn outputs(dir: &tempfile::TempDir) -> Vec<(String, String)> {
    files(dir.path())
        .into_iter()
        .filter(|f| f.starts_with("generated/") && !f.ends_with(".qmspec-manifest"))
        .map(|f| {
            let text = std::fs::read_to_string(dir.path().join(&f)).expect("read output");
            (f, text)
        })
        .collect()
}

#[test]
fn empty_file() {
    refused(b"", "qmspec::empty");
}

#[test]
fn only_a_comment() {
    refused(b"# nothing but a comment\n", "qmspec::empty");
}

#[test]
fn top_level_list() {
    refused(b"- name: demo\n- owner: example\n", "qmspec::not-a-mapping");
}

#[test]
fn top_level_scalar() {
    refused(b"just a string\n", "qmspec::not-a-mapping");
}

#[test]
fn tabs_as_indentation() {
    let spec = fixture("minimal.yaml").replace("\n  amd64:", "\n\tamd64:");
    let out = refused(spec.as_bytes(), "qmspec::yaml-syntax");
    assert!(
        out.contains("tab"),
        "the report should mention the tab:\n{out}"
    );
}

#[test]
fn invalid_utf8() {
    let mut spec = fixture("minimal.yaml").into_bytes();
    spec.splice(8..8, [0xff, 0xfe]);
    refused(&spec, "qmspec::not-utf8");
}

#[test]
fn utf8_bom_is_accepted() {
    let mut spec = vec![0xef, 0xbb, 0xbf];
    spec.extend(fixture("minimal.yaml").into_bytes());
    let dir = accepted(&spec);
    assert_eq!(outputs(&dir), minimal_outputs());
}

#[test]
fn crlf_line_endings_are_accepted_and_change_nothing() {
    let spec = fixture("minimal.yaml").replace('\n', "\r\n");
    let dir = accepted(spec.as_bytes());
    let out = outputs(&dir);
    assert_eq!(out, minimal_outputs());
    assert!(out.iter().all(|(_, text)| !text.contains('\r')));
}

#[test]
fn duplicate_keys() {
    let spec =
        fixture("minimal.yaml").replace("owner: example\n", "owner: example\nowner: other\n");
    refused(spec.as_bytes(), "qmspec::duplicate-key");
}

#[test]
fn anchors_and_aliases_are_accepted() {
    // The two platforms share one base image through an anchor.
    let spec = fixture("minimal.yaml")
        .replacen("    base:\n", "    base: &debian\n", 1)
        .replacen(
            "    base:\n      image: debian\n      tag: bookworm-slim\n      digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2\n    runner: ubuntu-24.04-arm",
            "    base: *debian\n    runner: ubuntu-24.04-arm",
            1,
        );
    assert!(spec.contains("*debian"), "the fixture changed shape");
    let dir = accepted(spec.as_bytes());
    assert_eq!(outputs(&dir), minimal_outputs());
}

#[test]
fn merge_keys_are_accepted_and_explicit_keys_win() {
    // arm64 merges amd64's archive source and overrides url and sha256.
    let spec = fixture("minimal.yaml")
        .replace(
            "      amd64:\n        kind: archive",
            "      amd64: &x86\n        kind: archive",
        )
        .replace(
            "      arm64:\n        kind: archive\n",
            "      arm64:\n        <<: *x86\n",
        )
        .replace(
            "        dest: /opt/hello\n        path: [/opt/hello]\napp:",
            "app:",
        );
    assert!(spec.contains("<<: *x86"), "the fixture changed shape");
    let dir = accepted(spec.as_bytes());
    assert_eq!(outputs(&dir), minimal_outputs());
}

#[test]
fn a_merge_key_on_a_scalar_is_refused() {
    let spec = fixture("minimal.yaml").replace("app:\n", "app:\n  <<: not-a-mapping\n");
    refused(spec.as_bytes(), "qmspec::merge-key");
}

#[test]
fn billion_laughs() {
    let mut spec = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        let list = [prev.as_str(); 10].join(", ");
        spec.push_str(&format!("a{i}: &a{i} [{list}]\n"));
    }
    refused(spec.as_bytes(), "qmspec::alias-budget");
}

fn block_nesting(levels: usize) -> String {
    let mut spec = String::new();
    for depth in 0..levels {
        spec.push_str(&" ".repeat(depth));
        spec.push_str("k:\n");
    }
    spec
}

#[test]
fn a_thousand_levels_of_block_nesting() {
    let out = refused(block_nesting(1_000).as_bytes(), "qmspec::too-deep");
    insta::assert_snapshot!(out, @"
    qmspec::too-deep

      × the spec nests deeper than 64 levels
        ╭─[specs/worker.yaml:66:66]
     65 │                                                                 k:
     66 │                                                                  k:
        ·                                                                  ▲
        ·                                                                  ╰── too deep
     67 │                                                                   k:
        ╰────
      help: a spec is at most a few levels deep: flatten this value, then run `qmspec validate`
    specs/worker.yaml: invalid (1 error, 0 warnings)
    nothing written: fix specs/worker.yaml first (`qmspec validate` lists every finding)
    ");
}

#[test]
fn ten_thousand_levels_of_block_nesting() {
    // Indentation alone makes this 50 MB: the size limit refuses it before parsing.
    refused(block_nesting(10_000).as_bytes(), "qmspec::too-large");
}

#[test]
fn ten_thousand_levels_of_flow_nesting() {
    let spec = format!("name: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    refused(spec.as_bytes(), "qmspec::too-deep");
}

#[test]
fn a_50_mib_file() {
    let mut spec = fixture("minimal.yaml").into_bytes();
    let pad = b"# padding padding padding padding padding padding padding padding\n";
    while spec.len() < 50 << 20 {
        spec.extend_from_slice(pad);
    }
    let out = refused(&spec, "qmspec::too-large");
    insta::assert_snapshot!(out, @"
    qmspec::too-large

      × the spec is larger than 1024 KiB, the most qmspec reads
      help: a spec describes one image and is a few KiB: check that this is the right file
    specs/worker.yaml: invalid (1 error, 0 warnings)
    nothing written: fix specs/worker.yaml first (`qmspec validate` lists every finding)
    ");
}

#[test]
fn too_many_values() {
    let items = vec!["x"; 60_000].join(", ");
    let spec = format!("name: demo\nlabels: {{}}\njunk: [{items}]\n");
    let out = refused(spec.as_bytes(), "qmspec::too-many-nodes");
    insta::assert_snapshot!(out, @"
    qmspec::too-many-nodes

      × the spec has more than 50000 values (line 3, column 149996: the line is too long to show)
      help: a spec describes one image: split it into several specs, then run `qmspec validate`
    specs/worker.yaml: invalid (1 error, 0 warnings)
    nothing written: fix specs/worker.yaml first (`qmspec validate` lists every finding)
    ");
}

#[test]
fn too_many_tools() {
    let mut spec = fixture("minimal.yaml");
    let tool = "  - name: t{i}\n    version: \"1\"\n    check: t{i} --version\n    sources:\n      amd64: { kind: apt, packages: [t{i}] }\n      arm64: { kind: apt, packages: [t{i}] }\n";
    let extra: String = (0..300)
        .map(|i| tool.replace("{i}", &i.to_string()))
        .collect();
    spec = spec.replace("tools:\n", &format!("tools:\n{extra}"));
    refused(spec.as_bytes(), "qmspec::too-many");
}

#[test]
fn yaml_11_booleans_where_strings_are_expected() {
    // YAML 1.2 (what qmspec reads) takes `no` and `on` as strings; YAML 1.1 tools read
    // booleans. qmspec accepts them but warns, so the spec means the same everywhere.
    let spec = fixture("minimal.yaml").replace("name: demo", "name: no");
    let dir = accepted(spec.as_bytes());
    let out = qmspec(dir.path())
        .args(["validate", "specs/worker.yaml"])
        .timeout(TIMEOUT)
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("qmspec::yaml11-boolean") && stderr.contains("\"no\""),
        "{stderr}"
    );
}

#[test]
fn a_yaml_11_boolean_where_a_boolean_is_expected() {
    let spec = fixture("minimal.yaml").replace(
        "  workflow: generated/publish-demo.yml",
        "  workflow: generated/publish-demo.yml\n  workflow-dispatch: yes",
    );
    let out = refused(spec.as_bytes(), "qmspec::yaml11-boolean");
    assert!(
        out.contains("workflow-dispatch: true"),
        "the help should say `true`:\n{out}"
    );
}

#[test]
fn a_version_written_as_a_float() {
    let spec = fixture("minimal.yaml").replace("version: \"2.12\"", "version: 2.10");
    let out = refused(spec.as_bytes(), "qmspec::unquoted-scalar");
    assert!(out.contains("\"2.10\""), "the help should quote it:\n{out}");
}

#[test]
fn a_platform_named_twice() {
    let spec = fixture("minimal.yaml").replacen("  arm64:\n    base:", "  amd64:\n    base:", 1);
    refused(spec.as_bytes(), "qmspec::duplicate-key");
}

#[test]
fn a_key_with_a_nul_byte() {
    let spec = fixture("minimal.yaml").replace("owner: example", "\"own\\0er\": example");
    let out = refused(spec.as_bytes(), "qmspec::unknown-key");
    assert!(
        !out.contains('\0'),
        "a NUL must be escaped in the report:\n{out}"
    );
    assert!(out.contains("\\u{0}"), "{out}");
}

#[test]
fn a_raw_nul_byte() {
    let mut spec = fixture("minimal.yaml").into_bytes();
    spec.splice(5..5, [0]);
    let (exit, stderr, after, _dir) = generate(&spec);
    assert_eq!(exit, 1, "{stderr}");
    assert_eq!(after, ["specs/worker.yaml"]);
}

#[test]
fn a_very_long_line() {
    // Upper case is not a valid owner: the problem sits on a line too long to print.
    let long = "X".repeat(600_000);
    let spec = fixture("minimal.yaml").replace("owner: example", &format!("owner: {long}"));
    let out = refused(spec.as_bytes(), "qmspec::invalid-value");
    assert!(
        out.contains("line 3"),
        "the report should name the line:\n{}",
        &out[..out.len().min(2000)]
    );
}

#[test]
fn a_very_long_key() {
    // YAML caps a plain key at 1024 characters; the report names the line instead of printing it.
    let long = "k".repeat(200_000);
    let spec =
        fixture("minimal.yaml").replace("owner: example", &format!("owner: example\n{long}: 1"));
    let out = refused(spec.as_bytes(), "qmspec::yaml-syntax");
    assert!(out.contains("line 4") && out.contains("1024"), "{out}");
}

#[test]
fn thousands_of_problems_are_capped() {
    let junk: String = (0..5_000).map(|i| format!("junk{i}: 1\n")).collect();
    let spec = format!("{}{junk}", fixture("minimal.yaml"));
    let out = refused(spec.as_bytes(), "qmspec::too-many-problems");
    assert_eq!(out.matches("qmspec::unknown-key").count(), 100);
    let last = out.rfind("qmspec::too-many-problems").expect("named");
    insta::assert_snapshot!(&out[last..], @"
    qmspec::too-many-problems

      × 4900 more problems are not shown
      help: fix the problems above, then run `qmspec validate` again
    specs/worker.yaml: invalid (101 errors, 0 warnings)
    nothing written: fix specs/worker.yaml first (`qmspec validate` lists every finding)
    ");
}

#[test]
fn a_custom_tag() {
    let spec = fixture("minimal.yaml").replace("owner: example", "owner: !python/object example");
    refused(spec.as_bytes(), "qmspec::yaml-tag");
}

#[test]
fn a_second_document() {
    let spec = format!("{}---\nname: again\n", fixture("minimal.yaml"));
    refused(spec.as_bytes(), "qmspec::multiple-documents");
}

/// Spec values reach the workflow in many places (runners, paths, tag patterns); none may
/// carry a GitHub Actions expression there, nor anywhere else.
#[test]
fn github_expressions_in_spec_values_are_refused() {
    let base = fixture("minimal.yaml");
    let attacks = [
        base.replace(
            "runner: ubuntu-latest",
            "runner: \"${{ github.event.issue.title }}\"",
        ),
        base.replace(
            "dockerfile: generated/Dockerfile.demo.arm64",
            "dockerfile: \"generated/${{ github.head_ref }}.arm64\"",
        ),
        base.replace(
            "  workflow: generated/publish-demo.yml",
            "  workflow: generated/publish-demo.yml\n  on-tags: [\"v${{ github.head_ref }}\"]",
        ),
        base.replace(
            "check: hello --version",
            "check: \"hello ${{ secrets.GITHUB_TOKEN }}\"",
        ),
        base.replace(
            "owner: example\n",
            "owner: example\nlabels:\n  org.example.x: \"${{ secrets.GITHUB_TOKEN }}\"\n",
        ),
    ];
    for (i, spec) in attacks.iter().enumerate() {
        assert_ne!(spec, &base, "the fixture changed shape");
        // A tag pattern is refused by its schema pattern already (no `$`, `{` or blank).
        let code = if i == 2 {
            "qmspec::invalid-value"
        } else {
            "qmspec::workflow-expression"
        };
        let out = refused(spec.as_bytes(), code);
        assert!(out.contains("${{"), "{out}");
    }
}

/// The machine's environment never reaches a generated file: the same spec generates the
/// same bytes under a different environment, and no value of it appears in the output.
#[test]
fn no_environment_value_reaches_generated_files() {
    let spec = fixture("all-kinds.yaml");
    let run = |canary: &str| {
        let dir = repo_with_spec(&spec);
        qmspec(dir.path())
            .arg("generate")
            .env("QMSPEC_CANARY", canary)
            .env("GITHUB_TOKEN", canary)
            .env("HOME", format!("/home/{canary}"))
            .env("USER", canary)
            .env("BASE_DIR", canary)
            .env("DATA_DIR", canary)
            .timeout(TIMEOUT)
            .assert()
            .code(0);
        outputs(&dir)
    };
    let first = run("canary-5d41402abc");
    let second = run("other-7d793037a0");
    assert_eq!(first, second, "the output depends on the environment");
    for (path, text) in &first {
        assert!(
            !text.contains("canary-5d41402abc"),
            "{path} leaks the environment"
        );
    }
}
