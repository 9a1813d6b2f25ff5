//! The first five minutes: `init` in an empty git repository, then `generate` and a `check`
//! that passes; which files are specs (`qmspec.toml`, the modeline marker); the schema as an
//! output; `explain`; and a real pre-commit that sees an output outside `generated/`.

use std::path::Path;

use crate::support::{PreCommit, fixture, git, qmspec, repo_with_spec};

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = qmspec(dir).args(args).output().expect("qmspec runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An empty git repository whose folder is the image name, with a GitHub remote.
fn empty_repo() -> (tempfile::TempDir, std::path::PathBuf) {
    let parent = tempfile::tempdir().expect("tmp");
    let dir = parent.path().join("NMR Tools");
    std::fs::create_dir(&dir).expect("mkdir");
    assert!(git(&dir, &["init", "-q"]).status.success());
    git(
        &dir,
        &[
            "remote",
            "add",
            "origin",
            "git@github.com:Steinbeck/qm-nmr-calc.git",
        ],
    );
    (parent, dir)
}

/// `init`, `generate`, `check`: the starter spec is named after the folder, its owner comes
/// from the git remote, the schema lands where its modeline points, and the first `check`
/// passes, from the root and from a subfolder. A second `init` replaces nothing.
#[test]
fn init_then_generate_then_check_passes_in_an_empty_git_repository() {
    let (_parent, dir) = empty_repo();
    let (code, stdout, stderr) = run(&dir, &["init"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("wrote     schema/worker.schema.json\n")
            && stdout.contains("wrote     specs/nmr-tools.yaml\n"),
        "{stdout}"
    );
    let next: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("qmspec "))
        .collect();
    assert_eq!(next.len(), 3, "three next commands: {stdout}");
    let spec = std::fs::read_to_string(dir.join("specs/nmr-tools.yaml")).expect("spec");
    assert!(
        spec.starts_with("# yaml-language-server: $schema=../schema/worker.schema.json\n"),
        "{spec}"
    );
    assert!(spec.contains("\nname: \"nmr-tools\"\n") && spec.contains("\nowner: steinbeck\n"));
    let (code, _, stderr) = run(&dir, &["validate"]);
    assert!(code == 0 && stderr.contains("valid ("), "{stderr}");
    let (code, stdout, stderr) = run(&dir, &["generate"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("created   .github/workflows/publish-images.yml")
            && stdout.contains("unchanged schema/worker.schema.json"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(&dir, &["check"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("4 generated files are up to date"),
        "{stdout}"
    );
    let (code, stdout, _) = run(&dir.join("specs"), &["check"]);
    assert_eq!(code, 0, "a run from a subfolder finds the root: {stdout}");

    let before = std::fs::read(dir.join("specs/nmr-tools.yaml")).expect("read");
    let (code, _, stderr) = run(&dir, &["init"]);
    assert!(
        code == 2
            && stderr.contains("specs/nmr-tools.yaml exists; qmspec init never replaces a file"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.join("specs/nmr-tools.yaml")).expect("read"),
        before
    );
    // Another image beside it.
    let (code, _, stderr) = run(&dir, &["init", "--name", "api"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(dir.join("specs/api.yaml").is_file());
}

/// `init` refuses to put the schema over a file that is not qmspec's, before writing anything.
#[test]
fn init_never_replaces_a_foreign_schema() {
    let (_parent, dir) = empty_repo();
    std::fs::create_dir_all(dir.join("schema")).expect("mkdir");
    std::fs::write(
        dir.join("schema/worker.schema.json"),
        "{\"title\": \"mine\"}",
    )
    .expect("w");
    let (code, _, stderr) = run(&dir, &["init"]);
    assert!(
        code == 2 && stderr.contains("schema/worker.schema.json exists and is not qmspec's schema"),
        "{stderr}"
    );
    assert!(!dir.join("specs").exists(), "nothing written");
    assert_eq!(
        std::fs::read_to_string(dir.join("schema/worker.schema.json")).expect("read"),
        "{\"title\": \"mine\"}"
    );
}

/// A YAML file under `specs/` without the modeline is not a spec: an OpenAPI document beside
/// the specs is left alone, and with no spec at all the error names what matched and
/// `qmspec init`, not a file the user never wrote.
#[test]
fn a_yaml_file_without_the_marker_is_not_taken_for_a_spec() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    std::fs::write(
        dir.path().join("specs/openapi.yaml"),
        "# yaml-language-server: $schema=https://spec.openapis.org/oas/3.1/schema/2022-10-07\nopenapi: 3.1.0\n",
    )
    .expect("write");
    let (code, _, stderr) = run(dir.path(), &["validate"]);
    assert!(code == 0 && !stderr.contains("openapi"), "{stderr}");
    assert_eq!(run(dir.path(), &["generate"]).0, 0);
    assert_eq!(run(dir.path(), &["check"]).0, 0);

    std::fs::remove_file(dir.path().join("specs/worker.yaml")).expect("rm");
    let (code, _, stderr) = run(dir.path(), &["validate"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no spec found")
            && stderr.contains("specs/openapi.yaml matches, but has no `# yaml-language-server: $schema=../schema/worker.schema.json` line")
            && stderr.contains("qmspec init")
            && !stderr.contains("specs/worker.yaml"),
        "{stderr}"
    );
    // A spec named on the command line needs no marker.
    let empty = tempfile::tempdir().expect("tmp");
    let (code, _, stderr) = run(empty.path(), &["check"]);
    assert!(
        code == 2 && stderr.contains("no spec found") && !stderr.contains("worker.yaml"),
        "{stderr}"
    );
}

/// `qmspec.toml` names the spec globs and the schema's place: `init`, `generate` and `check`
/// follow it, and a bad setting is refused naming the key.
#[test]
fn qmspec_toml_moves_the_specs_and_the_schema() {
    let (_parent, dir) = empty_repo();
    std::fs::write(
        dir.join("qmspec.toml"),
        "# Where qmspec finds specs and writes the schema.\nspecs = [\"images/*/image.yaml\"]\nschema = \"images/qmspec.schema.json\"\n",
    )
    .expect("write");
    let (code, stdout, stderr) = run(&dir, &["init", "--name", "worker"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("wrote     images/worker/image.yaml"),
        "{stdout}"
    );
    let spec = std::fs::read_to_string(dir.join("images/worker/image.yaml")).expect("spec");
    assert!(
        spec.starts_with("# yaml-language-server: $schema=../qmspec.schema.json\n"),
        "{spec}"
    );
    assert!(dir.join("images/qmspec.schema.json").is_file());
    assert!(!dir.join("schema").exists() && !dir.join("specs").exists());
    assert_eq!(run(&dir, &["generate"]).0, 0);
    let (code, stdout, _) = run(&dir, &["check"]);
    assert_eq!(code, 0, "{stdout}");

    std::fs::write(dir.join("qmspec.toml"), "spec = [\"x/*.yaml\"]\n").expect("write");
    let (code, _, stderr) = run(&dir, &["check"]);
    assert!(
        code == 2 && stderr.contains("qmspec.toml") && stderr.contains("unknown field `spec`"),
        "{stderr}"
    );
}

/// The schema is an output: `generate` writes it where it is missing and updates a schema of
/// another qmspec version, `check` reports it missing or outdated naming `qmspec generate`,
/// and a file there that is not qmspec's schema is never replaced (without `--force`).
#[test]
fn the_schema_is_written_by_generate_and_verified_by_check() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let schema = dir.path().join("schema/worker.schema.json");
    let (code, stdout, _) = run(dir.path(), &["generate"]);
    assert!(
        code == 0 && stdout.contains("created   schema/worker.schema.json"),
        "{stdout}"
    );
    let ours = std::fs::read_to_string(&schema).expect("schema");
    assert!(ours.contains("\"$id\": \"https://qmspec.dev/schema/worker.schema.json\""));
    assert!(ours.contains("\"$comment\": \"Written by `qmspec generate`"));

    std::fs::remove_file(&schema).expect("rm");
    let (code, stdout, _) = run(dir.path(), &["check"]);
    assert!(
        code == 1
            && stdout.contains("schema/worker.schema.json is missing")
            && stdout.contains("run `qmspec generate`, which writes it"),
        "{stdout}"
    );
    // Another qmspec's schema (same `$id`): updated.
    std::fs::write(
        &schema,
        "{\"$id\": \"https://qmspec.dev/schema/worker.schema.json\", \"type\": \"object\"}\n",
    )
    .expect("write");
    let (code, stdout, _) = run(dir.path(), &["check"]);
    assert!(
        code == 1 && stdout.contains("qmspec::schema-outdated"),
        "{stdout}"
    );
    let (code, stdout, _) = run(dir.path(), &["generate"]);
    assert!(
        code == 0 && stdout.contains("updated   schema/worker.schema.json"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&schema).expect("read"), ours);

    // Someone else's file: kept, and nothing else is written either.
    std::fs::write(&schema, "{\"title\": \"theirs\"}\n").expect("write");
    std::fs::remove_file(dir.path().join("generated/Dockerfile.demo.amd64")).expect("rm");
    let (code, _, stderr) = run(dir.path(), &["generate"]);
    assert!(
        code != 0 && stderr.contains("schema/worker.schema.json exists and is not qmspec's schema"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&schema).expect("read"),
        "{\"title\": \"theirs\"}\n"
    );
    assert!(!dir.path().join("generated/Dockerfile.demo.amd64").exists());
    let (code, _, _) = run(dir.path(), &["generate", "--force"]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&schema).expect("read"), ours);
}

/// `explain` in its three formats for the minimal fixture: the tool × platform table, the
/// bases, the outputs and the CI jobs; JSON that parses, Markdown tables.
#[test]
fn explain_shows_how_the_platforms_differ_in_three_formats() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let (code, text, stderr) = run(dir.path(), &["explain"]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(text, @"
    demo: how the platforms differ

      spec       specs/worker.yaml
      image      ghcr.io/example/demo
      platforms  amd64, arm64

    Bases
      platform  image   tag            digest                state
      --------  ------  -------------  --------------------  ------
      amd64     debian  bookworm-slim  sha256:b4d4d5c9ab2f…  pinned
      arm64     debian  bookworm-slim  sha256:b4d4d5c9ab2f…  pinned

    Tools
      tool   amd64                  arm64
      -----  ---------------------  ---------------------
      hello  archive 2.12 (sha256)  archive 2.12 (sha256)

    What each platform fetches
      tool   platform  kind     fetches                                        checksum
      -----  --------  -------  ---------------------------------------------  --------
      hello  amd64     archive  https://example.org/hello-2.12-x86_64.tar.gz   sha256
      hello  arm64     archive  https://example.org/hello-2.12-aarch64.tar.gz  sha256

    Environment
      variable         amd64  arm64
      ---------------  -----  -----
      QMSPEC_PLATFORM  amd64  arm64

    Outputs
      path                             output
      -------------------------------  -----------------------------------------------------
      generated/Dockerfile.demo.amd64  Dockerfile for amd64
      generated/Dockerfile.demo.arm64  Dockerfile for arm64
      generated/validate-demo.sh       validation script, run in the image on every platform
      generated/publish-demo.yml       publish workflow, shared with every spec naming it

    CI jobs
      workflow  generated/publish-demo.yml
      strategy  native: each platform built on its own runner, merged by digest

      job               on            needs                  platform  runner
      ----------------  ------------  ---------------------  --------  ----------------
      changes (shared)  pull request  —                      —         ubuntu-latest
      check-demo        pull request  changes                amd64     ubuntu-latest
                                                             arm64     ubuntu-24.04-arm
      checks (shared)   pull request  changes, check-demo    —         ubuntu-latest
      build-demo        publish       —                      amd64     ubuntu-latest
                                                             arm64     ubuntu-24.04-arm
      test-demo         publish       build-demo             amd64     ubuntu-latest
                                                             arm64     ubuntu-24.04-arm
      merge-demo        publish       build-demo, test-demo  —         ubuntu-latest
      attest-demo       publish       merge-demo             —         ubuntu-latest
    ");
    let (code, markdown, _) = run(dir.path(), &["explain", "--format", "markdown"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(markdown, @r"
    # demo: how the platforms differ

    - spec: specs/worker.yaml
    - image: ghcr.io/example/demo
    - platforms: amd64, arm64

    ## Bases

    | platform | image | tag | digest | state |
    | --- | --- | --- | --- | --- |
    | amd64 | debian | bookworm-slim | sha256:b4d4d5c9ab2f… | pinned |
    | arm64 | debian | bookworm-slim | sha256:b4d4d5c9ab2f… | pinned |

    ## Tools

    | tool | amd64 | arm64 |
    | --- | --- | --- |
    | hello | archive 2.12 (sha256) | archive 2.12 (sha256) |

    ## What each platform fetches

    | tool | platform | kind | fetches | checksum |
    | --- | --- | --- | --- | --- |
    | hello | amd64 | archive | https://example.org/hello-2.12-x86\_64.tar.gz | sha256 |
    | hello | arm64 | archive | https://example.org/hello-2.12-aarch64.tar.gz | sha256 |

    ## Environment

    | variable | amd64 | arm64 |
    | --- | --- | --- |
    | QMSPEC\_PLATFORM | amd64 | arm64 |

    ## Outputs

    | path | output |
    | --- | --- |
    | generated/Dockerfile.demo.amd64 | Dockerfile for amd64 |
    | generated/Dockerfile.demo.arm64 | Dockerfile for arm64 |
    | generated/validate-demo.sh | validation script, run in the image on every platform |
    | generated/publish-demo.yml | publish workflow, shared with every spec naming it |

    ## CI jobs

    - workflow: generated/publish-demo.yml
    - strategy: native: each platform built on its own runner, merged by digest

    | job | on | needs | platform | runner |
    | --- | --- | --- | --- | --- |
    | changes (shared) | pull request | — | — | ubuntu-latest |
    | check-demo | pull request | changes | amd64 | ubuntu-latest |
    |  |  |  | arm64 | ubuntu-24.04-arm |
    | checks (shared) | pull request | changes, check-demo | — | ubuntu-latest |
    | build-demo | publish | — | amd64 | ubuntu-latest |
    |  |  |  | arm64 | ubuntu-24.04-arm |
    | test-demo | publish | build-demo | amd64 | ubuntu-latest |
    |  |  |  | arm64 | ubuntu-24.04-arm |
    | merge-demo | publish | build-demo, test-demo | — | ubuntu-latest |
    | attest-demo | publish | merge-demo | — | ubuntu-latest |
    ");
    let (code, json, _) = run(
        dir.path(),
        &["explain", "--format", "json", "specs/worker.yaml"],
    );
    assert_eq!(code, 0);
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(value.as_array().map(Vec::len), Some(1), "{json}");
    // An invalid spec is not explained.
    std::fs::write(
        dir.path().join("specs/worker.yaml"),
        crate::support::marked("name: [\n"),
    )
    .expect("write");
    let (code, _, stderr) = run(dir.path(), &["explain"]);
    assert!(
        code == 1 && stderr.contains("`qmspec validate specs/worker.yaml` shows why"),
        "{stderr}"
    );
}

/// After `init` and `generate` the project commits; a hand edit of the workflow under
/// `.github/workflows/` (outside `generated/`) is refused until `qmspec generate` restores it.
fn hooks_refuse_a_hand_edited_workflow(dir: &Path, hooks: &PreCommit) {
    let (ok, out) = hooks.commit("start with qmspec");
    assert!(ok, "{out}");
    let workflow = dir.join(".github/workflows/publish-images.yml");
    let text = std::fs::read_to_string(&workflow).expect("read");
    std::fs::write(
        &workflow,
        text.replace("runs-on: ubuntu-latest", "runs-on: self-hosted"),
    )
    .expect("write");
    let (ok, out) = hooks.commit("edit the workflow by hand");
    assert!(!ok, "the hand edit must be refused: {out}");
    assert!(
        out.contains("qmspec::edited-by-hand")
            && out.contains(".github/workflows/publish-images.yml"),
        "{out}"
    );
    assert!(!out.contains("no files to check"), "{out}");
    // `--force` puts back the generated text: the tree is the committed one again.
    assert_eq!(run(dir, &["generate", "--force"]).0, 0);
    assert_eq!(run(dir, &["check"]).0, 0);
    let diff = git(dir, &["diff", "HEAD", "--stat"]);
    assert_eq!(String::from_utf8_lossy(&diff.stdout), "");
}

/// The real pre-commit with this repository's hook definitions runs on every commit.
#[test]
fn pre_commit_refuses_a_hand_edited_output_outside_generated() {
    let (_parent, dir) = empty_repo();
    assert_eq!(run(&dir, &["init"]).0, 0);
    assert_eq!(run(&dir, &["generate"]).0, 0);
    let hooks = PreCommit::install(&dir);
    hooks_refuse_a_hand_edited_workflow(&dir, &hooks);
}

/// The README's `.pre-commit-config.yaml` works as printed, with the real pre-commit.
#[test]
fn the_readmes_pre_commit_snippet_works() {
    let readme = std::fs::read_to_string(crate::support::root().join("README.md")).expect("README");
    let section = &readme[readme
        .find("## Pre-commit\n")
        .expect("a Pre-commit section")..];
    let snippet = crate::support::yaml_blocks(section)
        .into_iter()
        .find(|b| b.contains("repo: local"))
        .expect("a `repo: local` block");
    let (_parent, dir) = empty_repo();
    assert_eq!(run(&dir, &["init"]).0, 0);
    assert_eq!(run(&dir, &["generate"]).0, 0);
    let hooks = PreCommit::install_config(&dir, &snippet, tempfile::tempdir().expect("tmp"));
    hooks_refuse_a_hand_edited_workflow(&dir, &hooks);
}

/// Colour follows `--color`, then NO_COLOR and CLICOLOR_FORCE, the same way for every command
/// and both streams: `validate` (stderr) and `check` (stdout), piped.
#[test]
fn color_follows_the_flag_then_no_color_then_clicolor_force() {
    let dir = repo_with_spec(&fixture("minimal.yaml").replace("name: demo", "name: Demo"));
    assert_eq!(run(dir.path(), &["generate"]).0, 1);
    let escape = |args: &[&str], env: &[(&str, &str)]| {
        let out = qmspec(dir.path())
            .args(args)
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .output()
            .expect("runs");
        let all = [out.stdout, out.stderr].concat();
        all.contains(&0x1b)
    };
    for cmd in [&["validate"][..], &["check", "--no-schema"][..]] {
        let with = |extra: &[&'static str]| [cmd, extra].concat();
        assert!(!escape(cmd, &[]), "{cmd:?}: piped, no colour");
        assert!(escape(&with(&["--color", "always"]), &[]), "{cmd:?}");
        assert!(
            !escape(&with(&["--color", "never"]), &[("CLICOLOR_FORCE", "1")]),
            "{cmd:?}"
        );
        assert!(escape(cmd, &[("CLICOLOR_FORCE", "1")]), "{cmd:?}");
        assert!(!escape(cmd, &[("CLICOLOR_FORCE", "0")]), "{cmd:?}");
        assert!(
            !escape(cmd, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]),
            "{cmd:?}: NO_COLOR wins"
        );
        assert!(
            escape(&with(&["--color", "always"]), &[("NO_COLOR", "1")]),
            "{cmd:?}: the flag wins"
        );
    }
}

/// `-q` leaves only problems: `generate` and a clean `check` print nothing, a drifting `check`
/// still prints its finding.
#[test]
fn quiet_prints_problems_only() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let (code, stdout, stderr) = run(dir.path(), &["-q", "generate"]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
    let (code, stdout, stderr) = run(dir.path(), &["check", "--quiet"]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
    std::fs::remove_file(dir.path().join("generated/validate-demo.sh")).expect("rm");
    let (code, stdout, _) = run(dir.path(), &["check", "-q"]);
    assert!(
        code == 1 && stdout.contains("generated/validate-demo.sh is missing"),
        "{stdout}"
    );
}

/// `validate -` reads the spec from standard input and names it `<stdin>`.
#[test]
fn validate_reads_a_spec_from_standard_input() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let out = qmspec(dir.path())
        .args(["validate", "-"])
        .write_stdin(fixture("minimal.yaml").replace("name: demo", "name: Demo"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[<stdin>:2:7]") && stderr.contains("<stdin>: invalid (1 error"),
        "{stderr}"
    );
}

/// On a terminal, reports wrap to its width (a pseudo-terminal of 60 columns from `script`);
/// piped, to 100 columns.
#[test]
fn reports_wrap_to_the_terminal_width() {
    let dir =
        repo_with_spec(&fixture("minimal.yaml").replace("name: demo", "name: demo\ndescr: x"));
    let bin = assert_cmd::cargo::cargo_bin("qmspec");
    let line = format!("stty cols 60; {} --color never validate", bin.display());
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(dir.path())
        .env("TERM", "xterm")
        .output()
        .expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("qmspec::"), "{screen}");
    let widest = screen.lines().map(|l| l.trim_end().chars().count()).max();
    assert!(
        widest.is_some_and(|w| w <= 60),
        "wider than the terminal:\n{screen}"
    );
    let (_, _, piped) = run(dir.path(), &["validate"]);
    let widest = piped.lines().map(|l| l.chars().count()).max();
    assert!(widest.is_some_and(|w| w > 60 && w <= 100), "{piped}");
}

/// Shell completions come from the command definitions (bash's is checked by `bash -n`), and
/// the manual page passes `mandoc -T lint` without a warning.
#[test]
fn completions_and_the_manual_page_are_generated() {
    let dir = tempfile::tempdir().expect("tmp");
    for (shell, marker) in [
        ("bash", "complete -F _qmspec"),
        ("zsh", "#compdef qmspec"),
        ("fish", "complete -c qmspec"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[qmspec]"),
    ] {
        let (code, script, _) = run(dir.path(), &["completions", shell]);
        assert!(code == 0 && script.contains(marker), "{shell}: {script}");
        for sub in ["validate", "generate", "check", "lock", "init", "explain"] {
            assert!(script.contains(sub), "{shell} lacks {sub}");
        }
        if shell == "bash" {
            let path = dir.path().join("qmspec.bash");
            std::fs::write(&path, &script).expect("write");
            let out = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .expect("bash runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let (code, page, _) = run(dir.path(), &["man"]);
    assert!(code == 0 && page.contains(".TH qmspec 1"), "{page}");
    assert!(
        page.contains("qmspec\\-check(1)"),
        "the top page lists the commands' pages"
    );
    // The top page and each command's page it refers to, linted by mandoc.
    for command in [
        "",
        "validate",
        "generate",
        "check",
        "lock",
        "init",
        "explain",
        "completions",
        "man",
        "schema",
    ] {
        let args: Vec<&str> = ["man", command]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let (code, page, _) = run(dir.path(), &args);
        assert!(
            code == 0 && page.contains(".TH qmspec"),
            "{command}: {page}"
        );
        let path = dir.path().join("page.1");
        std::fs::write(&path, &page).expect("write");
        let out = std::process::Command::new(crate::support::referee("mandoc"))
            .args(["-T", "lint", "-W", "warning"])
            .arg(&path)
            .output()
            .expect("mandoc runs");
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "{command}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (code, _, stderr) = run(dir.path(), &["man", "nope"]);
    assert!(
        code == 2 && stderr.contains("qmspec has no command `nope`"),
        "{stderr}"
    );
}

/// What a hostile review of the first five minutes found, each held: nothing is written into
/// `.git` or over `qmspec.toml`, a root inside `.git` is refused, a hand-edited schema is not
/// replaced without `--force`, something that is not a file at the schema path is never
/// replaced, a `.git/config` FIFO does not hang `init`, a spec that lost its modeline stays a
/// spec, globs that would walk forever are refused.
#[test]
fn the_first_five_minutes_hold_against_hostile_repositories() {
    use crate::support::run_bounded;
    // Spec globs into `.git`, or onto qmspec's own files, are refused before anything runs.
    for glob in [
        ".git/hooks/*",
        ".GIT/*.yaml",
        "generated/.qmspec-manifest",
        "specs/-*.yaml",
    ] {
        let (_parent, dir) = empty_repo();
        std::fs::write(dir.join("qmspec.toml"), format!("specs = [\"{glob}\"]\n")).expect("w");
        let (code, _, stderr) = run_bounded(&dir, &["init", "--name", "pre-commit"]);
        assert!(
            code == 2 && stderr.contains("spec glob"),
            "{glob}: {stderr}"
        );
        assert!(!dir.join(".git/hooks/pre-commit").exists(), "{glob}");
    }
    let (_parent, dir) = empty_repo();
    std::fs::write(dir.join("qmspec.toml"), "specs = [\"**/**/**/*.yaml\"]\n").expect("w");
    let (code, _, stderr) = run_bounded(&dir, &["validate"]);
    assert!(
        code == 2 && stderr.contains("more than two `**`"),
        "{stderr}"
    );

    // A root inside `.git`.
    let (_parent, dir) = empty_repo();
    let (code, _, stderr) = run_bounded(&dir, &["--root", ".git", "init"]);
    assert!(code == 2 && stderr.contains("is inside `.git`"), "{stderr}");
    assert!(!dir.join(".git/specs").exists());

    // An output path onto qmspec.toml is an invalid spec, even with --force.
    let (_parent, dir) = empty_repo();
    assert_eq!(run(&dir, &["init", "--name", "a"]).0, 0);
    std::fs::write(dir.join("qmspec.toml"), "# mine\n").expect("w");
    let spec = std::fs::read_to_string(dir.join("specs/a.yaml")).expect("read");
    std::fs::write(
        dir.join("specs/a.yaml"),
        spec.replace(
            "dockerfile: generated/Dockerfile.a.arm64",
            "dockerfile: qmspec.toml",
        ),
    )
    .expect("w");
    let (code, _, stderr) = run_bounded(&dir, &["generate", "--force"]);
    assert!(code == 1 && stderr.contains("qmspec.toml"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("qmspec.toml")).expect("r"),
        "# mine\n"
    );

    // A hand edit of the schema keeps qmspec's `$id` but not its stamp: kept without --force.
    let (_parent, dir) = empty_repo();
    assert_eq!(run(&dir, &["init", "--name", "a"]).0, 0);
    assert_eq!(run(&dir, &["generate"]).0, 0);
    let schema = dir.join("schema/worker.schema.json");
    let edited = std::fs::read_to_string(&schema).expect("read").replacen(
        "\"type\": \"object\"",
        "\"type\": \"object\", \"title\": \"mine\"",
        1,
    );
    std::fs::write(&schema, &edited).expect("w");
    let (code, _, stderr) = run_bounded(&dir, &["generate"]);
    assert!(
        code == 1 && stderr.contains("qmspec::edited-by-hand"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&schema).expect("r"), edited);
    assert_eq!(run_bounded(&dir, &["generate", "--force"]).0, 0);
    assert_ne!(std::fs::read_to_string(&schema).expect("r"), edited);
    // Something that is not a file at the schema path: refused even with --force, and the
    // Dockerfiles the same run would have changed are not written either.
    std::fs::remove_file(&schema).expect("rm");
    std::fs::create_dir(&schema).expect("mkdir");
    std::fs::remove_file(dir.join("generated/Dockerfile.a.amd64")).expect("rm");
    let (code, _, stderr) = run_bounded(&dir, &["generate", "--force"]);
    assert!(
        code == 2 && stderr.contains("qmspec::not-a-file"),
        "{stderr}"
    );
    assert!(!dir.join("generated/Dockerfile.a.amd64").exists());

    // A FIFO for `.git/config`: `init` reads it like any repository file, without blocking.
    let (_parent, dir) = empty_repo();
    std::fs::remove_file(dir.join(".git/config")).expect("rm");
    let fifo = std::process::Command::new("mkfifo")
        .arg(dir.join(".git/config"))
        .status()
        .expect("mkfifo");
    assert!(fifo.success());
    let (code, _, stderr) = run_bounded(&dir, &["init", "--name", "a"]);
    assert_eq!(code, 0, "{stderr}");

    // A spec qmspec generated from, whose modeline a licence header pushed down: still a spec.
    let (_parent, dir) = empty_repo();
    assert_eq!(run(&dir, &["init", "--name", "a"]).0, 0);
    assert_eq!(run(&dir, &["init", "--name", "b"]).0, 0);
    assert_eq!(run(&dir, &["generate"]).0, 0);
    let spec = std::fs::read_to_string(dir.join("specs/b.yaml")).expect("read");
    std::fs::write(
        dir.join("specs/b.yaml"),
        format!("{}{spec}", "# Licence.\n".repeat(12)),
    )
    .expect("w");
    let (code, stdout, stderr) = run_bounded(&dir, &["check"]);
    assert!(
        code == 0
            && stdout.contains("up to date")
            && stderr.contains("specs/b.yaml has no `# yaml-language-server"),
        "{stdout}{stderr}"
    );
    let (_, explained, _) = run_bounded(&dir, &["explain", "--format", "json"]);
    assert!(explained.contains("specs/b.yaml"), "{explained}");
}

/// `init --from` on hostile Dockerfiles: a non-ASCII release name, variables that double on
/// every line, ARGs built from ARGs, `FROM scratch`, a ppc64le file, escapes in the notes.
#[test]
fn init_from_holds_against_hostile_dockerfiles() {
    use crate::support::run_bounded;
    let draft = |name: &str, text: &str| {
        let (_parent, dir) = empty_repo();
        std::fs::write(dir.join(name), text).expect("w");
        let result = run_bounded(&dir, &["init", "--name", "x", "--from", name]);
        (result, _parent, dir)
    };
    let ((code, _, stderr), _p, dir) = draft(
        "Dockerfile",
        "FROM debian:12\nRUN wget https://example.org/\u{e4}-1.0.tar.gz && tar xzf \u{e4}-1.0.tar.gz\n",
    );
    assert!(code == 0 || code == 1, "{stderr}");
    assert!(dir.join("specs/x.yaml").exists(), "{stderr}");
    let mut doubling = String::from("FROM debian:12\nENV A0=xx\n");
    for i in 1..=40 {
        doubling.push_str(&format!("ENV A{i}=$A{}$A{}\n", i - 1, i - 1));
    }
    let ((code, _, stderr), _p, _d) = draft("Dockerfile", &doubling);
    assert!(code == 0 || code == 1, "bounded, not killed: {stderr}");
    let ((code, _, stderr), _p, dir) = draft(
        "Dockerfile",
        "ARG V=12\nARG T=${V}-slim\nFROM debian:$T\nCMD [\"true\"]\n",
    );
    assert_eq!(code, 0, "{stderr}");
    let spec = std::fs::read_to_string(dir.join("specs/x.yaml")).expect("spec");
    assert!(spec.contains("tag: \"12-slim\""), "{spec}");
    let ((code, _, stderr), _p, _d) = draft("Dockerfile", "FROM scratch\nCOPY x /x\n");
    assert!(code == 2 && stderr.contains("not `scratch`"), "{stderr}");
    let ((code, _, stderr), _p, dir) =
        draft("Dockerfile.ppc64le", "FROM debian:12\nCMD [\"true\"]\n");
    assert_eq!(code, 0, "{stderr}");
    let spec = std::fs::read_to_string(dir.join("specs/x.yaml")).expect("spec");
    assert!(
        spec.contains("  ppc64le:") && !spec.contains("  amd64:"),
        "{spec}"
    );
    let ((_, _, stderr), _p, _d) = draft(
        "Dockerfile",
        "FROM debian:12\nLABEL \"a\u{1b}]0;PWN\u{7}\"=v\nUSER \u{1b}[31mroot\nCMD [\"true\"]\n",
    );
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
}

/// `validate` works through many specs on every core and prints their reports in spec order
/// as they are ready (a report longer than its buffer is written out as it grows); a report
/// that cannot be written is exit 2.
#[test]
fn validate_streams_many_specs_in_order() {
    let dir = repo_with_spec(&fixture("minimal.yaml"));
    let text = crate::support::marked(&fixture("minimal.yaml").replace(
        "sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        "sha256: unverified\n        unverified-reason: a warning for every spec",
    ));
    for i in 0..2000 {
        std::fs::write(dir.path().join(format!("specs/s{i:04}.yaml")), &text).expect("write");
    }
    let (code, _, stderr) = run(dir.path(), &["validate"]);
    assert_eq!(code, 0);
    let summaries: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("specs/") && l.contains(": valid ("))
        .collect();
    assert_eq!(
        summaries.len(),
        2001,
        "{}",
        &stderr[..2000.min(stderr.len())]
    );
    let mut sorted = summaries.clone();
    sorted.sort_unstable();
    assert_eq!(summaries, sorted, "reports in spec order");
    assert!(
        stderr.len() > 1 << 20,
        "long enough to stream: {} bytes",
        stderr.len()
    );
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("qmspec"))
        .arg("validate")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stderr(full)
        .status()
        .expect("runs");
    assert_eq!(status.code(), Some(2));
}
