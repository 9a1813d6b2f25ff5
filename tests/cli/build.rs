//! Real image builds: a generated Dockerfile built with buildah on a debootstrapped Debian base,
//! its validation script run inside the image with podman, for amd64 and (QEMU) arm64.
//! The base images come from `tests/setup.sh`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::support::{qmspec, referees, which};

/// A tiny HTTP server on 127.0.0.1 serving release archives; its files can be swapped.
struct Server {
    port: u16,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("addr").port();
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let shared = Arc::clone(&files);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = shared.lock().expect("lock").get(&path).cloned();
                let _ = match body {
                    Some(b) => stream
                        .write_all(
                            format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", b.len())
                                .as_bytes(),
                        )
                        .and_then(|()| stream.write_all(&b)),
                    None => {
                        stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    }
                };
            }
        });
        Server { port, files }
    }

    fn serve(&self, path: &str, body: Vec<u8>) {
        self.files
            .lock()
            .expect("lock")
            .insert(path.to_string(), body);
    }
}

/// A gzipped tarball `hello-1.0.0/bin/hello` whose script prints `greeting`.
fn hello_archive(dir: &Path, greeting: &str) -> Vec<u8> {
    let src = dir.join("src/hello-1.0.0/bin");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(
        src.join("hello"),
        format!("#!/bin/sh\necho \"{greeting}\"\n"),
    )
    .expect("write");
    let out = dir.join("hello.tar.gz");
    let status = Command::new("tar")
        .args([
            "-C",
            dir.join("src").to_str().expect("utf8"),
            "-czf",
            out.to_str().expect("utf8"),
            "hello-1.0.0",
        ])
        .status()
        .expect("tar");
    assert!(status.success());
    std::fs::read(out).expect("read archive")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The spec of the end-to-end image: apt packages, a release archive from 127.0.0.1, a pip
/// tool, an app, and env/label values that only survive exact quoting.
fn spec(port: u16, sha: &str) -> String {
    format!(
        r#"name: e2e
owner: example
labels:
  org.example.tricky: "quotes \" back\\slash $HOME {{{{braces}}}} ünï"
dockerfiles: both
multi-arch-dockerfile: generated/Dockerfile.e2e
validation-script: generated/validate-e2e.sh
platforms:
  amd64:
    base: {{ image: localhost/qmspec-debian, tag: bookworm-amd64, unpinned-reason: made by the test set-up }}
    runner: ubuntu-latest
    dockerfile: generated/Dockerfile.e2e.amd64
  arm64:
    base: {{ image: localhost/qmspec-debian, tag: bookworm-arm64, unpinned-reason: made by the test set-up }}
    runner: ubuntu-24.04-arm
    dockerfile: generated/Dockerfile.e2e.arm64
apt:
  packages: [ca-certificates, python3-venv, wget]
  unpinned-reason: the test base image is a fresh debootstrap
env:
  TOP: /opt/top
  LIB: ${{TOP}}/lib
  TRICKY: "a \"quoted\" back\\slash $$5 ünï"
platform-env:
  arm64: {{ THREADS: "1" }}
tools:
  - name: hello
    version: 1.0.0
    check: hello --version
    path: [/opt/hello/bin]
    sources:
      amd64: {{ kind: archive, url: "http://127.0.0.1:{port}/hello-{{{{version}}}}-linux-x86_64.tar.gz", sha256: {sha}, strip-components: 1, dest: /opt/hello, executables: [bin/hello] }}
      arm64: {{ kind: archive, url: "http://127.0.0.1:{port}/hello-{{{{version}}}}-linux-aarch64.tar.gz", sha256: {sha}, strip-components: 1, dest: /opt/hello, executables: [bin/hello] }}
  - name: pyflakes
    version: 3.2.0
    check: pyflakes --version
    sources:
      amd64: {{ kind: pip, via: system, prefix: /opt/pyflakes }}
      arm64: {{ kind: pip, via: system, prefix: /opt/pyflakes }}
app:
  workdir: /app
  python: {{ via: system, venv: /app/.venv, install: {{ with: pip, files: [pyproject.toml, README.md] }} }}
  copy: [{{ from: app, to: /app/app }}]
  data-dirs: [/app/data]
  user: {{ name: e2e, uid: 10001 }}
  entrypoint: []
  command: [python3, -m, app]
  checks:
    - {{ name: app, run: "cd /app && python3 -m app" }}
ci:
  workflow: generated/publish-e2e.yml
"#
    )
}

fn tool(name: &str) -> PathBuf {
    which(name).unwrap_or_else(|| panic!("`{name}` is not installed: run `bash tests/setup.sh`"))
}

/// Global flags for the private vfs store the set-up imported the base images into.
fn store_args() -> Vec<String> {
    let store = referees().join("containers");
    let abs = std::fs::canonicalize(&store).unwrap_or_else(|_| {
        panic!(
            "no container store at {}: run `bash tests/setup.sh`",
            store.display()
        )
    });
    vec![
        "--root".into(),
        abs.join("root").display().to_string(),
        "--runroot".into(),
        abs.join("runroot").display().to_string(),
        "--storage-driver".into(),
        "vfs".into(),
    ]
}

fn run(program: &str, args: &[String], dir: &Path) -> Output {
    Command::new(tool(program))
        .args(store_args())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} fails to start: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A build context: the spec, a small app installed from its `pyproject.toml` (whose build
/// backend, hatchling, refuses to build without the `readme` it names), and the generated
/// files.
fn context(port: u16, sha: &str) -> tempfile::TempDir {
    let dir = crate::support::repo_with_spec(&spec(port, sha));
    std::fs::create_dir_all(dir.path().join("app")).expect("mkdir app");
    std::fs::write(dir.path().join("app/__init__.py"), "").expect("write");
    std::fs::write(dir.path().join("app/__main__.py"), "print('app ok')\n").expect("write");
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"1.0\"\nreadme = \"README.md\"\n\n[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n[tool.hatch.build.targets.wheel]\npackages = [\"app\"]\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("README.md"), "# app\n").expect("write");
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    // Builds behind a TLS-intercepting proxy need the host's CA bundle for pip's downloads.
    std::fs::write(
        dir.path().join("pip.conf"),
        "[global]\ncert = /run/qmspec-host-ca.crt\n",
    )
    .expect("write");
    dir
}

fn build(dir: &Path, dockerfile: &str, tag: &str, platform: &str) -> Output {
    let mut args: Vec<String> = vec![
        "bud".into(),
        "--isolation".into(),
        "chroot".into(),
        "--network".into(),
        "host".into(),
        // SHELL (pipefail) is kept only in the Docker image format.
        "--format".into(),
        "docker".into(),
        "--pull-never".into(),
        "--platform".into(),
        platform.into(),
        "-f".into(),
        dockerfile.into(),
        "-t".into(),
        tag.into(),
    ];
    let ca = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if ca.exists() {
        args.extend([
            "-v".into(),
            format!("{}:/run/qmspec-host-ca.crt:ro", ca.display()),
            "-v".into(),
            format!("{}:/etc/pip.conf:ro", dir.join("pip.conf").display()),
        ]);
    }
    args.push(".".into());
    run("buildah", &args, dir)
}

fn podman_run(tag: &str, platform: &str, cmd: &[&str]) -> Output {
    let mut args: Vec<String> = [
        "run",
        "--rm",
        "--runtime",
        "runc",
        "--network",
        "none",
        "--platform",
        platform,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Limits below the sandbox's own, which runc may not raise.
    args.extend(
        [
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ]
        .map(String::from),
    );
    args.push(tag.into());
    args.extend(cmd.iter().map(|s| s.to_string()));
    run("podman", &args, Path::new("."))
}

fn remove_image(tag: &str) {
    let _ = run(
        "buildah",
        &["rmi".into(), "-f".into(), tag.into()],
        Path::new("."),
    );
}

fn served() -> (Server, String, tempfile::TempDir) {
    let server = Server::start();
    let scratch = tempfile::tempdir().expect("tmp");
    let archive = hello_archive(scratch.path(), "hello 1.0.0");
    let sha = sha256_hex(&archive);
    server.serve("/hello-1.0.0-linux-x86_64.tar.gz", archive.clone());
    server.serve("/hello-1.0.0-linux-aarch64.tar.gz", archive);
    (server, sha, scratch)
}

#[test]
fn amd64_image_builds_and_passes_its_validation_script() {
    let (server, sha, _scratch) = served();
    let dir = context(server.port, &sha);
    let tag = format!("localhost/qmspec-e2e:amd64-{}", server.port);
    let out = build(
        dir.path(),
        "generated/Dockerfile.e2e.amd64",
        &tag,
        "linux/amd64",
    );
    assert!(out.status.success(), "build failed:\n{}", text(&out));

    let out = podman_run(&tag, "linux/amd64", &["/usr/local/bin/validate-e2e.sh"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "PASS hello\nPASS pyflakes\nPASS app\nall 3 checks passed on amd64\n"
    );

    // The image means exactly what the spec says: env, labels, user, command.
    let inspect = run(
        "podman",
        &["image".into(), "inspect".into(), tag.clone()],
        Path::new("."),
    );
    let config: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("inspect JSON");
    let config = &config[0]["Config"];
    let env: Vec<&str> = config["Env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env.contains(&"LIB=/opt/top/lib"), "{env:?}");
    assert!(
        env.contains(&"TRICKY=a \"quoted\" back\\slash $5 ünï"),
        "{env:?}"
    );
    assert!(env.contains(&"QMSPEC_PLATFORM=amd64"), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("THREADS=")),
        "arm64-only variable on amd64: {env:?}"
    );
    assert_eq!(
        config["Labels"]["org.example.tricky"],
        "quotes \" back\\slash $HOME {{braces}} ünï"
    );
    assert_eq!(config["User"], "10001:10001");
    assert_eq!(config["Cmd"], serde_json::json!(["python3", "-m", "app"]));
    remove_image(&tag);
}

#[test]
fn a_tampered_archive_fails_the_build_at_the_checksum() {
    let (server, sha, scratch) = served();
    let dir = context(server.port, &sha);
    // Same URL, different bytes: a compromised or corrupted download.
    server.serve(
        "/hello-1.0.0-linux-x86_64.tar.gz",
        hello_archive(scratch.path(), "pwned"),
    );
    let tag = format!("localhost/qmspec-e2e:tampered-{}", server.port);
    let out = build(
        dir.path(),
        "generated/Dockerfile.e2e.amd64",
        &tag,
        "linux/amd64",
    );
    let log = text(&out);
    assert!(
        !out.status.success(),
        "a tampered archive was accepted:\n{log}"
    );
    assert!(
        log.contains("sha256sum: WARNING: 1 computed checksum did NOT match"),
        "{log}"
    );
    let failed_step = log
        .lines()
        .rfind(|l| l.contains("STEP"))
        .unwrap_or_default();
    assert!(
        failed_step.contains("wget -q -O /tmp/qmspec-hello.download"),
        "failed elsewhere: {failed_step}"
    );
    remove_image(&tag);
}

#[test]
fn arm64_image_builds_from_the_multi_arch_dockerfile_under_qemu() {
    let (server, sha, _scratch) = served();
    let dir = context(server.port, &sha);
    let tag = format!("localhost/qmspec-e2e:arm64-{}", server.port);
    let out = build(dir.path(), "generated/Dockerfile.e2e", &tag, "linux/arm64");
    assert!(out.status.success(), "build failed:\n{}", text(&out));
    let out = podman_run(&tag, "linux/arm64", &["/usr/local/bin/validate-e2e.sh"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "PASS hello\nPASS pyflakes\nPASS app\nall 3 checks passed on arm64\n"
    );
    let out = podman_run(&tag, "linux/arm64", &["uname", "-m"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "aarch64",
        "{}",
        text(&out)
    );
    remove_image(&tag);
}

/// A spec like the API image's: a uv builder stage (on a base with uv, as
/// `ghcr.io/astral-sh/uv` is) installs a locked project; the runtime copies its environment
/// and source, owned by the non-root user it creates and ends as, with a health check.
fn uv_spec() -> String {
    r#"name: e2e-api
owner: example
validation-script: generated/validate-e2e-api.sh
platforms:
  amd64:
    base: { image: localhost/qmspec-debian, tag: bookworm-amd64, unpinned-reason: made by the test set-up }
    runner: ubuntu-latest
    dockerfile: generated/Dockerfile.e2e-api.amd64
stages:
  - name: builder
    base:
      amd64: { image: localhost/qmspec-uv, tag: bookworm-amd64, unpinned-reason: made by the test set-up, provides: [uv, python3] }
    workdir: /app
    env:
      UV_COMPILE_BYTECODE: "1"
      UV_PYTHON_DOWNLOADS: never
      # Behind a TLS-intercepting proxy uv needs the host's CA bundle (mounted by the test).
      SSL_CERT_FILE: /run/qmspec-host-ca.crt
    python:
      venv: /app/.venv
      install: { with: uv, files: [README.md] }
    copy:
      - { from: src, to: /app/src }
apt:
  packages: [python3]
  unpinned-reason: the test base image is a fresh debootstrap
env:
  PATH: /app/.venv/bin:${PATH}
app:
  workdir: /app
  copy:
    - { stage: builder, from: /app/.venv, to: /app/.venv, chown: true }
    - { stage: builder, from: /app/src, to: /app/src, chown: true }
  data-dirs: [/app/data]
  user: { name: appuser, uid: 999, group: appgroup, gid: 999, system: true }
  expose: ["8000"]
  healthcheck: { run: "greet", interval: 30s, timeout: 5s, start-period: 1s, retries: 3 }
  stopsignal: SIGINT
  command: [greet]
  checks:
    - { name: app, run: "greet | grep -qx 'hello from greet'" }
    - { name: user, run: "test \"$(id -u):$(id -g)\" = 999:999" }
    - { name: owner, run: "test \"$(stat -c %U:%G /app/.venv /app/data | sort -u)\" = appuser:appgroup" }
ci:
  workflow: generated/publish-e2e-api.yml
"#
    .to_string()
}

#[test]
fn a_multi_stage_uv_image_builds_and_runs_as_its_own_user() {
    // The uv builder base is made by the set-up; without it the build would fail on a pull.
    let base = "localhost/qmspec-uv:bookworm-amd64";
    let exists = run(
        "podman",
        &["image".into(), "exists".into(), base.into()],
        Path::new("."),
    );
    assert!(
        exists.status.success(),
        "{base} is missing: run `bash tests/setup.sh`"
    );
    let dir = crate::support::repo_with_spec(&uv_spec());
    let project = crate::support::root().join("tests/fixtures/uv-app");
    for f in [
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "src/greet/__init__.py",
    ] {
        let to = dir.path().join(f);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(project.join(f), &to).expect("copy");
    }
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    std::fs::write(
        dir.path().join("pip.conf"),
        "[global]\ncert = /run/qmspec-host-ca.crt\n",
    )
    .expect("write");
    let tag = "localhost/qmspec-e2e-api:amd64";
    let out = build(
        dir.path(),
        "generated/Dockerfile.e2e-api.amd64",
        tag,
        "linux/amd64",
    );
    let log = text(&out);
    assert!(out.status.success(), "build failed:\n{log}");
    // The dependencies were resolved from the lock file in their own step, before the source.
    assert!(
        log.contains("uv sync --locked --no-install-project --no-dev"),
        "{log}"
    );

    let out = podman_run(tag, "linux/amd64", &["/usr/local/bin/validate-e2e-api.sh"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "PASS app\nPASS user\nPASS owner\nall 3 checks passed on amd64\n"
    );
    let out = podman_run(tag, "linux/amd64", &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from greet\n",
        "{}",
        text(&out)
    );
    // The builder's tools stay in the builder: no uv in the runtime image.
    let out = podman_run(
        tag,
        "linux/amd64",
        &["sh", "-c", "command -v uv || echo none"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "none\n",
        "{}",
        text(&out)
    );

    let inspect = run(
        "podman",
        &["image".into(), "inspect".into(), tag.into()],
        Path::new("."),
    );
    let image: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("inspect JSON");
    let config = &image[0]["Config"];
    assert_eq!(config["User"], "999:999");
    assert_eq!(config["StopSignal"], "SIGINT");
    assert!(config["ExposedPorts"].get("8000/tcp").is_some(), "{config}");
    // podman reports the health check beside the config.
    let health = &image[0]["Healthcheck"];
    assert_eq!(
        health["Test"],
        serde_json::json!(["CMD", "/bin/sh", "-c", "greet"])
    );
    assert_eq!(health["Retries"], 3);
    assert_eq!(health["Interval"], 30_000_000_000_u64);
    remove_image(tag);
}

/// A zip archive and a bare binary, served on 127.0.0.1 and checked by sha256: each unpacked by
/// its own command (`unzip`, a move), made executable, and run by the validation script.
#[test]
fn zip_and_binary_downloads_build_and_run() {
    let server = Server::start();
    let scratch = tempfile::tempdir().expect("tmp");
    let zip = zip_archive(scratch.path());
    let binary = b"#!/bin/sh\necho \"bare tool\"\n".to_vec();
    server.serve("/zt-2.0-linux-x86_64.zip", zip.clone());
    server.serve("/bt-3.1-linux-x86_64", binary.clone());
    let spec = format!(
        r#"name: e2e-formats
owner: example
validation-script: generated/validate-formats.sh
platforms:
  amd64:
    base: {{ image: localhost/qmspec-debian, tag: bookworm-amd64, unpinned-reason: made by the test set-up }}
    runner: ubuntu-latest
    dockerfile: generated/Dockerfile.formats.amd64
apt:
  packages: [ca-certificates, unzip, wget]
  unpinned-reason: the test base image is a fresh debootstrap
tools:
  - name: zt
    version: "2.0"
    check: zt --version | grep -qx 'zipped tool --version'
    sources:
      amd64: {{ kind: archive, url: "http://127.0.0.1:{port}/zt-{{{{version}}}}-linux-x86_64.zip", sha256: {zip_sha}, dest: /opt/zt, executables: [bin/zt], path: [/opt/zt/bin] }}
  - name: bt
    version: "3.1"
    check: bt | grep -qx 'bare tool'
    sources:
      amd64: {{ kind: archive, format: binary, url: "http://127.0.0.1:{port}/bt-{{{{version}}}}-linux-x86_64", sha256: {bin_sha}, dest: /opt/bt, executables: [bt], path: [/opt/bt] }}
ci:
  workflow: generated/publish-formats.yml
"#,
        port = server.port,
        zip_sha = sha256_hex(&zip),
        bin_sha = sha256_hex(&binary),
    );
    let dir = crate::support::repo_with_spec(&spec);
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    std::fs::write(
        dir.path().join("pip.conf"),
        "[global]\ncert = /run/qmspec-host-ca.crt\n",
    )
    .expect("write");
    let tag = format!("localhost/qmspec-formats:amd64-{}", server.port);
    let out = build(
        dir.path(),
        "generated/Dockerfile.formats.amd64",
        &tag,
        "linux/amd64",
    );
    let log = text(&out);
    assert!(out.status.success(), "build failed:\n{log}");
    assert!(
        log.contains("unzip -q /tmp/qmspec-zt.download -d /opt/zt"),
        "{log}"
    );
    let out = podman_run(&tag, "linux/amd64", &["/usr/local/bin/validate-formats.sh"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "PASS zt\nPASS bt\nall 2 checks passed on amd64\n"
    );
    remove_image(&tag);
}

/// A zip archive of `bin/zt`, a script that echoes its arguments.
fn zip_archive(dir: &Path) -> Vec<u8> {
    let script = dir.join("zt");
    std::fs::write(&script, "#!/bin/sh\necho \"zipped tool $1\"\n").expect("write");
    let zip = dir.join("tool.zip");
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z: z.write(sys.argv[2], 'bin/zt')",
            zip.to_str().expect("utf8"),
            script.to_str().expect("utf8"),
        ])
        .status()
        .expect("python3 runs");
    assert!(status.success());
    std::fs::read(&zip).expect("read")
}

/// A command-line image (no Python, no app section beyond its command) on a POSIX-sh base that
/// has no bash and downloads with curl: a `.zip`, a `.tar.gz` and a file fetched for the spec's
/// own commands, all served on 127.0.0.1 and checked by sha256, for amd64 and arm64.
fn posix_context() -> (Server, tempfile::TempDir, tempfile::TempDir) {
    let server = Server::start();
    let scratch = tempfile::tempdir().expect("tmp");
    let zip = zip_archive(scratch.path());
    let tarball = hello_archive(scratch.path(), "hello from sh");
    let notes = b"release notes\n".to_vec();
    for alias in ["x86_64", "aarch64"] {
        server.serve(&format!("/zt-2.0-linux-{alias}.zip"), zip.clone());
        server.serve(
            &format!("/hello-1.0.0-linux-{alias}.tar.gz"),
            tarball.clone(),
        );
    }
    server.serve("/notes-1.0.txt", notes.clone());
    let platform = |arch: &str, alias: &str, runner: &str| {
        format!(
            r#"  {arch}:
    base: {{ image: localhost/qmspec-posix, tag: bookworm-{arch}, unpinned-reason: made by the test set-up, family: other, provides: [curl, unzip, tar, gzip, sha256sum, mkdir, rm, mv, chmod] }}
    runner: {runner}
    dockerfile: generated/Dockerfile.cli.{arch}
"#
        ) + if alias == "aarch64" {
            "    emulation: qemu\n"
        } else {
            ""
        }
    };
    let source = |alias: &str, port: u16| {
        format!(
            r#"{{ kind: archive, url: "http://127.0.0.1:{port}/zt-{{{{version}}}}-linux-{alias}.zip", sha256: {}, dest: /opt/zt, executables: [bin/zt], path: [/opt/zt/bin] }}"#,
            sha256_hex(&zip)
        )
    };
    let hello = |alias: &str, port: u16| {
        format!(
            r#"{{ kind: archive, url: "http://127.0.0.1:{port}/hello-{{{{version}}}}-linux-{alias}.tar.gz", sha256: {}, dest: /opt/hello, strip-components: 1, executables: [bin/hello], path: [/opt/hello/bin] }}"#,
            sha256_hex(&tarball)
        )
    };
    let port = server.port;
    let spec = format!(
        r#"name: e2e-cli
owner: example
validation-script: generated/validate-cli.sh
dockerfiles: both
multi-arch-dockerfile: generated/Dockerfile.cli
platforms:
{amd64}{arm64}tools:
  - name: zt
    version: "2.0"
    check: test "$(zt --version)" = 'zipped tool --version'
    sources:
      amd64: {zt_amd64}
      arm64: {zt_arm64}
  - name: hello
    version: 1.0.0
    check: test "$(hello)" = 'hello from sh'
    sources:
      amd64: {hello_amd64}
      arm64: {hello_arm64}
  - name: notes
    version: "1.0"
    check: test -s /opt/notes/notes.txt
    sources:
      amd64: &notes
        kind: commands
        downloads:
          - {{ url: "http://127.0.0.1:{port}/notes-{{{{version}}}}.txt", sha256: {notes_sha}, file: /tmp/notes.txt }}
        run: ["mkdir -p /opt/notes", "mv /tmp/notes.txt /opt/notes/notes.txt"]
      arm64: *notes
app:
  checks:
    - {{ name: no bash, run: "! command -v bash" }}
  command: [hello]
ci:
  workflow: generated/publish-cli.yml
"#,
        amd64 = platform("amd64", "x86_64", "ubuntu-latest"),
        arm64 = platform("arm64", "aarch64", "ubuntu-latest"),
        zt_amd64 = source("x86_64", port),
        zt_arm64 = source("aarch64", port),
        hello_amd64 = hello("x86_64", port),
        hello_arm64 = hello("aarch64", port),
        notes_sha = sha256_hex(&notes),
    );
    let dir = crate::support::repo_with_spec(&spec);
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    // `build` mounts it for pip; this image has no pip, so it stays unused.
    std::fs::write(dir.path().join("pip.conf"), "[global]\n").expect("write");
    (server, dir, scratch)
}

fn posix_build(arch: &str) {
    let (server, dir, _scratch) = posix_context();
    let file = format!("generated/Dockerfile.cli.{arch}");
    let text_of = std::fs::read_to_string(dir.path().join(&file)).expect("read");
    // POSIX lines only: no bash asked for, curl (the base's) fetches, and nothing pipes.
    assert!(
        !text_of.contains("SHELL") && !text_of.contains(" | "),
        "{text_of}"
    );
    assert!(
        text_of.contains("curl -fsSL -o") && !text_of.contains("wget"),
        "{text_of}"
    );
    assert!(
        !text_of.contains("venv") && !text_of.contains("python"),
        "{text_of}"
    );
    let tag = format!("localhost/qmspec-cli:{arch}-{}", server.port);
    let platform = format!("linux/{arch}");
    let out = build(dir.path(), &file, &tag, &platform);
    let log = text(&out);
    assert!(out.status.success(), "build failed:\n{log}");
    let out = podman_run(&tag, &platform, &["/usr/local/bin/validate-cli.sh"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("PASS zt\nPASS hello\nPASS notes\nPASS no bash\nall 4 checks passed on {arch}\n")
    );
    let out = podman_run(&tag, &platform, &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from sh\n",
        "{}",
        text(&out)
    );
    let out = podman_run(&tag, &platform, &["uname", "-m"]);
    let machine = if arch == "arm64" { "aarch64" } else { "x86_64" };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        machine,
        "{}",
        text(&out)
    );
    remove_image(&tag);
}

#[test]
fn a_cli_image_on_a_posix_sh_base_installs_a_zip_and_a_tarball() {
    posix_build("amd64");
}

#[test]
fn a_cli_image_on_a_posix_sh_base_builds_for_arm64_under_qemu() {
    posix_build("arm64");
}

/// A download the spec leaves `unverified`, hashed by `qmspec lock` from 127.0.0.1: the build
/// verifies it against the locked sha256 and passes; the same URL serving other bytes fails
/// the build at the checksum.
#[test]
fn a_locked_download_is_verified_by_the_build_and_a_tampered_one_fails() {
    let server = Server::start();
    let scratch = tempfile::tempdir().expect("tmp");
    server.serve(
        "/hello-1.0.0-linux-x86_64.tar.gz",
        hello_archive(scratch.path(), "hello, locked"),
    );
    let spec = format!(
        r#"name: e2e-locked
owner: example
validation-script: generated/validate-locked.sh
platforms:
  amd64:
    base: {{ image: localhost/qmspec-posix, tag: bookworm-amd64, unpinned-reason: made by the test set-up, family: other, provides: [curl, tar, gzip, sha256sum, mkdir, rm, mv, chmod] }}
    runner: ubuntu-latest
    dockerfile: generated/Dockerfile.locked.amd64
tools:
  - name: hello
    version: 1.0.0
    check: test "$(hello)" = 'hello, locked'
    sources:
      amd64: {{ kind: archive, url: "http://127.0.0.1:{port}/hello-{{{{version}}}}-linux-x86_64.tar.gz", sha256: unverified, unverified-reason: hashed by qmspec lock, dest: /opt/hello, strip-components: 1, executables: [bin/hello], path: [/opt/hello/bin] }}
ci:
  workflow: generated/publish-locked.yml
"#,
        port = server.port
    );
    let dir = crate::support::repo_with_spec(&spec);
    // Only the download: the set-up's base image lives in a local store, not a registry.
    qmspec(dir.path())
        .args(["lock", "--only", "downloads"])
        .assert()
        .code(0);
    qmspec(dir.path()).args(["generate"]).assert().code(0);
    std::fs::write(dir.path().join("pip.conf"), "[global]\n").expect("write");
    let dockerfile = std::fs::read_to_string(dir.path().join("generated/Dockerfile.locked.amd64"))
        .expect("read");
    assert!(
        dockerfile.contains("sha256sum -c") && !dockerfile.contains("unverified"),
        "{dockerfile}"
    );
    let tag = format!("localhost/qmspec-locked:amd64-{}", server.port);
    let out = build(
        dir.path(),
        "generated/Dockerfile.locked.amd64",
        &tag,
        "linux/amd64",
    );
    assert!(out.status.success(), "build failed:\n{}", text(&out));
    let out = podman_run(&tag, "linux/amd64", &["/usr/local/bin/validate-locked.sh"]);
    assert!(out.status.success(), "{}", text(&out));
    remove_image(&tag);
    // The same URL now serves other bytes: the locked sha256 stops the build.
    server.serve(
        "/hello-1.0.0-linux-x86_64.tar.gz",
        hello_archive(scratch.path(), "pwned"),
    );
    let out = build(
        dir.path(),
        "generated/Dockerfile.locked.amd64",
        &tag,
        "linux/amd64",
    );
    let log = text(&out);
    assert!(
        !out.status.success(),
        "a tampered download was accepted:\n{log}"
    );
    assert!(log.contains("computed checksum did NOT match"), "{log}");
    // ...and `lock --check` sees it too, without writing.
    let before = std::fs::read(dir.path().join("specs/worker.lock")).expect("read");
    let check = qmspec(dir.path())
        .args(["lock", "--check", "--only", "downloads"])
        .output()
        .expect("runs");
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(
        std::fs::read(dir.path().join("specs/worker.lock")).expect("read"),
        before
    );
    remove_image(&tag);
}

/// Debian's `docker-registry` on 127.0.0.1, storing into a scratch folder; stopped on drop.
struct Registry {
    port: u16,
    child: std::process::Child,
    data: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let data = tempfile::tempdir().expect("tmp");
        let store = data.path().join("store");
        Registry::serve(data, &store, "")
    }

    /// Another registry serving the same store, behind the token auth ghcr.io and Docker Hub
    /// use: anonymous requests get `401` with a `Bearer realm,service` challenge.
    fn with_token_auth(&self, tokens: &TokenService) -> Registry {
        let data = tempfile::tempdir().expect("tmp");
        let auth = format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: qmspec-test\n    issuer: qmspec-test-issuer\n    rootcertbundle: {}\n",
            tokens.port,
            tokens.cert.display()
        );
        Registry::serve(data, &self.data.path().join("store"), &auth)
    }

    fn serve(data: tempfile::TempDir, store: &Path, auth: &str) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = data.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                store.display()
            ),
        )
        .expect("write");
        let child = Command::new(tool("docker-registry"))
            .args(["serve", config.to_str().expect("utf8")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let registry = Registry { port, child, data };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return registry;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("docker-registry did not listen on 127.0.0.1:{port}");
    }

    /// Push the set-up's Debian bases as one two-platform image, and amd64 alone as another.
    fn push_bases(&self) {
        let list = format!("localhost:{}/qmspec/base:bookworm", self.port);
        for args in [
            vec!["manifest".to_string(), "create".into(), list.clone()],
            vec![
                "manifest".into(),
                "add".into(),
                list.clone(),
                "containers-storage:localhost/qmspec-debian:bookworm-amd64".into(),
            ],
            vec![
                "manifest".into(),
                "add".into(),
                list.clone(),
                "containers-storage:localhost/qmspec-debian:bookworm-arm64".into(),
            ],
            vec![
                "manifest".into(),
                "push".into(),
                "--all".into(),
                "--tls-verify=false".into(),
                list.clone(),
                format!("docker://{list}"),
            ],
            vec!["manifest".into(), "rm".into(), list.clone()],
            vec![
                "push".into(),
                "--tls-verify=false".into(),
                "localhost/qmspec-debian:bookworm-amd64".into(),
                format!("docker://localhost:{}/qmspec/base:amd64-only", self.port),
            ],
        ] {
            let out = run("podman", &args, Path::new("."));
            assert!(out.status.success(), "podman {args:?}:\n{}", text(&out));
        }
    }
}

/// A token service as the registry's token auth expects it (the distribution token spec):
/// anonymous, it grants the scope asked for, signed RS256 with a key whose certificate the
/// registry trusts; each request's query is logged.
const TOKEN_SERVICE: &str = r#"
import base64, json, subprocess, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
key, cert, log = sys.argv[1:4]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
class Token(BaseHTTPRequestHandler):
    def do_GET(self):
        query = urllib.parse.urlparse(self.path).query
        with open(log, "a") as f:
            f.write(query + "\n")
        q = urllib.parse.parse_qs(query)
        access = []
        for scope in q.get("scope", []):
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": "qmspec-test-issuer", "sub": "", "aud": q.get("service", [""])[0],
                  "exp": now + 600, "nbf": now - 60, "iat": now, "jti": str(now), "access": access}
        signing = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())).encode()
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing,
                                   capture_output=True, check=True).stdout
        token = signing.decode() + "." + b64(signature)
        body = json.dumps({"token": token, "expires_in": 600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = HTTPServer(("127.0.0.1", 0), Token)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// [`TOKEN_SERVICE`] running, with its key and certificate; stopped on drop.
struct TokenService {
    port: u16,
    cert: PathBuf,
    log: PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl TokenService {
    fn start() -> TokenService {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("tmp");
        let (key, cert, log) = (
            dir.path().join("key.pem"),
            dir.path().join("cert.pem"),
            dir.path().join("requests.log"),
        );
        let out = Command::new(crate::support::referee("openssl"))
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=qmspec-test-token", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "{}", text(&out));
        let mut child = Command::new("python3")
            .args(["-c", TOKEN_SERVICE])
            .args([&key, &cert, &log])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the token service names its port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no port: {line:?}"));
        TokenService {
            port,
            cert,
            log,
            child,
            _dir: dir,
        }
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// From a spec with unverified downloads, floating base tags and unlocked conda builds,
/// `qmspec lock` leaves `validate` with no warning. It resolves the base tags through the OCI
/// distribution API of a real registry: a two-platform index to each platform's manifest digest, pinned by the generated
/// `FROM` lines; a platform the index lacks, or a single-platform image used for another
/// platform, is an error naming the image and platform, and nothing is written.
#[test]
fn base_tags_lock_to_each_platforms_digest_from_a_real_registry() {
    let registry = Registry::start();
    registry.push_bases();
    let files = Server::start();
    files.serve("/hello-2.12-x86_64.tar.gz", b"amd64".to_vec());
    files.serve("/hello-2.12-aarch64.tar.gz", b"arm64".to_vec());
    // A conda package too: a local channel with a build on each platform.
    for (subdir, build) in [("linux-64", "h_1"), ("linux-aarch64", "a_1")] {
        let repodata = serde_json::json!({"packages.conda": {
            format!("xtb-6.7.1-{build}.conda"): {"name": "xtb", "version": "6.7.1", "build": build, "build_number": 1, "sha256": "0".repeat(64)}
        }});
        files.serve(
            &format!("/conda-forge/{subdir}/repodata.json"),
            repodata.to_string().into_bytes(),
        );
    }
    let spec = crate::support::fixture("minimal.yaml")
        .replace(
            "      image: debian\n      tag: bookworm-slim\n      digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2\n",
            "      image: ghcr.io/qmspec/base\n      tag: bookworm\n      provides: [micromamba]\n",
        )
        .replacen(
            "tools:\n",
            "tools:\n  - name: xtb\n    version: 6.7.1\n    sources:\n      amd64: { kind: conda, via: micromamba }\n      arm64: { kind: conda, via: micromamba }\n",
            1,
        )
        .replace(
            "sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            "sha256: unverified\n        unverified-reason: locked",
        )
        .replace(
            "sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
            "sha256: unverified\n        unverified-reason: locked",
        );
    assert!(spec.contains("ghcr.io/qmspec/base") && !spec.contains("b4d4d5c9"));
    let dir = crate::support::repo_with_spec(&spec);
    let (_actions, github) = crate::support::action_repos();
    let mirrors = [
        format!(
            "--mirror=https://ghcr.io/=http://127.0.0.1:{}/",
            registry.port
        ),
        github,
        format!(
            "--mirror=https://example.org/=http://127.0.0.1:{}/",
            files.port
        ),
        format!(
            "--mirror=https://conda.anaconda.org/=http://127.0.0.1:{}/",
            files.port
        ),
    ];
    let lock = |dir: &Path| {
        qmspec(dir)
            .arg("lock")
            .args(&mirrors)
            .output()
            .expect("qmspec runs")
    };
    let before = qmspec(dir.path())
        .args(["validate"])
        .output()
        .expect("runs");
    for code in [
        "qmspec::unpinned-base",
        "qmspec::unverified-download",
        "qmspec::unlocked-package",
    ] {
        assert!(text(&before).contains(code), "{code}: {}", text(&before));
    }
    let out = lock(dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let locked = std::fs::read_to_string(dir.path().join("specs/worker.lock")).expect("read");
    // The digests the registry holds for each platform's manifest.
    // Read by another client (Python's urllib) straight from the registry's API.
    let inspect = Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request\nr = urllib.request.Request(sys.argv[1], headers={'Accept': 'application/vnd.oci.image.index.v1+json'})\nsys.stdout.write(urllib.request.urlopen(r).read().decode())",
            &format!("http://127.0.0.1:{}/v2/qmspec/base/manifests/bookworm", registry.port),
        ])
        .output()
        .expect("python3 runs");
    let index: serde_json::Value =
        serde_json::from_slice(&inspect.stdout).unwrap_or_else(|_| panic!("{}", text(&inspect)));
    for (arch, entry) in ["amd64", "arm64"]
        .iter()
        .zip(index["manifests"].as_array().expect("manifests"))
    {
        assert_eq!(entry["platform"]["architecture"], *arch);
        let digest = entry["digest"].as_str().expect("digest");
        assert!(
            locked.contains(&format!("platform: \"{arch}\"\n    digest: \"{digest}\"")),
            "{locked}"
        );
        qmspec(dir.path()).args(["generate"]).assert().code(0);
        let dockerfile =
            std::fs::read_to_string(dir.path().join(format!("generated/Dockerfile.demo.{arch}")))
                .expect("read");
        assert!(
            dockerfile.contains(&format!("FROM ghcr.io/qmspec/base:bookworm@{digest}\n")),
            "{dockerfile}"
        );
    }
    let out = qmspec(dir.path())
        .args(["validate"])
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("valid (0 warnings)"),
        "{}",
        text(&out)
    );

    // The same store behind token auth: `lock --check` reaches the same digests through the
    // anonymous bearer flow (401 challenge, a token for `repository:NAME:pull`, the retry).
    let tokens = TokenService::start();
    let guarded = registry.with_token_auth(&tokens);
    let challenge = Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request, urllib.error\ntry:\n    urllib.request.urlopen(sys.argv[1])\nexcept urllib.error.HTTPError as e:\n    print(e.code, e.headers['WWW-Authenticate'])",
            &format!("http://127.0.0.1:{}/v2/qmspec/base/manifests/bookworm", guarded.port),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        text(&challenge).starts_with("401 Bearer realm="),
        "the registry must refuse anonymous requests: {}",
        text(&challenge)
    );
    let out = qmspec(dir.path())
        .args(["lock", "--check", "--only", "bases"])
        .arg(format!(
            "--mirror=https://ghcr.io/=http://127.0.0.1:{}/",
            guarded.port
        ))
        .output()
        .expect("qmspec runs");
    assert!(
        out.status.success() && text(&out).contains("current   specs/worker.lock"),
        "{}",
        text(&out)
    );
    let requests = std::fs::read_to_string(&tokens.log).expect("the token service was asked");
    assert!(
        requests.contains("scope=repository%3Aqmspec%2Fbase%3Apull")
            || requests.contains("scope=repository:qmspec/base:pull"),
        "{requests}"
    );
    assert!(requests.contains("service=qmspec-test"), "{requests}");

    // A platform the index lacks; a single-platform image used for another platform.
    for (case, spec, want) in [
        (
            "missing platform",
            spec.replace(
                "  arm64:\n    base:\n      image: ghcr.io/qmspec/base",
                "  ppc64le:\n    base:\n      image: ghcr.io/qmspec/base",
            )
            .replace(
                "generated/Dockerfile.demo.arm64",
                "generated/Dockerfile.demo.ppc64le",
            )
            .replace("arm64: { kind", "ppc64le: { kind")
            .replace("\n      arm64:\n", "\n      ppc64le:\n"),
            "ghcr.io/qmspec/base:bookworm has no linux/ppc64le image",
        ),
        (
            "single-platform image",
            spec.replace("tag: bookworm\n", "tag: amd64-only\n"),
            "ghcr.io/qmspec/base:amd64-only is a linux/amd64 image, not linux/arm64",
        ),
    ] {
        let dir = crate::support::repo_with_spec(&spec);
        let out = lock(dir.path());
        assert_eq!(out.status.code(), Some(1), "{case}: {}", text(&out));
        assert!(text(&out).contains(want), "{case}: {}", text(&out));
        assert!(!dir.path().join("specs/worker.lock").exists(), "{case}");
    }
}
