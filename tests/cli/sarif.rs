//! `--format sarif`, judged by Microsoft's SARIF multitool with GitHub's ingestion rules
//! (`--rule-kind "Ghas;Sarif"`) and by check-jsonschema against the SARIF 2.1.0 schema the
//! multitool ships: zero errors and zero warnings, on every diagnostic code qmspec can raise.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{copy_of_project, qmspec, referees, root, run_referee};

/// The multitool's native binary. Not its `node_modules/.bin` wrapper: that runs the binary
/// through a shell, where the `;` of `Ghas;Sarif` ends the command.
fn multitool() -> PathBuf {
    let bin = referees().join("node/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
    assert!(
        bin.exists(),
        "the SARIF multitool is not installed: run `bash tests/setup.sh`"
    );
    bin
}

/// The rules run except SARIF2006, which sends an HTTP GET to every URI in the log.
const OFFLINE_CONFIG: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Properties>
  <Properties Key="SARIF2006.UrisShouldBeReachable.Options">
    <Property Key="RuleEnabled" Value="Disabled" Type="Driver.RuleEnabledState" />
  </Properties>
</Properties>
"#;

/// The errors and warnings both referees find in one SARIF log, as lines; empty when valid.
fn judge(sarif: &str, name: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join(format!("{name}.sarif"));
    std::fs::write(&log, sarif).expect("write log");
    let config = dir.path().join("offline.xml");
    std::fs::write(&config, OFFLINE_CONFIG).expect("write config");
    let mut problems = Vec::new();

    // The schema first: a value the multitool cannot deserialize (an unknown `level`, say)
    // makes it report nothing at all.
    let schema = multitool().with_file_name("sarif-2.1.0.json");
    let (ok, out) = run_referee(
        "check-jsonschema",
        &[
            "--schemafile",
            schema.to_str().expect("utf8"),
            log.to_str().expect("utf8"),
        ],
        dir.path(),
    );
    if !ok {
        problems.push(format!("check-jsonschema: {out}"));
    }

    let verdict = dir.path().join("verdict.sarif");
    let out = Command::new(multitool())
        .args([
            "validate",
            "--rule-kind",
            "Ghas;Sarif",
            "--log",
            "ForceOverwrite",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--output")
        .arg(&verdict)
        .arg(&log)
        // The multitool is .NET: without libicu it aborts unless globalization is invariant.
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .output()
        .expect("the SARIF multitool runs");
    // Exit 0 even when it finds errors; non-zero only when it could not run.
    assert!(
        out.status.success(),
        "the multitool failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&verdict).expect("verdict")).expect("JSON");
    let run = &verdict["runs"][0];
    assert_eq!(
        run["invocations"][0]["executionSuccessful"], true,
        "the multitool did not finish: {run}"
    );
    for r in run["results"].as_array().into_iter().flatten() {
        // SARIF's default level is `warning`; notes (suggestions) are not counted.
        let level = r["level"].as_str().unwrap_or("warning");
        if level == "error" || level == "warning" {
            let args = &r["message"]["arguments"];
            problems.push(format!(
                "{level} {}: {} {args}",
                r["ruleId"], r["message"]["id"]
            ));
        }
    }
    problems
}

fn sarif_of(dir: &Path, args: &[&str]) -> String {
    let out = qmspec(dir).args(args).output().expect("qmspec runs");
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("SARIF is UTF-8")
}

#[test]
fn sarif_passes_githubs_ingestion_rules_for_every_code() {
    // Every fixture at once: a rule per code a spec can raise, and a result per diagnostic.
    let mut fixtures: Vec<String> = std::fs::read_dir(root().join("tests/fixtures/validate"))
        .expect("fixtures")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            p.strip_prefix(root())
                .expect("under root")
                .display()
                .to_string()
        })
        .collect();
    fixtures.sort();
    let mut args = vec!["validate", "--format", "sarif"];
    args.extend(fixtures.iter().map(String::as_str));
    let problems = judge(&sarif_of(&root(), &args), "fixtures");
    assert!(problems.is_empty(), "{problems:#?}");

    // The bundled specs (warnings only), and a clean spec (no rules, no results).
    let problems = judge(
        &sarif_of(&root(), &["validate", "--format", "sarif"]),
        "bundled",
    );
    assert!(problems.is_empty(), "{problems:#?}");
    let args = [
        "validate",
        "--format",
        "sarif",
        "tests/fixtures/minimal.yaml",
    ];
    let problems = judge(&sarif_of(&root(), &args), "clean");
    assert!(problems.is_empty(), "{problems:#?}");

    // `check`: findings on files, without a span.
    let dir = copy_of_project();
    std::fs::remove_file(dir.path().join("generated/validate-worker.sh")).expect("rm");
    let edited = dir.path().join("generated/Dockerfile.worker.amd64");
    let text = std::fs::read_to_string(&edited).expect("read");
    std::fs::write(&edited, text + "# edited by hand, 100%: a,b\n").expect("edit");
    let problems = judge(
        &sarif_of(dir.path(), &["check", "--format", "sarif"]),
        "check",
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_multitool_finds_what_github_rejects() {
    // The verdict means something: a rule without `fullDescription` is an error (GH2012).
    let sarif = r#"{"$schema":"https://json.schemastore.org/sarif-2.1.0.json","version":"2.1.0",
      "runs":[{"tool":{"driver":{"name":"qmspec","rules":[{"id":"qmspec::x",
      "shortDescription":{"text":"x"},"help":{"text":"x"}}]}},"results":[{"ruleId":"qmspec::x",
      "level":"error","message":{"text":"x"},"locations":[{"physicalLocation":{"artifactLocation":
      {"uri":"specs/a.yaml"},"region":{"startLine":3,"startColumn":9,"endLine":1,"endColumn":1}}}]}]}]}"#;
    let problems = judge(sarif, "bad");
    assert!(
        problems.iter().any(|p| p.contains("GH2012")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("SARIF1007")),
        "{problems:#?}"
    );
}
