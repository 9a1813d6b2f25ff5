//! Property: for random *valid* specs built from the model's pieces, validation passes,
//! rendering twice is byte-identical, and `generate` followed by `check` finds nothing.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Text a person might put in a label or an environment value: quotes, backslashes, `$`,
/// braces, non-ASCII, spaces. (`$` is doubled in env values, where it means a variable
/// reference; `${{` is refused by validation, see `hostile.rs`.)
fn free_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,20}".prop_map(|s| s.replace("${{", "$ {{")),
        "[a-z \u{e9}\u{fc}\u{2713}\u{540d}\"'\\\\]{0,12}",
        Just("$(id -u) `id` ; rm -rf /".to_string()),
    ]
}

#[derive(Debug, Clone)]
enum Kind {
    Apt,
    Pip,
    Commands(String),
    BaseImage,
    Archive,
    None,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Apt),
        Just(Kind::Pip),
        "[a-z0-9][a-z0-9 ./_-]{0,20}".prop_map(Kind::Commands),
        Just(Kind::BaseImage),
        Just(Kind::Archive),
        Just(Kind::None),
    ]
}

#[derive(Debug, Clone)]
struct Tool {
    version: String,
    check: bool,
    amd64: Kind,
    arm64: Kind,
}

fn tool() -> impl Strategy<Value = Tool> {
    ("[0-9]\\.[0-9]{1,2}\\.[0-9]", any::<bool>(), kind(), kind()).prop_map(
        |(version, check, amd64, arm64)| Tool {
            version,
            check,
            amd64,
            arm64,
        },
    )
}

#[derive(Debug, Clone)]
struct Spec {
    name: String,
    owner: String,
    arm64: bool,
    emulate_arm64: bool,
    labels: Vec<String>,
    env: Vec<(String, String)>,
    tools: Vec<Tool>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        "[a-z][a-z0-9]{0,7}",
        "[a-z][a-z0-9]{0,7}",
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(free_text(), 0..3),
        prop::collection::vec(("[A-Z][A-Z0-9_]{0,6}", free_text()), 0..3),
        prop::collection::vec(tool(), 0..4),
    )
        .prop_map(
            |(name, owner, arm64, emulate_arm64, labels, env, tools)| Spec {
                name,
                owner,
                arm64,
                emulate_arm64,
                labels,
                env,
                tools,
            },
        )
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string is JSON")
}

const DIGEST: &str = "sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2";

fn source(out: &mut String, arch: &str, i: usize, kind: &Kind) {
    let triple = if arch == "amd64" { "x86_64" } else { "aarch64" };
    let _ = match kind {
        Kind::Apt => writeln!(out, "      {arch}: {{ kind: apt, packages: [pkg{i}] }}"),
        Kind::Pip => writeln!(
            out,
            "      {arch}: {{ kind: pip, via: system, prefix: /opt/t{i} }}"
        ),
        Kind::Commands(run) => writeln!(
            out,
            "      {arch}: {{ kind: commands, run: [{}] }}",
            q(run.trim())
        ),
        Kind::BaseImage => writeln!(out, "      {arch}: {{ kind: base-image }}"),
        Kind::Archive => writeln!(
            out,
            "      {arch}: {{ kind: archive, url: \"https://example.org/t{i}-{{{{version}}}}-{triple}.tar.gz\", sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, dest: /opt/t{i} }}"
        ),
        Kind::None => writeln!(
            out,
            "      {arch}: {{ kind: none, reason: not needed on {arch} }}"
        ),
    };
}

/// The spec as YAML text.
fn text(s: &Spec) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "name: {}\nowner: {}", s.name, s.owner);
    if s.arm64 && s.emulate_arm64 {
        let _ = writeln!(
            out,
            "dockerfiles: both\nmulti-arch-dockerfile: generated/Dockerfile.{}",
            s.name
        );
    }
    let _ = writeln!(
        out,
        "validation-script: generated/validate-{}.sh\nplatforms:",
        s.name
    );
    let _ = writeln!(
        out,
        "  amd64:\n    base: {{ image: debian, tag: bookworm-slim, digest: \"{DIGEST}\", provides: [wget, python3, ca-certificates] }}\n    runner: ubuntu-latest\n    dockerfile: generated/Dockerfile.{}.amd64",
        s.name
    );
    if s.arm64 {
        let (runner, emulation) = if s.emulate_arm64 {
            ("ubuntu-latest", "\n    emulation: qemu")
        } else {
            ("ubuntu-24.04-arm", "")
        };
        let _ = writeln!(
            out,
            "  arm64:\n    base: {{ image: debian, tag: bookworm-slim, digest: \"{DIGEST}\", provides: [wget, python3, ca-certificates] }}\n    runner: {runner}{emulation}\n    dockerfile: generated/Dockerfile.{}.arm64",
            s.name
        );
    }
    if !s.labels.is_empty() {
        let _ = writeln!(out, "labels:");
        for (i, l) in s.labels.iter().enumerate() {
            let _ = writeln!(out, "  org.example.l{i}: {}", q(l));
        }
    }
    if !s.env.is_empty() {
        let _ = writeln!(out, "env:");
        let mut seen = std::collections::BTreeSet::new();
        for (k, v) in &s.env {
            if seen.insert(k) {
                let _ = writeln!(out, "  {k}: {}", q(&v.replace('$', "$$")));
            }
        }
    }
    let _ = writeln!(out, "tools:{}", if s.tools.is_empty() { " []" } else { "" });
    for (i, t) in s.tools.iter().enumerate() {
        // A tool left out everywhere is an error; keep one real source.
        let amd64 = match (&t.amd64, s.arm64.then_some(&t.arm64)) {
            (Kind::None, None | Some(Kind::None)) => Kind::Apt,
            (k, _) => k.clone(),
        };
        let _ = writeln!(out, "  - name: t{i}\n    version: {}", q(&t.version));
        if t.check {
            let _ = writeln!(out, "    check: t{i} --version");
        }
        let _ = writeln!(out, "    sources:");
        source(&mut out, "amd64", i, &amd64);
        if s.arm64 {
            source(&mut out, "arm64", i, &t.arm64);
        }
    }
    let _ = writeln!(
        out,
        "app:\n  workdir: /app\n  python: {{ via: system, venv: /app/.venv }}\n  command: [python3, -m, app]\nci:\n  workflow: generated/publish-{}.yml",
        s.name
    );
    out
}

#[test]
fn random_valid_specs_generate_then_check_clean() {
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&spec(), |s| {
        let spec_text = text(&s);
        let loaded = qmspec::load::load(spec_text.as_bytes());
        prop_assert!(
            !loaded.has_errors(),
            "a spec built from valid pieces was refused:\n{spec_text}\n{:#?}",
            loaded.diagnostics
        );
        let model = loaded.spec.as_ref().expect("a valid spec has its model");
        let first = qmspec::render::render_spec(model, "specs/p.yaml").expect("renders");
        let again = qmspec::render::render_spec(model, "specs/p.yaml").expect("renders");
        prop_assert_eq!(first.len(), again.len());
        for (a, b) in first.iter().zip(&again) {
            prop_assert!(a.content == b.content, "{} differs between renders", a.path);
        }
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("specs")).expect("mkdir");
        std::fs::write(
            dir.path().join("specs/p.yaml"),
            crate::support::marked(&spec_text),
        )
        .expect("write");
        let specs = vec!["specs/p.yaml".to_string()];
        let repo = qmspec::repo::Repo::open(dir.path()).expect("repo");
        let plan = qmspec::output::plan(&repo, &specs, &[]).expect("plan");
        prop_assert!(plan.valid());
        qmspec::output::generate(
            &repo,
            &plan,
            false,
            std::time::Duration::from_secs(5),
            &mut || {},
            &mut |_| {},
        )
        .expect("generate");
        let (checks, drift) = qmspec::output::check(&repo, &specs, &[], None).expect("check");
        prop_assert!(drift.is_empty());
        for c in &checks {
            prop_assert!(c.invalid.is_none());
            prop_assert!(
                c.drift.is_empty(),
                "check after generate is not clean:\n{spec_text}\n{:?}",
                c.drift.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>()
            );
            // Its own files, and the workflow it shares with the repository's other specs.
            prop_assert_eq!(c.files, first.len() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
