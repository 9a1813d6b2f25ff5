//! `qmspec lock` against a real HTTP server on 127.0.0.1: files, redirects, a 404, a slow and a
//! truncated response. The spec's `https://example.org/` URLs reach it through `--mirror`, so
//! the lock records the spec's URLs while the bytes come from this machine.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::support::{action_repos, fixture, qmspec, repo_with_spec};

/// What the server answers for a path.
#[derive(Clone)]
enum Reply {
    Body(Vec<u8>),
    Redirect(String),
    Status(u16),
    /// Claims more bytes than it sends, then closes.
    Truncated(Vec<u8>, usize),
    /// Sends the headers, then waits before the body.
    Slow(Vec<u8>, u64),
    /// The body in eight parts, with a pause of this many milliseconds before each.
    Trickle(Vec<u8>, u64),
    /// A 200 with an HTML page (an error page or a login wall).
    Html(Vec<u8>),
}

struct Server {
    port: u16,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("addr").port();
        let replies: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let (r, h) = (Arc::clone(&replies), Arc::clone(&hits));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (r, h) = (Arc::clone(&r), Arc::clone(&h));
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let n = stream.read(&mut buf).unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                    h.lock().expect("lock").push(path.clone());
                    let reply = r.lock().expect("lock").get(&path).cloned();
                    let head = |status: &str, len: usize, extra: &str| {
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n"
                        )
                    };
                    let _ = match reply {
                        Some(Reply::Body(b)) => stream
                            .write_all(head("200 OK", b.len(), "").as_bytes())
                            .and_then(|()| stream.write_all(&b)),
                        Some(Reply::Redirect(to)) => stream.write_all(
                            head("302 Found", 0, &format!("Location: {to}\r\n")).as_bytes(),
                        ),
                        Some(Reply::Status(code)) => {
                            stream.write_all(head(&format!("{code} Problem"), 0, "").as_bytes())
                        }
                        Some(Reply::Truncated(b, claimed)) => stream
                            .write_all(head("200 OK", claimed, "").as_bytes())
                            .and_then(|()| stream.write_all(&b)),
                        Some(Reply::Slow(b, secs)) => {
                            let _ = stream.write_all(head("200 OK", b.len(), "").as_bytes());
                            std::thread::sleep(std::time::Duration::from_secs(secs));
                            stream.write_all(&b)
                        }
                        Some(Reply::Trickle(b, pause)) => {
                            let _ = stream.write_all(head("200 OK", b.len(), "").as_bytes());
                            b.chunks(b.len().div_ceil(8).max(1)).try_for_each(|part| {
                                std::thread::sleep(std::time::Duration::from_millis(pause));
                                stream.write_all(part)
                            })
                        }
                        Some(Reply::Html(b)) => stream
                            .write_all(
                                head("200 OK", b.len(), "Content-Type: text/html\r\n").as_bytes(),
                            )
                            .and_then(|()| stream.write_all(&b)),
                        None => stream.write_all(head("404 Not Found", 0, "").as_bytes()),
                    };
                });
            }
        });
        Server {
            port,
            replies,
            hits,
        }
    }

    fn reply(&self, path: &str, reply: Reply) {
        self.replies
            .lock()
            .expect("lock")
            .insert(path.to_string(), reply);
    }

    fn mirror(&self) -> String {
        format!(
            "--mirror=https://example.org/=http://127.0.0.1:{}/",
            self.port
        )
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The minimal fixture with both downloads unverified: what a new spec looks like.
fn unverified_spec() -> String {
    fixture("minimal.yaml")
        .replace(
            "sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            "sha256: unverified\n        unverified-reason: not hashed yet",
        )
        .replace(
            "sha256: fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
            "sha256: unverified\n        unverified-reason: not hashed yet",
        )
}

/// The proxy variables a machine may set: the local servers are reached directly unless a
/// test names its own proxy.
const PROXY_VARS: [&str; 8] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    run_env(dir, args, &[])
}

/// [`run`] with the proxy variables of the machine removed and `env` set.
fn run_env(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = qmspec(dir);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    let out = cmd
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("qmspec runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Lock, then everything is verified offline: no unverified warnings, the generated files
/// check the locked sha256, `lock --check` agrees; a version bump fails `validate`, `check`
/// and `lock --check`, naming `qmspec lock`, until the new version is locked.
#[test]
fn a_locked_spec_is_verified_offline_and_a_version_bump_needs_lock_again() {
    let server = Server::start();
    let (_actions, github) = action_repos();
    let (amd64, arm64) = (b"amd64 release".to_vec(), b"arm64 release".to_vec());
    server.reply("/hello-2.12-x86_64.tar.gz", Reply::Body(amd64.clone()));
    // The arm64 file sits behind a redirect: the lock hashes what it leads to.
    server.reply(
        "/hello-2.12-aarch64.tar.gz",
        Reply::Redirect("/files/arm64".into()),
    );
    server.reply("/files/arm64", Reply::Body(arm64.clone()));
    let dir = repo_with_spec(&unverified_spec());
    let (code, _, stderr) = run(dir.path(), &["validate"]);
    assert!(
        code == 0 && stderr.contains("valid (2 warnings)"),
        "{stderr}"
    );

    let (code, stdout, stderr) = run(dir.path(), &["lock", &server.mirror(), &github]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "locked    specs/worker.lock\n");
    let lock = std::fs::read_to_string(dir.path().join("specs/worker.lock")).expect("lock");
    assert!(
        lock.contains(&format!("sha256: \"{}\"\n    size: 13", sha256_hex(&amd64))),
        "{lock}"
    );
    assert!(lock.contains(&sha256_hex(&arm64)), "{lock}");
    assert!(
        lock.contains("url: \"https://example.org/hello-2.12-aarch64.tar.gz\""),
        "{lock}"
    );

    let (code, _, stderr) = run(dir.path(), &["validate"]);
    assert!(
        code == 0 && stderr.contains("valid (0 warnings)"),
        "{stderr}"
    );
    assert_eq!(run(dir.path(), &["generate"]).0, 0);
    let dockerfile =
        std::fs::read_to_string(dir.path().join("generated/Dockerfile.demo.amd64")).expect("read");
    assert!(
        dockerfile.contains(&format!(
            "echo '{}  /tmp/qmspec-hello.download'",
            sha256_hex(&amd64)
        )),
        "{dockerfile}"
    );
    assert!(!dockerfile.contains("unverified"), "{dockerfile}");
    let (code, stdout, _) = run(dir.path(), &["lock", "--check", &server.mirror(), &github]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "current   specs/worker.lock\n")
    );
    let (code, stdout, _) = run(dir.path(), &["lock", &server.mirror(), &github]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "unchanged specs/worker.lock\n")
    );

    // A version bump: the lock no longer covers the URL, offline.
    let spec = dir.path().join("specs/worker.yaml");
    let bumped = std::fs::read_to_string(&spec)
        .expect("read")
        .replace("version: \"2.12\"", "version: \"2.13\"");
    std::fs::write(&spec, bumped).expect("write");
    for args in [&["validate"][..], &["check"][..]] {
        let (code, _, stderr) = run(dir.path(), args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("qmspec::lock-stale")
                && stderr.contains("changed since it was locked")
                && stderr.contains("run `qmspec lock`"),
            "{args:?}: {stderr}"
        );
    }
    server.reply(
        "/hello-2.13-x86_64.tar.gz",
        Reply::Body(b"new amd64".to_vec()),
    );
    server.reply(
        "/hello-2.13-aarch64.tar.gz",
        Reply::Body(b"new arm64".to_vec()),
    );
    let (code, _, stderr) = run(dir.path(), &["lock", "--check", &server.mirror(), &github]);
    assert!(
        code == 1 && stderr.contains("specs/worker.lock is out of date: run `qmspec lock`"),
        "{stderr}"
    );
    assert_eq!(run(dir.path(), &["lock", &server.mirror(), &github]).0, 0);
    let (code, _, stderr) = run(dir.path(), &["validate"]);
    assert!(
        code == 0 && stderr.contains("valid (0 warnings)"),
        "{stderr}"
    );
}

/// Every failure names its URL and leaves the lock file byte for byte as it was: a 404, a
/// truncated body, a download slower than `--timeout`, a redirect loop, a download over
/// `--max-size`, plain HTTP to another host, and a hash that differs from the spec's sha256.
#[test]
fn a_failed_lock_names_each_url_and_changes_nothing() {
    let server = Server::start();
    let (_actions, github) = action_repos();
    let spec = unverified_spec();
    let amd64 = "/hello-2.12-x86_64.tar.gz";
    let arm64 = "/hello-2.12-aarch64.tar.gz";
    server.reply(arm64, Reply::Body(b"fine".to_vec()));
    let dir = repo_with_spec(&spec);
    let lock_file = dir.path().join("specs/worker.lock");
    let before = format!(
        "{}\n# Locks specs/worker.yaml.\ndownloads: []\n",
        qmspec::lock::STAMP
    );
    std::fs::write(&lock_file, &before).expect("write");
    let big = vec![7u8; 2 * 1024 * 1024];
    let cases: Vec<(&str, Reply, Vec<&str>, &str)> = vec![
        ("404", Reply::Status(404), vec![], "the server answered 404"),
        (
            "truncated",
            Reply::Truncated(b"half".to_vec(), 100),
            vec![],
            "ended after 4 of 100 bytes",
        ),
        (
            "slow",
            Reply::Slow(b"late".to_vec(), 5),
            vec!["--timeout", "1"],
            "timeout",
        ),
        (
            "loop",
            Reply::Redirect(amd64.to_string()),
            vec![],
            "redirect",
        ),
        (
            "too large",
            Reply::Body(big),
            vec!["--max-size", "1"],
            "larger than 1048576 bytes",
        ),
    ];
    for (case, reply, extra, want) in cases {
        server.reply(amd64, reply);
        let mut args = vec!["lock".to_string(), server.mirror(), github.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = std::time::Instant::now();
        let (code, _, stderr) = run(dir.path(), &args);
        assert_eq!(code, 1, "{case}: {stderr}");
        assert!(
            stderr.contains("https://example.org/hello-2.12-x86_64.tar.gz")
                && stderr.contains(want),
            "{case}: {stderr}"
        );
        assert!(
            stderr
                .contains("specs/worker.lock: left as it was: everything it records must resolve"),
            "{case}: {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(&lock_file).expect("read"),
            before,
            "{case}"
        );
        assert!(
            started.elapsed().as_secs() < 30,
            "{case} took {:?}",
            started.elapsed()
        );
    }
    // Plain HTTP leaves this machine only when allowed: refused before any connection.
    let (code, _, stderr) = run(
        dir.path(),
        &[
            "lock",
            "--mirror=https://example.org/=http://example.invalid/",
        ],
    );
    assert!(
        code == 1 && stderr.contains("plain HTTP can be changed on the way"),
        "{stderr}"
    );
    // A sha256 the spec gives must be the download's.
    server.reply(amd64, Reply::Body(b"tampered".to_vec()));
    let given = repo_with_spec(&fixture("minimal.yaml"));
    let (code, _, stderr) = run(given.path(), &["lock", &server.mirror(), &github]);
    assert!(
        code == 1 && stderr.contains(&format!("its sha256 is {}", sha256_hex(b"tampered"))),
        "{stderr}"
    );
    assert!(!given.path().join("specs/worker.lock").exists());
    // A lock file qmspec did not write is never replaced.
    server.reply(amd64, Reply::Body(b"fine".to_vec()));
    std::fs::write(&lock_file, "my notes\n").expect("write");
    let (code, _, stderr) = run(dir.path(), &["lock", &server.mirror(), &github]);
    assert!(
        code == 2 && stderr.contains("was not written by `qmspec lock`"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&lock_file).expect("read"),
        "my notes\n"
    );
    // ...and `validate` says so.
    let (code, _, stderr) = run(dir.path(), &["validate"]);
    assert!(
        code == 1 && stderr.contains("qmspec::lock-invalid"),
        "{stderr}"
    );
    assert!(server.hits.lock().expect("lock").iter().any(|p| p == arm64));
}

/// Every action the workflow uses is locked to the commit its release tag points at (an
/// annotated tag peeled), read with `git ls-remote` from a local repository through
/// `--mirror`; the workflow then uses those commits. `--upgrade-actions` moves each to the
/// newest release of its major; a missing tag is an error naming it.
#[test]
fn actions_lock_to_their_release_commits_and_upgrade_within_their_major() {
    let (actions, github) = action_repos();
    let server = Server::start();
    server.reply("/hello-2.12-x86_64.tar.gz", Reply::Body(b"x".to_vec()));
    server.reply("/hello-2.12-aarch64.tar.gz", Reply::Body(b"y".to_vec()));
    let dir = repo_with_spec(&unverified_spec());
    let commit = |action: &str, rev: &str| {
        let out = std::process::Command::new("git")
            .args(["rev-parse", rev])
            .current_dir(actions.path().join(action))
            .output()
            .expect("git");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (code, _, stderr) = run(dir.path(), &["lock", &server.mirror(), &github]);
    assert_eq!(code, 0, "{stderr}");
    let lock = std::fs::read_to_string(dir.path().join("specs/worker.lock")).expect("read");
    let release = commit("actions/checkout", "v7.0.1^{commit}");
    let tag_object = commit("actions/checkout", "v7.0.1");
    assert_ne!(release, tag_object, "the release tag is annotated");
    assert!(
        lock.contains(&format!(
            "action: \"actions/checkout\"\n    tag: \"v7.0.1\"\n    sha: \"{release}\""
        )),
        "{lock}"
    );
    assert_eq!(run(dir.path(), &["generate"]).0, 0);
    let workflow =
        std::fs::read_to_string(dir.path().join("generated/publish-demo.yml")).expect("read");
    assert!(
        workflow.contains(&format!("actions/checkout@{release} # v7.0.1")),
        "{workflow}"
    );

    // Re-locking one part keeps the others as they were locked.
    let (code, stdout, _) = run(
        dir.path(),
        &["lock", "--only", "downloads", &server.mirror(), &github],
    );
    assert_eq!(
        (code, stdout.as_str()),
        (0, "unchanged specs/worker.lock\n")
    );

    let upgrade = ["lock", "--upgrade-actions", &server.mirror(), &github];
    let (code, _, stderr) = run(dir.path(), &upgrade);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(run(dir.path(), &["generate"]).0, 0);
    let workflow =
        std::fs::read_to_string(dir.path().join("generated/publish-demo.yml")).expect("read");
    let next = commit("actions/checkout", "v7.0.2");
    assert!(
        workflow.contains(&format!("actions/checkout@{next} # v7.0.2")),
        "{workflow}"
    );

    // A release tag the repository does not have: nothing is written.
    let spec_file = dir.path().join("specs/worker.yaml");
    let pinned = std::fs::read_to_string(&spec_file).expect("read").replace(
        "  workflow: generated/publish-demo.yml\n",
        "  workflow: generated/publish-demo.yml\n  pins: { actions/checkout: \"1111111111111111111111111111111111111111 # v9.9.9\" }\n",
    );
    std::fs::write(&spec_file, pinned).expect("write");
    let before = std::fs::read(dir.path().join("specs/worker.lock")).expect("read");
    let (code, _, stderr) = run(dir.path(), &["lock", &server.mirror(), &github]);
    assert!(
        code == 1 && stderr.contains("no release tag v9.9.9"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("specs/worker.lock")).expect("read"),
        before
    );
}

/// A repodata.json entry.
fn conda_entry(name: &str, version: &str, build: &str, number: u32) -> serde_json::Value {
    serde_json::json!({
        "name": name, "version": version, "build": build, "build_number": number,
        "sha256": sha256_hex(format!("{name}-{version}-{build}").as_bytes()), "depends": []
    })
}

fn repodata(entries: &[(&str, serde_json::Value)]) -> Reply {
    let packages: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(file, v)| (file.to_string(), v.clone()))
        .collect();
    Reply::Body(
        serde_json::json!({"info": {}, "packages": {}, "packages.conda": packages})
            .to_string()
            .into_bytes(),
    )
}

/// Conda packages are locked to a build per platform from a channel's repodata.json (served
/// from a local channel directory): the newest build of the pinned version, the newest version
/// within a range; a platform without a build is an error naming the subdir; the generated
/// lines install the locked build exactly.
#[test]
fn conda_packages_lock_to_a_build_per_platform() {
    let server = Server::start();
    let spec = fixture("minimal.yaml").replacen(
        "tools:\n",
        "tools:\n  - name: xtb\n    version: 6.7.1\n    sources:\n      amd64: { kind: conda, via: micromamba }\n      arm64: { kind: conda, via: micromamba }\n  - name: rdkit\n    version: \">=2025.9\"\n    sources:\n      amd64: { kind: conda, via: micromamba }\n      arm64: { kind: none, reason: amd64 only here }\n",
        1,
    )
    .replace("      digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2\n", "      digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2\n      provides: [micromamba]\n");
    let dir = repo_with_spec(&spec);
    let (_, _, stderr) = run(dir.path(), &["validate"]);
    assert_eq!(
        stderr.matches("qmspec::unlocked-package").count(),
        3,
        "{stderr}"
    );
    server.reply(
        "/conda-forge/linux-64/repodata.json",
        repodata(&[
            (
                "xtb-6.7.1-h1_0.conda",
                conda_entry("xtb", "6.7.1", "h1_0", 0),
            ),
            (
                "xtb-6.7.1-h2_2.conda",
                conda_entry("xtb", "6.7.1", "h2_2", 2),
            ),
            (
                "xtb-6.7.0-h9_9.conda",
                conda_entry("xtb", "6.7.0", "h9_9", 9),
            ),
            (
                "rdkit-2025.03.1-p_0.conda",
                conda_entry("rdkit", "2025.03.1", "p_0", 0),
            ),
            (
                "rdkit-2025.09.1-p_0.conda",
                conda_entry("rdkit", "2025.09.1", "p_0", 0),
            ),
            (
                "rdkit-2025.09.3-p_1.conda",
                conda_entry("rdkit", "2025.09.3", "p_1", 1),
            ),
        ]),
    );
    // linux-aarch64 has only an older xtb; noarch has nothing.
    server.reply(
        "/conda-forge/linux-aarch64/repodata.json",
        repodata(&[("xtb-6.7.0-a_0.conda", conda_entry("xtb", "6.7.0", "a_0", 0))]),
    );
    let mirror = format!(
        "--mirror=https://conda.anaconda.org/=http://127.0.0.1:{}/",
        server.port
    );
    let args = ["lock", "--only", "conda", &mirror];
    let (code, _, stderr) = run(dir.path(), &args);
    assert!(
        code == 1
            && stderr.contains("conda-forge has no linux-aarch64 (or noarch) build of xtb 6.7.1"),
        "{stderr}"
    );
    assert!(!dir.path().join("specs/worker.lock").exists());
    server.reply(
        "/conda-forge/linux-aarch64/repodata.json",
        repodata(&[("xtb-6.7.1-a_1.conda", conda_entry("xtb", "6.7.1", "a_1", 1))]),
    );
    let (code, _, stderr) = run(dir.path(), &args);
    assert_eq!(code, 0, "{stderr}");
    let lock = std::fs::read_to_string(dir.path().join("specs/worker.lock")).expect("read");
    assert!(lock.contains("package: \"xtb\"\n    requested: \"6.7.1\"\n    version: \"6.7.1\"\n    build: \"h2_2\"\n    subdir: \"linux-64\""), "{lock}");
    assert!(
        lock.contains("build: \"a_1\"\n    subdir: \"linux-aarch64\""),
        "{lock}"
    );
    assert!(
        lock.contains("requested: \">=2025.9\"\n    version: \"2025.09.3\""),
        "{lock}"
    );
    let (_, _, stderr) = run(dir.path(), &["validate"]);
    assert!(!stderr.contains("qmspec::unlocked-package"), "{stderr}");
    assert_eq!(run(dir.path(), &["generate"]).0, 0);
    let amd64 =
        std::fs::read_to_string(dir.path().join("generated/Dockerfile.demo.amd64")).expect("read");
    assert!(amd64.contains("-c conda-forge 'xtb=6.7.1=h2_2'"), "{amd64}");
    assert!(
        amd64.contains("-c conda-forge 'rdkit=2025.09.3=p_1'"),
        "{amd64}"
    );
    let arm64 =
        std::fs::read_to_string(dir.path().join("generated/Dockerfile.demo.arm64")).expect("read");
    assert!(arm64.contains("'xtb=6.7.1=a_1'"), "{arm64}");
}

/// On a terminal (a pseudo-terminal from `script`), `qmspec lock` draws a bar per download
/// while it runs: the file name, the bytes and the size the server announced. Piped, it prints
/// its one line per spec and nothing else.
#[test]
fn downloads_show_progress_on_a_terminal_only() {
    let server = Server::start();
    let big = vec![7u8; 4 * 1024 * 1024];
    server.reply(
        "/hello-2.12-x86_64.tar.gz",
        Reply::Trickle(big.clone(), 150),
    );
    server.reply("/hello-2.12-aarch64.tar.gz", Reply::Body(b"arm64".to_vec()));
    let dir = repo_with_spec(&unverified_spec());
    let qmspec_bin = assert_cmd::cargo::cargo_bin("qmspec");
    let line = format!(
        "{} lock --only downloads {}",
        qmspec_bin.display(),
        server.mirror()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-f", "-c", &line, "/dev/null"])
        .current_dir(dir.path())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("hello-2.12-x86_64.tar.gz") && screen.contains("4.00 MiB"),
        "no download bar on the terminal:\n{screen}"
    );
    assert!(screen.contains("locked    specs/worker.lock"), "{screen}");

    std::fs::remove_file(dir.path().join("specs/worker.lock")).expect("remove");
    let (code, stdout, stderr) = run(
        dir.path(),
        &["lock", "--only", "downloads", &server.mirror()],
    );
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (0, "locked    specs/worker.lock\n", "")
    );
}

/// The packages of a conda environment file are checked on every platform it is installed on,
/// in the file's channels, read as conda reads them (`python=3.11` is any 3.11.x, builds by
/// glob): a package a platform lacks fails the lock naming the file, the package and the
/// subdir, which is the lag the seed project's risk table names.
#[test]
fn environment_file_packages_need_a_build_on_each_platform() {
    let server = Server::start();
    let spec = fixture("minimal.yaml").replacen(
        "tools:\n",
        "tools:\n  - name: worker-env\n    provides: [python]\n    sources:\n      amd64: { kind: conda-env, file: env.yaml, via: micromamba }\n      arm64: { kind: conda-env, file: env.yaml, via: micromamba }\n",
        1,
    )
    .replace("      digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2\n", "      digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2\n      provides: [micromamba]\n");
    let dir = repo_with_spec(&spec);
    std::fs::write(
        dir.path().join("env.yaml"),
        "name: base\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - xtb=6.7.1=*_1\n  - nwchem>=7.2\n  - pip\n  - pip:\n      - huey>=2.6\n",
    )
    .expect("write");
    let both = [
        (
            "python-3.11.9-h_0.conda",
            conda_entry("python", "3.11.9", "h_0", 0),
        ),
        ("xtb-6.7.1-h_1.conda", conda_entry("xtb", "6.7.1", "h_1", 1)),
    ];
    let mut amd64 = both.to_vec();
    amd64.push((
        "nwchem-7.3.1-h_0.conda",
        conda_entry("nwchem", "7.3.1", "h_0", 0),
    ));
    server.reply("/conda-forge/linux-64/repodata.json", repodata(&amd64));
    // linux-aarch64 has only an nwchem older than the file allows; noarch has pip.
    let mut arm64 = both.to_vec();
    arm64.push((
        "nwchem-7.0.2-a_0.conda",
        conda_entry("nwchem", "7.0.2", "a_0", 0),
    ));
    server.reply("/conda-forge/linux-aarch64/repodata.json", repodata(&arm64));
    server.reply(
        "/conda-forge/noarch/repodata.json",
        repodata(&[(
            "pip-25.0-pyh_0.conda",
            conda_entry("pip", "25.0", "pyh_0", 0),
        )]),
    );
    let mirror = format!(
        "--mirror=https://conda.anaconda.org/=http://127.0.0.1:{}/",
        server.port
    );
    let args = ["lock", "--only", "conda", &mirror];
    let (code, _, stderr) = run(dir.path(), &args);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "env.yaml: conda-forge has no linux-aarch64 (or noarch) build of `nwchem>=7.2`"
        ),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("error:").count(),
        1,
        "only nwchem on arm64: {stderr}"
    );
    assert!(!dir.path().join("specs/worker.lock").exists());

    // A build the glob does not admit is not a match either.
    arm64.push((
        "nwchem-7.3.1-a_0.conda",
        conda_entry("nwchem", "7.3.1", "a_0", 0),
    ));
    arm64[1] = ("xtb-6.7.1-h_2.conda", conda_entry("xtb", "6.7.1", "h_2", 2));
    server.reply("/conda-forge/linux-aarch64/repodata.json", repodata(&arm64));
    let (code, _, stderr) = run(dir.path(), &args);
    assert!(
        code == 1 && stderr.contains("build of `xtb=6.7.1=*_1`") && !stderr.contains("nwchem"),
        "{stderr}"
    );
    arm64[1] = ("xtb-6.7.1-a_1.conda", conda_entry("xtb", "6.7.1", "a_1", 1));
    server.reply("/conda-forge/linux-aarch64/repodata.json", repodata(&arm64));
    let (code, _, stderr) = run(dir.path(), &args);
    assert_eq!(code, 0, "{stderr}");

    // A file that names no channel cannot be checked, and says how to fix it.
    std::fs::write(dir.path().join("env.yaml"), "dependencies:\n  - xtb\n").expect("write");
    let (code, _, stderr) = run(dir.path(), &["lock", "--check", "--only", "conda", &mirror]);
    assert!(
        code == 1 && stderr.contains("env.yaml names no channel under `channels:`"),
        "{stderr}"
    );
}

/// A real proxy (Debian's tinyproxy) on 127.0.0.1, stopped when the test ends.
struct Proxy {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    fn start() -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.path().join("log");
        let conf = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 10\nAllow 127.0.0.1\n",
                log.display()
            ),
        )
        .expect("write");
        let child = std::process::Command::new(crate::support::referee("tinyproxy"))
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tinyproxy starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "tinyproxy did not listen on {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Proxy {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `qmspec lock` goes through the proxy the environment names (a real tinyproxy), `NO_PROXY`
/// sends a host around it, and a proxy that is down fails the lock naming the URL, with
/// nothing written.
#[test]
fn downloads_go_through_the_proxy_the_environment_names() {
    let server = Server::start();
    server.reply("/hello-2.12-x86_64.tar.gz", Reply::Body(b"amd64".to_vec()));
    server.reply("/hello-2.12-aarch64.tar.gz", Reply::Body(b"arm64".to_vec()));
    let proxy = Proxy::start();
    let dir = repo_with_spec(&unverified_spec());
    let lock = dir.path().join("specs/worker.lock");
    let mirror = server.mirror();
    let args = ["lock", "--only", "downloads", &mirror];
    let via = format!("http://127.0.0.1:{}", proxy.port);
    let (code, _, stderr) = run_env(dir.path(), &args, &[("HTTPS_PROXY", &via)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(lock.exists());
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{}", server.port)),
        "the downloads did not go through the proxy:\n{log}"
    );

    std::fs::remove_file(&lock).expect("remove");
    let down = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!(
        "http://127.0.0.1:{}",
        down.local_addr().expect("addr").port()
    );
    drop(down);
    let (code, _, stderr) = run_env(dir.path(), &args, &[("https_proxy", &dead)]);
    assert!(
        code == 1 && stderr.contains("https://example.org/hello-2.12-x86_64.tar.gz"),
        "{stderr}"
    );
    assert!(!lock.exists());

    let seen = proxy.log().matches("CONNECT 127.0.0.1").count();
    let (code, _, stderr) = run_env(
        dir.path(),
        &args,
        &[("HTTPS_PROXY", &via), ("NO_PROXY", "127.0.0.1")],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(lock.exists());
    assert_eq!(
        proxy.log().matches("CONNECT 127.0.0.1").count(),
        seen,
        "NO_PROXY was not honoured"
    );
}

/// Builds two-file conda packages and indexes the channel with rattler's own indexer (PyPI
/// `py-rattler`), sharded as conda-forge serves it (CEP-16).
const SHARDED_CHANNEL: &str = r#"
import asyncio, io, json, os, sys, tarfile
from rattler import index
root = sys.argv[1]
def package(subdir, name, version, build, number):
    os.makedirs(os.path.join(root, subdir), exist_ok=True)
    meta = {"name": name, "version": version, "build": build, "build_number": number,
            "subdir": subdir, "depends": [], "license": "MIT", "timestamp": 1700000000000}
    if subdir == "noarch":
        meta["noarch"] = "generic"
    path = os.path.join(root, subdir, f"{name}-{version}-{build}.tar.bz2")
    with tarfile.open(path, "w:bz2") as t:
        for member, doc in [("info/index.json", meta), ("info/paths.json", {"paths": [], "paths_version": 1})]:
            data = json.dumps(doc).encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
package("linux-64", "xtb", "6.7.1", "h1_0", 0)
package("linux-64", "xtb", "6.7.1", "h2_2", 2)
package("linux-64", "xtb", "6.7.0", "h9_9", 9)
package("linux-aarch64", "xtb", "6.7.1", "a_1", 1)
package("noarch", "tomli", "2.0.1", "pyhd8ed1ab_0", 0)
asyncio.run(index.index_fs(root, write_zst=False, write_shards=True))
# Shards only, as a channel that serves no monolithic repodata.json.
for subdir in ("linux-64", "linux-aarch64", "noarch"):
    os.remove(os.path.join(root, subdir, "repodata.json"))
# py-rattler 0.28 can crash while the interpreter shuts its runtime down (about 1 run in 20,
# after the index is written): leave without that shutdown.
sys.stdout.flush()
os._exit(0)
"#;

/// A channel that serves only its sharded index (no `repodata.json`, like conda-forge's shards
/// without the monolith): each subdir's shard index is read once, each shard is checked against
/// the hash the index names, a name missing from a platform's shards falls back to `noarch`, and
/// the lock records the sha256 of the very package file.
#[test]
fn conda_packages_lock_from_a_sharded_channel() {
    let channel = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(crate::support::referee("python"))
        .args(["-X", "faulthandler", "-c"])
        .arg(SHARDED_CHANNEL)
        .arg(channel.path())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start();
    let mut files = Vec::new();
    for sub in ["linux-64", "linux-aarch64", "noarch"] {
        for entry in std::fs::read_dir(channel.path().join(sub)).expect("subdir") {
            let path = entry.expect("entry").path();
            let mut paths = vec![path.clone()];
            if path.is_dir() {
                paths = std::fs::read_dir(&path)
                    .expect("shards")
                    .map(|e| e.expect("shard").path())
                    .collect();
            }
            for p in paths {
                let rel = p
                    .strip_prefix(channel.path())
                    .expect("inside")
                    .to_string_lossy()
                    .to_string();
                assert!(
                    !rel.ends_with("repodata.json"),
                    "the channel must be shards only: {rel}"
                );
                files.push(rel.clone());
                server.reply(
                    &format!("/conda-forge/{rel}"),
                    Reply::Body(std::fs::read(&p).expect("read")),
                );
            }
        }
    }
    assert!(
        files.iter().any(|f| f.starts_with("linux-64/shards/")),
        "{files:?}"
    );
    let spec = fixture("minimal.yaml").replacen(
        "tools:\n",
        "tools:\n  - name: xtb\n    version: 6.7.1\n    sources:\n      amd64: { kind: conda, via: micromamba }\n      arm64: { kind: conda, via: micromamba }\n  - name: tomli\n    version: 2.0.1\n    sources:\n      amd64: { kind: conda, via: micromamba }\n      arm64: { kind: conda, via: micromamba }\n",
        1,
    )
    .replace("      digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2\n", "      digest: sha256:b4d4d5c9ab2f1a4a4b9a2bb7d1c3e9f8a7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2\n      provides: [micromamba]\n");
    let dir = repo_with_spec(&spec);
    let mirror = format!(
        "--mirror=https://conda.anaconda.org/=http://127.0.0.1:{}/",
        server.port
    );
    let args = ["lock", "--only", "conda", &mirror];

    // A shard whose bytes are not the ones its hash names is refused, and nothing is written.
    let shard = files
        .iter()
        .find(|f| f.starts_with("linux-aarch64/shards/"))
        .expect("an aarch64 shard")
        .clone();
    let good = std::fs::read(channel.path().join(&shard)).expect("read");
    let mut bad = good.clone();
    *bad.last_mut().expect("bytes") ^= 1;
    server.reply(&format!("/conda-forge/{shard}"), Reply::Body(bad));
    let (code, _, stderr) = run(dir.path(), &args);
    assert!(
        code == 1
            && stderr.contains(&format!(
                "/conda-forge/{shard}: the shard's sha256 is not the one the shard index names"
            )),
        "{stderr}"
    );
    assert!(!dir.path().join("specs/worker.lock").exists());

    server.reply(&format!("/conda-forge/{shard}"), Reply::Body(good));
    server.hits.lock().expect("hits").clear();
    let (code, _, stderr) = run(dir.path(), &args);
    assert_eq!(code, 0, "{stderr}");
    let lock = std::fs::read_to_string(dir.path().join("specs/worker.lock")).expect("read");
    let file_sha =
        |rel: &str| sha256_hex(&std::fs::read(channel.path().join(rel)).expect("package"));
    for (build, subdir, file) in [
        ("h2_2", "linux-64", "linux-64/xtb-6.7.1-h2_2.tar.bz2"),
        (
            "a_1",
            "linux-aarch64",
            "linux-aarch64/xtb-6.7.1-a_1.tar.bz2",
        ),
        (
            "pyhd8ed1ab_0",
            "noarch",
            "noarch/tomli-2.0.1-pyhd8ed1ab_0.tar.bz2",
        ),
    ] {
        let entry = format!(
            "build: \"{build}\"\n    subdir: \"{subdir}\"\n    sha256: \"{}\"",
            file_sha(file)
        );
        assert!(lock.contains(&entry), "{entry}\n--\n{lock}");
    }
    let hits = server.hits.lock().expect("hits").clone();
    for sub in ["linux-64", "linux-aarch64", "noarch"] {
        let index = format!("/conda-forge/{sub}/repodata_shards.msgpack.zst");
        assert_eq!(hits.iter().filter(|h| **h == index).count(), 1, "{hits:?}");
    }
    assert!(
        !hits.iter().any(|h| h.contains("repodata.json")),
        "{hits:?}"
    );
    let (_, _, stderr) = run(dir.path(), &["validate"]);
    assert!(!stderr.contains("qmspec::unlocked-package"), "{stderr}");
}

/// A pinned PyPI package is checked for an installable file per platform through the PyPI
/// JSON API (served locally): a platform wheel, a pure-Python wheel or an sdist; a platform
/// with none of them is an error naming the package, version and platform.
#[test]
fn pip_pins_need_a_wheel_or_sdist_for_each_platform() {
    let server = Server::start();
    let spec = fixture("minimal.yaml").replacen(
        "tools:\n",
        "tools:\n  - name: numpy\n    version: 2.1.0\n    sources:\n      amd64: { kind: pip, via: system, prefix: /opt/numpy }\n      arm64: { kind: pip, via: system, prefix: /opt/numpy }\n  - name: pyflakes\n    version: 3.2.0\n    sources:\n      amd64: { kind: pip, via: system, prefix: /opt/pyflakes }\n      arm64: { kind: pip, via: system, prefix: /opt/pyflakes }\n",
        1,
    );
    let dir = repo_with_spec(&spec);
    let file = |name: &str, kind: &str| serde_json::json!({"filename": name, "packagetype": kind, "digests": {"sha256": sha256_hex(name.as_bytes())}});
    let page = |files: Vec<serde_json::Value>| {
        Reply::Body(
            serde_json::json!({"info": {}, "urls": files})
                .to_string()
                .into_bytes(),
        )
    };
    server.reply(
        "/pypi/pyflakes/3.2.0/json",
        page(vec![file(
            "pyflakes-3.2.0-py2.py3-none-any.whl",
            "bdist_wheel",
        )]),
    );
    server.reply(
        "/pypi/numpy/2.1.0/json",
        page(vec![file(
            "numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "bdist_wheel",
        )]),
    );
    let mirror = format!(
        "--mirror=https://pypi.org/=http://127.0.0.1:{}/",
        server.port
    );
    let args = ["lock", "--only", "pip", &mirror];
    let (code, _, stderr) = run(dir.path(), &args);
    assert!(
        code == 1 && stderr.contains("numpy 2.1.0 has no wheel for linux/arm64 and no sdist"),
        "{stderr}"
    );
    server.reply(
        "/pypi/numpy/2.1.0/json",
        page(vec![
            file(
                "numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "bdist_wheel",
            ),
            file(
                "numpy-2.1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
                "bdist_wheel",
            ),
            file("numpy-2.1.0.tar.gz", "sdist"),
        ]),
    );
    let (code, _, stderr) = run(dir.path(), &args);
    assert_eq!(code, 0, "{stderr}");
    let lock = std::fs::read_to_string(dir.path().join("specs/worker.lock")).expect("read");
    assert!(lock.contains("platform: \"arm64\"\n    package: \"numpy\"\n    version: \"2.1.0\"\n    file: \"numpy-2.1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl\""), "{lock}");
    assert!(
        lock.contains("file: \"pyflakes-3.2.0-py2.py3-none-any.whl\""),
        "{lock}"
    );
    server.reply("/pypi/pyflakes/3.2.0/json", Reply::Status(404));
    let (code, _, stderr) = run(dir.path(), &args);
    assert!(
        code == 1 && stderr.contains("PyPI has no pyflakes 3.2.0"),
        "{stderr}"
    );
}

/// What a lock must never take on trust: new bytes at a URL it locked, an HTML page served
/// with 200, a loopback server redirecting to plain HTTP elsewhere, and `--only` over a lock
/// file it cannot read (it would drop the parts it was told to keep).
#[test]
fn a_lock_refuses_changed_bytes_html_pages_redirects_off_the_machine_and_partial_relocks() {
    let server = Server::start();
    let (_actions, github) = action_repos();
    let amd64 = "/hello-2.12-x86_64.tar.gz";
    server.reply(amd64, Reply::Body(b"release".to_vec()));
    server.reply("/hello-2.12-aarch64.tar.gz", Reply::Body(b"arm".to_vec()));
    let dir = repo_with_spec(&unverified_spec());
    let lock_file = dir.path().join("specs/worker.lock");
    assert_eq!(run(dir.path(), &["lock", &server.mirror(), &github]).0, 0);
    let locked = std::fs::read_to_string(&lock_file).expect("read");
    for (case, reply, want) in [
        (
            "changed bytes",
            Reply::Body(b"tampered".to_vec()),
            "its content changed since it was locked",
        ),
        (
            "html",
            Reply::Html(b"<html>rate limited</html>".to_vec()),
            "the server sent an HTML page, not a release file",
        ),
        (
            "redirect off the machine",
            Reply::Redirect("http://192.0.2.1/release.tar.gz".to_string()),
            "plain HTTP can be changed on the way",
        ),
    ] {
        server.reply(amd64, reply);
        let (code, _, stderr) = run(dir.path(), &["lock", &server.mirror(), &github]);
        assert!(code == 1 && stderr.contains(want), "{case}: {stderr}");
        assert_eq!(
            std::fs::read_to_string(&lock_file).expect("read"),
            locked,
            "{case}"
        );
    }
    std::fs::write(&lock_file, locked.replace("sha: \"", "sha: \"x")).expect("write");
    let (code, _, stderr) = run(
        dir.path(),
        &["lock", "--only", "downloads", &server.mirror(), &github],
    );
    assert!(
        code == 1 && stderr.contains("cannot keep the rest of it"),
        "{stderr}"
    );
}
