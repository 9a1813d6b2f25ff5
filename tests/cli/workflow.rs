//! The generated workflow, and qmspec's own release workflow: actionlint (with ShellCheck),
//! zizmor and check-jsonschema give zero findings; the job graph matches the spec; every pin is
//! a full SHA with its version.

use serde_json::Value;

use crate::support::{fixture, qmspec, repo_with_spec, root, run_referee};

/// The workflow as JSON, parsed by PyYAML (an independent parser).
fn load(path: &std::path::Path) -> Value {
    let code = "import json,sys,yaml\nd=yaml.safe_load(open(sys.argv[1]))\nif True in d: d['on']=d.pop(True)\njson.dump(d,sys.stdout)";
    let (ok, out) = run_referee(
        "python3",
        &["-c", code, path.to_str().expect("utf8")],
        &root(),
    );
    assert!(ok, "PyYAML cannot parse {}: {out}", path.display());
    serde_json::from_str(&out).expect("json")
}

/// A scratch repository with the two publish fixtures (a native image on GHCR and Docker Hub
/// with attestations and signing; a QEMU image under the repository owner without them), which
/// share one workflow.
fn publish_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("specs")).expect("specs");
    for name in ["native", "emulated"] {
        let text =
            std::fs::read_to_string(root().join(format!("tests/fixtures/publish/{name}.yaml")))
                .expect("read");
        std::fs::write(
            dir.path().join(format!("specs/{name}.yaml")),
            crate::support::marked(&text),
        )
        .expect("write");
    }
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    dir
}

/// The bundled workflow, both strategies of the all-kinds fixture (scratch dirs kept alive) and
/// `.github/workflows/release.yml`.
fn workflows() -> (Vec<tempfile::TempDir>, Vec<std::path::PathBuf>) {
    let qemu =
        repo_with_spec(&fixture("all-kinds.yaml").replace("strategy: native", "strategy: qemu"));
    qmspec(qemu.path()).args(["generate"]).assert().code(0);
    let native = repo_with_spec(&fixture("all-kinds.yaml"));
    qmspec(native.path()).args(["generate"]).assert().code(0);
    let publish = publish_fixture();
    let paths = vec![
        root().join("generated/publish-images.yml"),
        qemu.path().join("generated/publish-all.yml"),
        native.path().join("generated/publish-all.yml"),
        publish.path().join("generated/publish-images.yml"),
        // qmspec's own release workflow, kept by hand, is held to the same referees.
        root().join(".github/workflows/release.yml"),
    ];
    (vec![qemu, native, publish], paths)
}

#[test]
fn actionlint_reports_nothing() {
    let (_dirs, files) = workflows();
    for wf in files {
        let (ok, out) = run_referee(
            "actionlint",
            &["-color=false", wf.to_str().expect("utf8")],
            &root(),
        );
        assert!(ok && out.trim().is_empty(), "{}:\n{out}", wf.display());
    }
}

#[test]
fn actionlint_runs_shellcheck_on_run_scripts() {
    // The verdict above includes ShellCheck only if actionlint finds it: prove it does.
    let dir = tempfile::tempdir().expect("tmp");
    let wf = dir.path().join("bad.yml");
    std::fs::write(
        &wf,
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo $FOO\n",
    )
    .expect("write");
    let (ok, out) = run_referee(
        "actionlint",
        &["-color=false", wf.to_str().expect("utf8")],
        &root(),
    );
    assert!(!ok && out.contains("SC2086"), "{out}");
}

#[test]
fn zizmor_reports_nothing() {
    let (_dirs, files) = workflows();
    for wf in files {
        // The default persona, and the auditor's, which reports what the default one hides.
        for persona in ["regular", "auditor"] {
            let (ok, out) = run_referee(
                "zizmor",
                &[
                    "--offline",
                    "--no-progress",
                    "--persona",
                    persona,
                    wf.to_str().expect("utf8"),
                ],
                &root(),
            );
            assert!(
                ok && out.contains("No findings to report"),
                "{} ({persona}):\n{out}",
                wf.display()
            );
        }
    }
}

#[test]
fn zizmor_does_judge() {
    let dir = tempfile::tempdir().expect("tmp");
    let wf = dir.path().join("bad.yml");
    std::fs::write(
        &wf,
        "on: push\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: echo ${{ github.event.head_commit.message }}\n",
    )
    .expect("write");
    let (ok, out) = run_referee(
        "zizmor",
        &["--offline", "--no-progress", wf.to_str().expect("utf8")],
        &root(),
    );
    assert!(
        !ok && out.contains("unpinned-uses") && out.contains("template-injection"),
        "{out}"
    );
}

#[test]
fn check_jsonschema_accepts_the_workflows() {
    let (_dirs, files) = workflows();
    for wf in files {
        let (ok, out) = run_referee(
            "check-jsonschema",
            &[
                "--builtin-schema",
                "vendor.github-workflows",
                wf.to_str().expect("utf8"),
            ],
            &root(),
        );
        assert!(ok, "{}:\n{out}", wf.display());
    }
}

fn steps_using<'a>(job: &'a Value, action: &str) -> Vec<&'a Value> {
    job["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with(&format!("{action}@")))
        })
        .collect()
}

#[test]
fn the_job_graph_matches_the_spec() {
    let wf = load(&root().join("generated/publish-images.yml"));
    assert_eq!(wf["on"]["push"]["tags"], serde_json::json!(["v*"]));
    assert!(wf["on"].get("workflow_dispatch").is_some());
    assert_eq!(wf["permissions"], serde_json::json!({}));
    let jobs = wf["jobs"].as_object().expect("jobs");

    // One set of jobs per spec: the worker's and the API's, from generated Dockerfiles.
    let mut ids: Vec<&str> = jobs.keys().map(String::as_str).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "attest-qm-nmr-calc-api",
            "attest-qm-nmr-calc-worker",
            "build-qm-nmr-calc-api",
            "build-qm-nmr-calc-worker",
            "changes",
            "check-qm-nmr-calc-api",
            "check-qm-nmr-calc-worker",
            "checks",
            "merge-qm-nmr-calc-api",
            "merge-qm-nmr-calc-worker",
            "test-qm-nmr-calc-api",
            "test-qm-nmr-calc-worker",
        ]
    );
    let build = &jobs["build-qm-nmr-calc-worker"];
    let matrix = build["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix");
    let rows: Vec<(String, String, String)> = matrix
        .iter()
        .map(|m| {
            (
                m["platform"].as_str().expect("platform").to_string(),
                m["runner"].as_str().expect("runner").to_string(),
                m["dockerfile"].as_str().expect("dockerfile").to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "linux/amd64".into(),
                "ubuntu-latest".into(),
                "generated/Dockerfile.worker.amd64".into()
            ),
            (
                "linux/arm64".into(),
                "ubuntu-24.04-arm".into(),
                "generated/Dockerfile.worker.arm64".into()
            ),
        ]
    );
    assert_eq!(build["runs-on"], "${{ matrix.runner }}");
    assert_eq!(
        build["permissions"],
        serde_json::json!({"contents": "read", "packages": "write"})
    );
    let push = steps_using(build, "docker/build-push-action");
    let with = &push[0]["with"];
    assert_eq!(with["file"], "${{ matrix.dockerfile }}");
    assert!(
        with["outputs"]
            .as_str()
            .expect("outputs")
            .contains("push-by-digest=true,name-canonical=true,push=true")
    );
    assert_eq!(
        with["cache-from"],
        "type=gha,scope=qm-nmr-calc-worker-${{ matrix.arch }}"
    );
    // Written from branch runs only: a cache written on a tag serves only that tag.
    assert_eq!(
        with["cache-to"],
        "${{ !startsWith(github.ref, 'refs/tags/') && format('type=gha,scope=qm-nmr-calc-worker-{0},mode=max', matrix.arch) || '' }}"
    );
    let upload = &steps_using(build, "actions/upload-artifact")[0]["with"];
    assert_eq!(
        upload["name"],
        "digests-qm-nmr-calc-worker--${{ matrix.arch }}"
    );
    assert_eq!(upload["if-no-files-found"], "error");
    assert_eq!(upload["retention-days"], 1);
    let checkout = &steps_using(build, "actions/checkout")[0]["with"];
    assert_eq!(checkout["persist-credentials"], false);

    let test = &jobs["test-qm-nmr-calc-worker"];
    assert_eq!(test["needs"], "build-qm-nmr-calc-worker");
    let test_rows: Vec<&str> = test["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|m| m["platform"].as_str().expect("p"))
        .collect();
    assert_eq!(test_rows, vec!["linux/amd64", "linux/arm64"]);
    let run_test = test["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains("docker run")))
        .expect("a step runs the image");
    assert_eq!(
        run_test["env"]["SCRIPT"],
        "/usr/local/bin/validate-worker.sh"
    );
    assert!(test["permissions"]["packages"] == "read");

    let merge = &jobs["merge-qm-nmr-calc-worker"];
    assert_eq!(
        merge["needs"],
        serde_json::json!(["build-qm-nmr-calc-worker", "test-qm-nmr-calc-worker"])
    );
    let download = &steps_using(merge, "actions/download-artifact")[0]["with"];
    assert_eq!(download["pattern"], "digests-qm-nmr-calc-worker--*");
    assert_eq!(download["merge-multiple"], true);
    let meta = &steps_using(merge, "docker/metadata-action")[0]["with"];
    assert_eq!(
        meta["tags"],
        "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=sha,enable=${{ github.event_name == 'workflow_dispatch' }}\n"
    );
    assert_eq!(meta["flavor"], "latest=auto");
    let scripts: String = merge["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(scripts.contains("docker buildx imagetools create"));
    assert!(scripts.contains("docker buildx imagetools inspect"));
    assert!(scripts.contains("for platform in linux/amd64 linux/arm64; do"));

    // The API image: native builds per platform from its generated Dockerfiles, tested with
    // its validation script, merged into its own tag.
    let api = &jobs["build-qm-nmr-calc-api"];
    let files: Vec<&str> = api["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|m| m["dockerfile"].as_str().expect("dockerfile"))
        .collect();
    assert_eq!(
        files,
        [
            "generated/Dockerfile.api.amd64",
            "generated/Dockerfile.api.arm64"
        ]
    );
    assert_eq!(api["env"]["IMAGE"], "ghcr.io/steinbeck/qm-nmr-calc-api");
    assert_eq!(
        jobs["test-qm-nmr-calc-api"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find_map(|s| s["env"]["SCRIPT"].as_str()),
        Some("/usr/local/bin/validate-api.sh")
    );
    assert_eq!(
        jobs["merge-qm-nmr-calc-api"]["env"]["IMAGE"],
        "ghcr.io/steinbeck/qm-nmr-calc-api"
    );
    assert!(
        !std::fs::read_to_string(root().join("generated/publish-images.yml"))
            .expect("read")
            .contains("Dockerfile.api\""),
        "no hand-kept Dockerfile is published"
    );

    // No expression is expanded inside a run: script.
    for job in jobs.values() {
        for step in job["steps"].as_array().expect("steps") {
            if let Some(run) = step["run"].as_str() {
                assert!(!run.contains("${{"), "expression in run: {run}");
            }
            if let Some(uses) = step["uses"].as_str() {
                let (_, sha) = uses.split_once('@').expect("pinned");
                assert!(
                    sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                    "{uses}"
                );
            }
        }
    }
}

/// Each `uses:` line of a workflow: the line, the action, its pin and its version comment.
fn uses_lines(text: &str) -> Vec<(&str, &str, &str, &str)> {
    text.lines()
        .filter(|l| l.trim_start().starts_with("uses:"))
        .map(|line| {
            let (action, rest) = line
                .trim_start()
                .trim_start_matches("uses: ")
                .split_once('@')
                .expect("pinned");
            let (sha, version) = rest.split_once(" # ").expect("version comment");
            (line, action, sha, version)
        })
        .collect()
}

#[test]
fn every_uses_line_carries_its_version() {
    let text = std::fs::read_to_string(root().join("generated/publish-images.yml")).expect("read");
    for (line, action, sha, version) in uses_lines(&text) {
        let known = qmspec::pins::KNOWN
            .iter()
            .find(|(a, _, _)| *a == action)
            .expect("a known action");
        assert_eq!((sha, version), (known.1, known.2), "{line}");
    }
}

#[test]
fn spec_pins_override_the_table() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let spec = fixture("minimal.yaml").replace(
        "ci:\n  workflow: generated/publish-demo.yml\n",
        &format!("ci:\n  workflow: generated/publish-demo.yml\n  pins:\n    actions/checkout: \"{sha} # v9.9.9\"\n"),
    );
    let dir = repo_with_spec(&spec);
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    let text =
        std::fs::read_to_string(dir.path().join("generated/publish-demo.yml")).expect("read");
    assert!(text.contains(&format!("actions/checkout@{sha} # v9.9.9")));
}

#[test]
fn a_malformed_pin_is_a_validation_error() {
    let spec = fixture("minimal.yaml").replace(
        "ci:\n  workflow: generated/publish-demo.yml\n",
        "ci:\n  workflow: generated/publish-demo.yml\n  pins:\n    actions/checkout: v4\n",
    );
    let dir = repo_with_spec(&spec);
    let out = qmspec(dir.path()).args(["validate"]).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("qmspec::invalid-value") && err.contains("ci.pins.actions/checkout"),
        "{err}"
    );
}

/// With only the multi-arch Dockerfile written, each native job builds it for its platform
/// (BuildKit picks the stage by TARGETARCH): the matrix names no file that is not generated.
#[test]
fn a_multi_arch_only_spec_builds_its_one_file_natively() {
    let spec = fixture("all-kinds.yaml").replace("dockerfiles: both", "dockerfiles: multi-arch");
    assert!(spec.contains("dockerfiles: multi-arch"));
    let dir = repo_with_spec(&spec);
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    let wf = load(&dir.path().join("generated/publish-all.yml"));
    let files: Vec<&str> = wf["jobs"]["build-all-kinds"]["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|m| m["dockerfile"].as_str().expect("dockerfile"))
        .collect();
    assert_eq!(
        files,
        ["generated/Dockerfile.all", "generated/Dockerfile.all"]
    );
    assert!(dir.path().join("generated/Dockerfile.all").exists());
    assert!(!dir.path().join("generated/Dockerfile.all.amd64").exists());
}

/// The job ids, `needs` and `if` of a workflow, and each job's permissions.
fn jobs(wf: &Value) -> &serde_json::Map<String, Value> {
    wf["jobs"].as_object().expect("jobs")
}

/// The publish pipeline of two images sharing one workflow: pull requests check what they
/// change with read-only jobs and no secret; publishing runs build, test, merge, then attest
/// and sign in the one job holding `id-token: write`; Docker Hub is logged in to by the
/// secrets the spec names; the QEMU image is tested per platform too.
#[test]
fn the_publish_pipeline_follows_the_specs() {
    let dir = publish_fixture();
    let path = dir.path().join("generated/publish-images.yml");
    let wf = load(&path);
    let text = std::fs::read_to_string(&path).expect("read");
    // Triggers.
    assert!(wf["on"].get("pull_request").is_some(), "{}", wf["on"]);
    assert_eq!(wf["on"]["push"]["tags"], serde_json::json!(["v*"]));
    assert_eq!(wf["on"]["push"]["branches"], serde_json::json!(["main"]));
    assert_eq!(
        wf["on"]["schedule"],
        serde_json::json!([{"cron": "0 4 * * 1"}])
    );
    assert!(wf["on"].get("workflow_dispatch").is_some());
    assert_eq!(wf["permissions"], serde_json::json!({}));
    // The job graph.
    let jobs = jobs(&wf);
    let graph: Vec<String> = jobs
        .iter()
        .map(|(id, job)| {
            let needs = match &job["needs"] {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            format!(
                "{id} <- [{needs}] if {}",
                job["if"].as_str().unwrap_or("(no condition)")
            )
        })
        .collect();
    insta::assert_snapshot!(graph.join("\n"), @"
    changes <- [] if github.event_name == 'pull_request'
    checks <- [changes, check-demo-api, check-demo-worker] if always() && github.event_name == 'pull_request'
    check-demo-api <- [changes] if needs.changes.outputs['demo-api'] == 'true'
    build-demo-api <- [] if github.event_name != 'pull_request'
    test-demo-api <- [build-demo-api] if (no condition)
    merge-demo-api <- [build-demo-api, test-demo-api] if (no condition)
    check-demo-worker <- [changes] if needs.changes.outputs['demo-worker'] == 'true'
    build-demo-worker <- [] if github.event_name != 'pull_request'
    test-demo-worker <- [build-demo-worker] if (no condition)
    merge-demo-worker <- [build-demo-worker, test-demo-worker] if (no condition)
    attest-demo-worker <- [merge-demo-worker] if (no condition)
    ");
    // Pull-request jobs: read-only, no secret, no login, nothing pushed.
    for (id, job) in jobs
        .iter()
        .filter(|(id, _)| id.starts_with("check-") || *id == "changes")
    {
        assert_eq!(
            job["permissions"],
            serde_json::json!({"contents": "read"}),
            "{id}"
        );
        let body = serde_json::to_string(job).expect("json");
        assert!(!body.contains("secrets."), "{id} reads a secret");
        assert!(!body.contains("docker/login-action"), "{id} logs in");
        assert!(
            !body.contains("push=true") && !body.contains("\"push\":true"),
            "{id} pushes: {body}"
        );
    }
    // Every write permission, by job.
    let writes: Vec<String> = jobs
        .iter()
        .filter_map(|(id, job)| {
            let w: Vec<&str> = job["permissions"]
                .as_object()
                .expect("permissions per job")
                .iter()
                .filter(|(_, v)| *v == "write")
                .map(|(k, _)| k.as_str())
                .collect();
            (!w.is_empty()).then(|| format!("{id}: {}", w.join(", ")))
        })
        .collect();
    insta::assert_snapshot!(writes.join("\n"), @"
    build-demo-api: packages
    merge-demo-api: packages
    build-demo-worker: packages
    merge-demo-worker: packages
    attest-demo-worker: packages, id-token, attestations
    ");
    // The paths each image is rebuilt for, derived from its spec.
    let affected: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("affected "))
        .collect();
    insta::assert_snapshot!(affected.join("\n"), @"
    affected demo-api .dockerignore README.md generated/Dockerfile.api generated/Dockerfile.api.dockerignore generated/publish-images.yml generated/validate-api.sh pyproject.toml specs/emulated.yaml uv.lock
    affected demo-worker .dockerignore README.md generated/Dockerfile.worker.amd64 generated/Dockerfile.worker.amd64.dockerignore generated/Dockerfile.worker.arm64 generated/Dockerfile.worker.arm64.dockerignore generated/publish-images.yml generated/validate-worker.sh pyproject.toml scripts/smoke.sh specs/native.yaml src
    ");
    // Docker Hub by the secrets the spec names; GHCR by the workflow's own token.
    assert!(
        text.contains("username: ${{ secrets.DOCKERHUB_USERNAME }}"),
        "{text}"
    );
    assert!(
        text.contains("password: ${{ secrets.DOCKERHUB_TOKEN }}"),
        "{text}"
    );
    // The QEMU image under the repository owner, lower-cased by the workflow.
    assert!(
        text.contains("IMAGE=${REGISTRY}/${OWNER,,}/demo-api"),
        "{text}"
    );
    // Attestation and signing name the merged digest, and only for the image asking for them.
    let attest = &jobs["attest-demo-worker"];
    assert_eq!(attest["needs"], "merge-demo-worker");
    assert!(jobs.get("attest-demo-api").is_none());
    let signed = serde_json::to_string(attest).expect("json");
    assert!(signed.contains("cosign sign --yes --recursive"), "{signed}");
    assert!(
        signed.contains("needs.merge-demo-worker.outputs.digest"),
        "{signed}"
    );
    // The merged digest from the JSON descriptor (`{{.Manifest.Digest}}` prints a table), after
    // a dry run proved every platform is there, before any tag moved.
    assert!(
        text.contains("--format '{{json .Manifest}}' | jq -r .digest"),
        "{text}"
    );
    let dry = text.find("imagetools create --dry-run").expect("a dry run");
    let create = text[dry + 10..].find("imagetools create ").expect("create") + dry + 10;
    let verify = text[dry..].find("is missing from").expect("verify") + dry;
    assert!(
        dry < verify && verify < create,
        "verify between dry run and create"
    );
    // Pull-request checks report through one job that fails unless every needed check passed.
    let checks = &jobs["checks"];
    assert_eq!(checks["permissions"], serde_json::json!({}));
    assert!(
        serde_json::to_string(checks)
            .expect("json")
            .contains("toJSON(needs)"),
        "{checks}"
    );
    // Releases move `latest` through metadata-action's own pre-release aware rule.
    let merge = &jobs["merge-demo-worker"];
    let meta = &steps_using(merge, "docker/metadata-action")[0]["with"];
    assert_eq!(meta["flavor"], "latest=auto");
    // Publishing jobs run in the deployment environment whose rules decide which refs publish.
    for id in [
        "build-demo-worker",
        "merge-demo-worker",
        "attest-demo-worker",
        "build-demo-api",
    ] {
        assert_eq!(jobs[id]["environment"], "publish", "{id}");
    }
    // A QEMU-built image is tested on each platform before its tags move.
    let test_api = &jobs["test-demo-api"];
    let rows = test_api["strategy"]["matrix"]["include"]
        .as_array()
        .expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        jobs["merge-demo-api"]["needs"],
        serde_json::json!(["build-demo-api", "test-demo-api"])
    );
}

/// `qmspec explain` describes the CI jobs from the specs, and the workflow template builds
/// them: the two must name the same jobs, with the same `needs` and the same runners per
/// platform, for the bundled specs and both publish fixtures (native and QEMU).
#[test]
fn explain_names_the_jobs_the_workflow_has() {
    let fixture_dir = publish_fixture();
    let cases = [
        (root(), "specs/worker.yaml", "generated/publish-images.yml"),
        (root(), "specs/api.yaml", "generated/publish-images.yml"),
        (fixture_dir.path().to_path_buf(), "specs/native.yaml", ""),
        (fixture_dir.path().to_path_buf(), "specs/emulated.yaml", ""),
    ];
    for (dir, spec, _) in cases {
        let out = qmspec(&dir)
            .args(["explain", "--format", "json", spec])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let explained: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let ci = &explained[0]["ci"];
        let wf = load(&dir.join(ci["workflow"].as_str().expect("workflow path")));
        let jobs = jobs(&wf);
        for job in ci["jobs"].as_array().expect("jobs") {
            let id = job["id"].as_str().expect("id");
            let real = jobs
                .get(id)
                .unwrap_or_else(|| panic!("{spec}: no job {id} in the workflow"));
            let mut needs: Vec<&str> = match &real["needs"] {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let mut said: Vec<&str> = job["needs"]
                .as_array()
                .expect("needs")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            // A shared job needs every image's jobs; explain names this spec's.
            if job["shared"] == true {
                needs.retain(|n| said.contains(n));
            }
            needs.sort_unstable();
            said.sort_unstable();
            assert_eq!(needs, said, "{spec}: needs of {id}");
            // Runners: the matrix's per platform, or the job's own.
            let runners: Vec<String> = match real["strategy"]["matrix"]["include"].as_array() {
                Some(rows) => rows
                    .iter()
                    .map(|r| r["runner"].as_str().expect("runner").to_string())
                    .collect(),
                None => vec![real["runs-on"].as_str().expect("runs-on").to_string()],
            };
            let said_runners: Vec<String> = job["runs"]
                .as_array()
                .expect("runs")
                .iter()
                .map(|r| r["runner"].as_str().expect("runner").to_string())
                .collect();
            assert_eq!(runners, said_runners, "{spec}: runners of {id}");
        }
        // And no job of this image that explain leaves out.
        let name = explained[0]["name"].as_str().expect("name");
        let said: Vec<&str> = ci["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .filter_map(|j| j["id"].as_str())
            .collect();
        for id in jobs.keys().filter(|k| k.ends_with(&format!("-{name}"))) {
            assert!(
                said.contains(&id.as_str()),
                "{spec}: explain leaves out {id}"
            );
        }
        assert!(said.len() >= 4, "{spec}: {said:?}");
    }
}

/// The release workflow pins every action to a full commit SHA with its version, and an action
/// the generated workflows also use to the very pin qmspec's table gives them.
#[test]
fn the_release_workflow_pins_every_action() {
    let text = std::fs::read_to_string(root().join(".github/workflows/release.yml")).expect("read");
    let uses = uses_lines(&text);
    for &(line, action, sha, version) in &uses {
        assert!(
            sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
            "{line}"
        );
        assert!(
            version.starts_with('v') && version[1..].split('.').count() == 3,
            "{line}"
        );
        if let Some(known) = qmspec::pins::KNOWN.iter().find(|(a, _, _)| *a == action) {
            assert_eq!((sha, version), (known.1, known.2), "{line}");
        }
    }
    assert!(uses.len() >= 6, "{} uses lines", uses.len());
}
