//! qmspec's Windows build (`x86_64-pc-windows-gnu`), run under Wine: the library's own tests,
//! the repository layer's Windows backend among them, and the binary on a copy of this
//! repository, whose files must be byte for byte what the Linux build writes.
//!
//! Wine 8 has no reparse points: a link on the Linux side looks like a plain folder to a
//! Windows program under it, so refusing symlinks and junctions is tested only as a unit
//! (`repo::windows::tests`), and needs a real Windows to be tested whole.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::install::clean_tree;
use crate::support::{build_lock, cargo, copy_of_project, qmspec, referee, referees, root, which};

const TARGET: &str = "x86_64-pc-windows-gnu";

/// The Wine prefix `tests/setup.sh` made, with its environment on `cmd`.
fn wine_env(cmd: &mut Command) -> &mut Command {
    let prefix = referees().join("wine");
    assert!(
        prefix.join(".installed").exists() && which("wine").is_some(),
        "no Wine prefix at {}: run `bash tests/setup.sh` (the README's test command does)",
        prefix.display()
    );
    cmd.env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env("NO_COLOR", "1")
}

/// Run `cmd` with its output in files, not pipes: the wineserver a first Wine process starts
/// outlives it and would hold a pipe open. Returns (exit code, stdout, stderr).
fn run_to_files(cmd: &mut Command, limit: Duration) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("out"))
        .stderr(std::fs::File::create(&err).expect("err"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).expect("read")).into_owned();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{cmd:?} was killed: {status:?}"));
    (code, read(&out), read(&err))
}

/// Cargo's target folder for the Windows builds, kept between runs.
fn target_dir() -> PathBuf {
    root().join("target/qmspec-windows")
}

/// `qmspec.exe`, built for Windows from this tree.
fn windows_binary() -> PathBuf {
    let _lock = build_lock();
    let (code, out, err) = run_to_files(
        Command::new(cargo())
            .args([
                "build", "--locked", "--quiet", "--target", TARGET, "--bin", "qmspec",
            ])
            .current_dir(root())
            .env("CARGO_TARGET_DIR", target_dir()),
        Duration::from_secs(1800),
    );
    assert_eq!(
        code, 0,
        "the Windows build failed (`bash tests/setup.sh` adds the target and the MinGW linker):\n{out}{err}"
    );
    target_dir().join(TARGET).join("debug/qmspec.exe")
}

/// Run a Wine command (built anew by `make` for each try). Wine's own client/server start-up
/// can fail when a client connects just as the previous wineserver exits ("wine client
/// error"): that, and only that, is tried again, with a server started first that stays up a
/// minute after its last client, so the tests' many short runs share one.
fn run_wine(make: &dyn Fn() -> Command, limit: Duration) -> (i32, String, String) {
    let _ = wine_env(&mut Command::new("wineserver"))
        .arg("-p60")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let mut tries = 0;
    loop {
        let (code, out, err) = run_to_files(wine_env(&mut make()), limit);
        tries += 1;
        let wine_failed = err.contains("wine client error") || out.contains("wine client error");
        if !wine_failed || tries == 3 {
            return (code, out, err);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `qmspec.exe` under Wine in `dir`: (exit code, stdout, stderr).
fn wine_qmspec(exe: &Path, dir: &Path, args: &[&str]) -> (i32, String, String) {
    run_wine(
        &|| {
            let mut cmd = Command::new("wine");
            cmd.arg(exe).args(args).current_dir(dir);
            cmd
        },
        Duration::from_secs(120),
    )
}

/// Every file under `dir`, relative path to bytes.
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("ls") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("under")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

/// The library's tests, compiled for Windows and run under Wine, pass, and the ones that test
/// the Windows backend are among them.
#[test]
fn the_library_tests_pass_on_windows() {
    let _lock = build_lock();
    let (code, out, err) = run_wine(
        &|| {
            let mut cmd = Command::new(cargo());
            cmd.args(["test", "--locked", "--target", TARGET, "--lib"])
                .current_dir(root())
                .env("CARGO_TARGET_DIR", target_dir())
                .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", "wine");
            cmd
        },
        Duration::from_secs(1800),
    );
    let text = format!("{out}{err}");
    assert_eq!(code, 0, "{text}");
    for test in [
        "repo::tests::writes_and_removals_check_the_file_classified",
        "repo::tests::reads_are_bounded_and_paths_normalised",
        "repo::tests::a_held_lock_makes_the_next_one_wait_then_give_up",
        "repo::tests::only_a_directory_opens_as_a_repository",
        "repo::tests::names_windows_reads_as_paths_or_streams_are_refused",
        "repo::tests::a_file_open_for_writing_elsewhere_is_left_alone",
        "repo::tests::read_only_files_are_replaced_and_removed_and_stay_read_only",
        "repo::tests::leftovers_of_both_kinds_are_swept_only_when_they_are_ours",
        "repo::tests::a_leftover_temporary_name_is_passed_over",
        "paths::tests::each_refusal_names_its_reason_and_limits_are_exact",
        "repo::windows::tests::links_of_every_kind_are_told_from_files_and_folders",
        "repo::windows::tests::a_name_is_one_component_never_a_path_or_a_stream",
        "config::tests::the_file_is_read_only_when_it_is_a_small_regular_file",
    ] {
        assert!(
            text.contains(&format!("test {test} ... ok")),
            "{test} did not pass:\n{text}"
        );
    }
    assert!(
        text.contains("test result: ok.") && !text.contains("FAILED"),
        "{text}"
    );
}

/// The Windows binary checks, updates and refuses as the Linux one does, and writes the same
/// bytes: the same spec edit, generated by both, leaves identical folders.
#[test]
fn the_windows_binary_writes_what_the_linux_one_writes() {
    let exe = windows_binary();
    let (win, linux) = (copy_of_project(), copy_of_project());
    let (code, out, err) = wine_qmspec(&exe, win.path(), &["--version"]);
    assert_eq!(
        (code, out.trim()),
        (0, format!("qmspec {}", env!("CARGO_PKG_VERSION")).as_str()),
        "{err}"
    );
    let (code, out, err) = wine_qmspec(&exe, win.path(), &["check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("8 generated files are up to date"),
        "{out}{err}"
    );

    // A spec edit: stale, then updated to what Linux writes.
    for dir in [&win, &linux] {
        let spec = dir.path().join("specs/worker.yaml");
        let text = std::fs::read_to_string(&spec).expect("read");
        assert!(text.contains("NWCHEM_NPROC: \"4\""));
        std::fs::write(
            &spec,
            text.replace("NWCHEM_NPROC: \"4\"", "NWCHEM_NPROC: \"8\""),
        )
        .expect("w");
    }
    // A spec named on the command line, with Windows' separator or `/`.
    for arg in ["specs\\worker.yaml", "specs/worker.yaml"] {
        let (code, out, err) = wine_qmspec(&exe, win.path(), &["validate", arg]);
        assert_eq!(code, 0, "{arg}: {out}{err}");
    }
    let (code, out, err) = wine_qmspec(&exe, win.path(), &["check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("qmspec::stale")
            && out.contains("× generated/Dockerfile.worker.amd64 is stale"),
        "{out}{err}"
    );
    let (code, out, err) = wine_qmspec(&exe, win.path(), &["generate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("updated   generated/Dockerfile.worker.amd64"),
        "{out}"
    );
    qmspec(linux.path()).args(["generate"]).assert().code(0);
    for sub in ["generated", "schema", "specs"] {
        let (w, l) = (files(&win.path().join(sub)), files(&linux.path().join(sub)));
        assert_eq!(
            w.keys().collect::<Vec<_>>(),
            l.keys().collect::<Vec<_>>(),
            "{sub}"
        );
        for (rel, bytes) in &w {
            assert!(
                *bytes == l[rel],
                "{sub}/{rel} differs between the Windows and Linux builds"
            );
        }
    }
    let (code, out, err) = wine_qmspec(&exe, win.path(), &["check"]);
    assert_eq!(code, 0, "{out}{err}");
    // And the Linux build accepts what the Windows one wrote, and the reverse.
    qmspec(win.path()).args(["check"]).assert().code(0);
    assert_eq!(wine_qmspec(&exe, linux.path(), &["check"]).0, 0);

    // A hand edit is reported and kept.
    let file = win.path().join("generated/Dockerfile.worker.amd64");
    let edited = std::fs::read_to_string(&file)
        .expect("read")
        .replace("USER 10001:10001", "USER 0");
    std::fs::write(&file, &edited).expect("write");
    let (code, out, err) = wine_qmspec(&exe, win.path(), &["check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("× generated/Dockerfile.worker.amd64 was edited by hand"),
        "{out}"
    );
    let (code, out, err) = wine_qmspec(&exe, win.path(), &["generate"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("edited by hand") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        edited,
        "the edit is kept"
    );

    // A file without qmspec's stamp where one of its files was is not replaced.
    let mine = win.path().join("generated/Dockerfile.worker.arm64");
    std::fs::write(&mine, "FROM scratch\n").expect("write");
    let (code, out, err) = wine_qmspec(&exe, win.path(), &["generate"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(&mine).expect("read"),
        "FROM scratch\n"
    );
    let (code, out, _) = wine_qmspec(&exe, win.path(), &["check"]);
    assert_eq!(code, 1);
    assert!(out.contains("generated/Dockerfile.worker.arm64"), "{out}");

    // Removed by hand: written again; --force takes the hand edit back.
    std::fs::remove_file(&mine).expect("rm");
    let (code, out, err) = wine_qmspec(&exe, win.path(), &["generate", "--force"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("created   generated/Dockerfile.worker.arm64"),
        "{out}"
    );
    assert_eq!(
        files(&win.path().join("generated")),
        files(&linux.path().join("generated"))
    );
    // Nothing but what qmspec owns is left behind: no temporary or set-aside files.
    assert!(
        !files(win.path())
            .keys()
            .any(|k| k.contains(".qmspec-tmp-") || k.contains(".qmspec-rm-")),
        "{:?}",
        files(win.path()).keys().collect::<Vec<_>>()
    );
}

/// The Windows wheel, as the release builds it but with the GNU toolchain (the release uses
/// MSVC, which is not on this machine): maturin makes a `win_amd64` wheel from a clean tree,
/// whose `qmspec.exe` runs under Wine and checks a copy of this repository.
#[test]
fn the_windows_wheel_holds_a_binary_that_checks_a_repository() {
    let tree = tempfile::tempdir().expect("tmp");
    clean_tree(tree.path());
    let out = tempfile::tempdir().expect("tmp");
    {
        let _lock = build_lock();
        let (code, stdout, stderr) = run_to_files(
            Command::new(referee("maturin"))
                .args([
                    "build",
                    "--release",
                    "--locked",
                    "--target",
                    TARGET,
                    "--out",
                ])
                .arg(out.path())
                .current_dir(tree.path().join("python"))
                .env(
                    "CARGO_TARGET_DIR",
                    root().join("target/qmspec-windows-wheel"),
                ),
            Duration::from_secs(1800),
        );
        assert_eq!(code, 0, "maturin failed:\n{stdout}{stderr}");
    }
    let wheels: Vec<PathBuf> = std::fs::read_dir(out.path())
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .collect();
    let name = |p: &PathBuf| p.file_name().expect("name").to_string_lossy().into_owned();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    assert_eq!(
        name(&wheels[0]),
        format!(
            "qmspec-{}-py3-none-win_amd64.whl",
            env!("CARGO_PKG_VERSION")
        )
    );
    let unpacked = tempfile::tempdir().expect("tmp");
    let (code, stdout, stderr) = run_to_files(
        Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheels[0])
            .arg(unpacked.path()),
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let info = unpacked
        .path()
        .join(format!("qmspec-{}.dist-info", env!("CARGO_PKG_VERSION")));
    let metadata = std::fs::read_to_string(info.join("METADATA")).expect("METADATA");
    assert!(
        metadata.contains("Classifier: Operating System :: Microsoft :: Windows"),
        "{metadata}"
    );
    let exe = unpacked.path().join(format!(
        "qmspec-{}.data/scripts/qmspec.exe",
        env!("CARGO_PKG_VERSION")
    ));
    let project = copy_of_project();
    let (code, stdout, stderr) = wine_qmspec(&exe, project.path(), &["--version"]);
    assert_eq!(
        (code, stdout.trim()),
        (0, format!("qmspec {}", env!("CARGO_PKG_VERSION")).as_str()),
        "{stderr}"
    );
    let (code, stdout, stderr) = wine_qmspec(&exe, project.path(), &["check", "--full"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("8 generated files are up to date"),
        "{stdout}{stderr}"
    );
}
