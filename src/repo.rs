//! The repository as a directory handle: every read, write and removal of a generated file is
//! resolved relative to it, one path component at a time, never following a symlink.
//!
//! A path is never checked first and opened later: each component is opened from the handle
//! of the one before without following a link (`O_NOFOLLOW | O_DIRECTORY` on Unix, a
//! handle-relative `NtCreateFile` with `FILE_OPEN_REPARSE_POINT` on Windows), so swapping a
//! directory for a symlink mid-run cannot move a write out of the repository. Files are
//! checked on the open handle, so a FIFO or device never blocks a read. The system calls live
//! in one backend per platform (`unix.rs`, `windows.rs`); what they decide is here.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as sys;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as sys;

/// What sits at a repository path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Absent,
    File,
    Dir,
    /// A symlink, or on Windows any name-surrogate reparse point (symlink, junction).
    Symlink,
    /// A FIFO, socket or device: never opened.
    Special,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Absent => "nothing",
            Kind::File => "a file",
            Kind::Dir => "a directory",
            Kind::Symlink => "a symlink",
            Kind::Special => "a FIFO, socket or device",
        }
    }
}

/// Which file a path held when it was read: replaced or removed later only if it is still
/// that file, unchanged (same inode, size and modification time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    /// Device (Unix) or volume serial number (Windows).
    dev: u64,
    /// Inode (Unix) or file index (Windows).
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    /// Permission bits, kept when the file is replaced (Windows: the read-only attribute).
    mode: u32,
}

/// What reading a repository path found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Absent,
    /// Not a regular file (or a parent is not a plain directory): not opened for reading.
    NotAFile(Kind),
    /// A regular file larger than the limit: its size, its first `limit` bytes, which file.
    TooLarge(u64, Vec<u8>, Ident),
    Bytes(Vec<u8>, Ident),
}

/// A path problem found while walking: a parent that is not a plain directory.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("`{component}` is {}, not a directory", kind.describe())]
    NotADir { component: String, kind: Kind },
    /// The file changed between classifying and writing (another program wrote it).
    #[error("{path} changed while qmspec was running; it was left as it is{}", left_at.as_ref().map(|a| format!(" (moved aside to {a}: a new file took its place)")).unwrap_or_default())]
    Changed {
        path: String,
        left_at: Option<String>,
    },
    /// Windows: another program has the file open in a way that keeps it from being replaced
    /// or removed (writing it, or reading it without sharing deletion).
    #[error(
        "{path} is open in another program, so qmspec left it as it is; close it and run again"
    )]
    InUse { path: String },
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl WalkError {
    /// As an I/O error, for reports that carry one.
    pub fn into_io(self) -> io::Error {
        match self {
            WalkError::Io(e) => e,
            other => io::Error::other(other.to_string()),
        }
    }
}

/// An open repository root.
pub struct Repo {
    root: sys::Dir,
    path: PathBuf,
}

/// Held while `generate` plans and writes; released on drop (the system drops it with the
/// process, so a killed run never leaves a stale lock behind).
pub struct Lock {
    _held: sys::Held,
}

/// How long `generate` waits for another run on the same repository before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Repo {
    pub fn open(path: &Path) -> io::Result<Repo> {
        Ok(Repo {
            root: sys::open_root(path)?,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Take the repository's lock, held on the root directory itself so no lock file is ever
    /// written (an exclusive `flock` on Unix, an open that denies write sharing on Windows).
    /// Waits at most [`LOCK_WAIT`].
    pub fn lock(&self) -> io::Result<Lock> {
        self.lock_within(LOCK_WAIT)
    }

    /// [`Repo::lock`], waiting at most `wait`.
    pub fn lock_within(&self, wait: Duration) -> io::Result<Lock> {
        let start = Instant::now();
        loop {
            match sys::try_lock(&self.root)? {
                Some(held) => return Ok(Lock { _held: held }),
                None if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "another `qmspec generate` holds the repository's lock",
                    ));
                }
            }
        }
    }

    /// Open the directory holding `rel`'s last component. `create` makes missing directories.
    /// `Ok(None)`: a directory on the way does not exist (and `create` is false).
    fn parent(&self, rel: &str, create: bool) -> Result<Option<(sys::Dir, String)>, WalkError> {
        let mut parts: Vec<&str> = rel
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let Some(name) = parts.pop() else {
            return Err(WalkError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an empty path",
            )));
        };
        // Every name is checked before anything is created on the way.
        for comp in parts.iter().chain([&name]) {
            sys::check_name(comp)?;
        }
        let mut cur = sys::reopen(&self.root)?;
        for comp in parts {
            let next = match sys::open_dir(&cur, comp) {
                Ok(Some(dir)) => dir,
                Ok(None) if create => {
                    sys::make_dir(&cur, comp)?;
                    match sys::open_dir(&cur, comp) {
                        Ok(Some(dir)) => dir,
                        Ok(None) => {
                            return Err(not_a_dir(&cur, comp).unwrap_or_else(|| {
                                WalkError::Io(io::Error::from(io::ErrorKind::NotFound))
                            }));
                        }
                        Err(e) => return Err(not_a_dir(&cur, comp).unwrap_or(WalkError::Io(e))),
                    }
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(not_a_dir(&cur, comp).unwrap_or(WalkError::Io(e))),
            };
            cur = next;
        }
        Ok(Some((cur, name.to_string())))
    }

    /// What is at `rel`, without following a symlink anywhere on the way.
    pub fn kind(&self, rel: &str) -> Result<Kind, WalkError> {
        let Some((dir, name)) = self.parent(rel, false)? else {
            return Ok(Kind::Absent);
        };
        Ok(sys::kind_at(&dir, &name)?)
    }

    /// Read `rel` if it is a regular file, at most `limit` bytes of it.
    pub fn read(&self, rel: &str, limit: u64) -> Result<Found, WalkError> {
        let (dir, name) = match self.parent(rel, false) {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(Found::Absent),
            Err(WalkError::NotADir { kind, .. }) => return Ok(Found::NotAFile(kind)),
            Err(e) => return Err(e),
        };
        match sys::kind_at(&dir, &name)? {
            Kind::File => {}
            Kind::Absent => return Ok(Found::Absent),
            other => return Ok(Found::NotAFile(other)),
        }
        // Checked again on the open file: it may have been swapped since the stat above.
        let (file, size, ident) = match sys::open_regular(&dir, &name)? {
            Ok(opened) => opened,
            Err(Kind::Absent) => return Ok(Found::Absent),
            Err(kind) => return Ok(Found::NotAFile(kind)),
        };
        // Sized from the stat: read in one call (plus the one that sees the end), not in
        // `read_to_end`'s doubling steps from 32 bytes (ten reads for a 6 KiB spec).
        let expected = usize::try_from(size.min(limit) + 1).unwrap_or(0);
        let mut bytes = Vec::with_capacity(expected);
        file.take(limit + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            bytes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            return Ok(Found::TooLarge(size.max(limit + 1), bytes, ident));
        }
        Ok(Found::Bytes(bytes, ident))
    }

    /// Write `rel` atomically: a temporary file beside it (a name unique to this process and
    /// call) is written and flushed, then put in place in one step that also checks the
    /// decision made when the path was classified. `expect` is the file found then (`None`:
    /// nothing): a new file never overwrites one that appeared meanwhile (`RENAME_NOREPLACE`;
    /// on Windows a rename without `ReplaceIfExists`); a replacement happens only while the
    /// file there is still the one classified (Unix: swapped in with `RENAME_EXCHANGE` and
    /// swapped back if what it displaced is another file; Windows: the old file is opened
    /// denying writes and deletes, checked, renamed aside, the new one renamed in, the old one
    /// deleted). On Unix the file keeps its permission bits; a new one is 0644, or 0755 when it
    /// starts with `#!`.
    pub fn write_atomic(
        &self,
        rel: &str,
        content: &[u8],
        expect: Option<Ident>,
    ) -> Result<(), WalkError> {
        let Some((dir, name)) = self.parent(rel, true)? else {
            return Err(WalkError::Io(io::Error::other(
                "cannot create the directory",
            )));
        };
        sys::write_file(&dir, &name, rel, content, expect)
    }

    /// Remove the regular file `rel` if it is still the file classified (`expect`), never a
    /// directory, never through a symlink. On Unix it is renamed aside first, then checked,
    /// then removed, or put back when it changed meanwhile; on Windows it is opened denying
    /// writes and deletes by others, checked on that handle, and deleted through it.
    pub fn remove(&self, rel: &str, expect: Ident) -> Result<(), WalkError> {
        let Some((dir, name)) = self.parent(rel, false)? else {
            return Ok(());
        };
        sys::remove(&dir, &name, rel, expect)
    }

    /// Remove temporary files that an interrupted run left beside `rel`: only names of
    /// qmspec's own patterns for that very file (`.NAME.qmspec-tmp-PID-N`, and the old version
    /// a replacement or removal set aside, `.NAME.qmspec-rm-PID-N`), only regular files,
    /// and only when `ours` accepts their whole content: a killed run leaves a complete stamped
    /// file there (or an empty one, when it died between creating and writing it, which is
    /// kept: it proves nothing). Returns the names of the temporaries left in place. Called
    /// under the lock, so no other run's temporary file is live.
    pub fn sweep_temporaries(
        &self,
        rel: &str,
        ours: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Vec<String>, WalkError> {
        let Some((dir, name)) = self.parent(rel, false)? else {
            return Ok(Vec::new());
        };
        let prefixes = [
            format!(".{name}.qmspec-tmp-"),
            format!(".{name}.qmspec-rm-"),
        ];
        let folder = rel.rsplit_once('/').map_or("", |(f, _)| f);
        let mut kept = Vec::new();
        for n in sys::names(&dir)? {
            let rest = prefixes.iter().find_map(|p| n.strip_prefix(p.as_str()));
            let is_temp = rest.is_some_and(|rest| {
                rest.split_once('-').is_some_and(|(pid, k)| {
                    !pid.is_empty()
                        && !k.is_empty()
                        && pid.bytes().all(|b| b.is_ascii_digit())
                        && k.bytes().all(|b| b.is_ascii_digit())
                })
            });
            if !is_temp || sys::kind_at(&dir, &n)? != Kind::File {
                continue;
            }
            match head_at(&dir, &n, MAX_SWEEP_BYTES) {
                // Removed only if it is still the file just read.
                Some((bytes, ident)) if ours(&bytes) => sys::remove_if_unchanged(&dir, &n, ident),
                _ => kept.push(if folder.is_empty() {
                    n
                } else {
                    format!("{folder}/{n}")
                }),
            }
        }
        Ok(kept)
    }
}

/// Most bytes read from a leftover temporary file to prove it is qmspec's.
const MAX_SWEEP_BYTES: u64 = 8 << 20;

/// A regular file's content (at most `n` bytes) and which file it was, or nothing if it is
/// not one.
fn head_at(dir: &sys::Dir, name: &str, n: u64) -> Option<(Vec<u8>, Ident)> {
    let (file, size, ident) = sys::open_regular(dir, name).ok()?.ok()?;
    let mut head = Vec::with_capacity(usize::try_from(size.min(n) + 1).unwrap_or(0));
    file.take(n).read_to_end(&mut head).ok()?;
    Some((head, ident))
}

/// How many names left by earlier runs [`fresh_name`] passes over before it gives up.
const NAME_TRIES: usize = 16;

/// Take a fresh temporary or set-aside name (`kind`: `tmp`, `rm`) beside `name`: `attempt`
/// creates the file or renames to the name, and answers `Ok(None)` when the name is taken. A
/// name an earlier run left under this process id (a kept empty temporary; Windows reuses
/// ids soon) is passed over for the next. `Ok(None)`: every name tried was taken.
fn fresh_name<T, E>(
    name: &str,
    kind: &str,
    mut attempt: impl FnMut(&str) -> Result<Option<T>, E>,
) -> Result<Option<(String, T)>, E> {
    for _ in 0..=NAME_TRIES {
        let candidate = temp_name(name, kind);
        if let Some(done) = attempt(&candidate)? {
            return Ok(Some((candidate, done)));
        }
    }
    Ok(None)
}

fn temp_name(name: &str, kind: &str) -> String {
    format!(
        ".{name}.qmspec-{kind}-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg_attr(unix, allow(dead_code))]
fn in_use(rel: &str) -> WalkError {
    WalkError::InUse {
        path: rel.to_string(),
    }
}

fn changed(rel: &str) -> WalkError {
    WalkError::Changed {
        path: rel.to_string(),
        left_at: None,
    }
}

/// Why a directory component could not be opened, when it is something other than a directory.
fn not_a_dir(dir: &sys::Dir, comp: &str) -> Option<WalkError> {
    match sys::kind_at(dir, comp) {
        Ok(kind) if kind != Kind::Dir => Some(WalkError::NotADir {
            component: comp.to_string(),
            kind,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(repo: &Repo, rel: &str) -> Ident {
        match repo.read(rel, 1 << 20) {
            Ok(Found::Bytes(_, id)) => id,
            other => panic!("{rel}: {other:?}"),
        }
    }

    /// The decision made when a path was read holds at the moment of the write: a file that
    /// appeared, or changed, in between is never overwritten or removed.
    #[test]
    fn writes_and_removals_check_the_file_classified() {
        let dir = tempfile::tempdir().expect("tmp");
        let repo = Repo::open(dir.path()).expect("open");
        let path = dir.path().join("out/x");

        repo.write_atomic("out/x", b"first\n", None)
            .expect("new file");
        // A file appeared where nothing was: not overwritten.
        let err = repo
            .write_atomic("out/x", b"second\n", None)
            .expect_err("exists");
        assert!(matches!(err, WalkError::Changed { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "first\n");

        // Replaced while it is still the file read: fine, permission bits kept.
        #[cfg(unix)]
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .expect("chmod");
        let id = ident(&repo, "out/x");
        repo.write_atomic("out/x", b"second\n", Some(id))
            .expect("replace");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "second\n");
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&path).expect("stat").permissions()
            ) & 0o777,
            0o640
        );

        // Edited by someone else after it was read: neither replaced nor removed.
        let id = ident(&repo, "out/x");
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&path, "someone's edit\n").expect("edit");
        let err = repo
            .write_atomic("out/x", b"third\n", Some(id))
            .expect_err("changed");
        assert!(matches!(err, WalkError::Changed { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "someone's edit\n"
        );
        let err = repo.remove("out/x", id).expect_err("changed");
        assert!(
            matches!(err, WalkError::Changed { left_at: None, .. }),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "someone's edit\n"
        );

        // Removed when it is still the file read; nothing else is left in the folder.
        let id = ident(&repo, "out/x");
        repo.remove("out/x", id).expect("remove");
        assert!(!path.exists());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .expect("ls")
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// What an interrupted run left beside a file, its temporary copy or the old version it
    /// set aside, is removed when it is a whole file of qmspec's, and kept and named otherwise.
    #[test]
    fn leftovers_of_both_kinds_are_swept_only_when_they_are_ours() {
        let dir = tempfile::tempdir().expect("tmp");
        let repo = Repo::open(dir.path()).expect("open");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).expect("mkdir");
        for (name, text) in [
            (".x.qmspec-tmp-12-0", "ours"),
            (".x.qmspec-rm-12-1", "ours"),
            (".x.qmspec-rm-12-2", "someone's"),
            (".x.qmspec-rm-a-2", "ours"),
            (".y.qmspec-rm-12-3", "ours"),
        ] {
            std::fs::write(out.join(name), text).expect("write");
        }
        let kept = repo
            .sweep_temporaries("out/x", &|b| b == b"ours")
            .expect("sweep");
        assert_eq!(kept, ["out/.x.qmspec-rm-12-2"]);
        let mut left: Vec<_> = std::fs::read_dir(&out)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".x.qmspec-rm-12-2", ".x.qmspec-rm-a-2", ".y.qmspec-rm-12-3"]
        );
    }

    /// Windows: a read-only file is replaced and removed like any other, and its replacement
    /// is read-only too (as Unix keeps permission bits); nothing is left beside it.
    #[cfg(windows)]
    #[test]
    fn read_only_files_are_replaced_and_removed_and_stay_read_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let repo = Repo::open(dir.path()).expect("open");
        repo.write_atomic("x", b"first\n", None).expect("new");
        let path = dir.path().join("x");
        let mut perms = std::fs::metadata(&path).expect("stat").permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&path, perms).expect("read-only");
        let id = ident(&repo, "x");
        repo.write_atomic("x", b"second\n", Some(id))
            .expect("replace");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "second\n");
        assert!(
            std::fs::metadata(&path)
                .expect("stat")
                .permissions()
                .readonly()
        );
        repo.remove("x", ident(&repo, "x")).expect("remove");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }

    /// A temporary or set-aside name an earlier run left (same process id, same counter) is
    /// passed over. (Each test runs in a process of its own under nextest; with `cargo test`
    /// another test may take a name first, which only moves the collisions along.)
    #[test]
    fn a_leftover_temporary_name_is_passed_over() {
        let dir = tempfile::tempdir().expect("tmp");
        let repo = Repo::open(dir.path()).expect("open");
        let pid = std::process::id();
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        // The next temporary names, and set-aside names further on (a replacement or removal
        // comes after the write has passed over the temporary ones).
        let mut planted = Vec::new();
        for k in next..next + 12 {
            planted.push(dir.path().join(format!(".x.qmspec-tmp-{pid}-{k}")));
        }
        for k in next..next + 20 {
            planted.push(dir.path().join(format!(".x.qmspec-rm-{pid}-{k}")));
        }
        for p in &planted {
            std::fs::write(p, "").expect("w");
        }
        repo.write_atomic("x", b"new\n", None).expect("written");
        let id = ident(&repo, "x");
        repo.write_atomic("x", b"newer\n", Some(id))
            .expect("replaced");
        repo.remove("x", ident(&repo, "x")).expect("removed");
        assert!(!dir.path().join("x").exists());
        // The leftovers are untouched: empty files prove nothing.
        for p in &planted {
            assert_eq!(std::fs::read(p).expect("kept"), b"", "{}", p.display());
        }
    }

    #[test]
    fn only_a_directory_opens_as_a_repository() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("file"), "x").expect("write");
        let err = Repo::open(&dir.path().join("file"))
            .err()
            .expect("a file is no repository");
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory, "{err}");
        assert!(Repo::open(dir.path()).is_ok());
    }

    #[test]
    fn kinds_describe_themselves() {
        assert_eq!(Kind::Absent.describe(), "nothing");
        assert_eq!(Kind::File.describe(), "a file");
        assert_eq!(Kind::Dir.describe(), "a directory");
        assert_eq!(Kind::Symlink.describe(), "a symlink");
        assert_eq!(Kind::Special.describe(), "a FIFO, socket or device");
    }

    #[test]
    fn reads_are_bounded_and_paths_normalised() {
        let dir = tempfile::tempdir().expect("tmp");
        let repo = Repo::open(dir.path()).expect("open");
        std::fs::create_dir(dir.path().join("out")).expect("mkdir");
        std::fs::write(dir.path().join("out/x"), "12345").expect("write");
        assert!(matches!(repo.read("./out//x", 5), Ok(Found::Bytes(b, _)) if b == b"12345"));
        assert!(matches!(repo.read("out/x", 4), Ok(Found::TooLarge(5, b, _)) if b == b"1234"));
        assert_eq!(repo.read("out/y", 4).expect("read"), Found::Absent);
        assert_eq!(repo.kind("out").expect("kind"), Kind::Dir);
        assert_eq!(repo.kind("./out//x").expect("kind"), Kind::File);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_get_their_mode_from_their_first_bytes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let repo = Repo::open(dir.path()).expect("open");
        repo.write_atomic("a.sh", b"#!/bin/sh\n", None)
            .expect("write");
        repo.write_atomic("b", b"FROM x\n", None).expect("write");
        let mode = |n: &str| {
            std::fs::metadata(dir.path().join(n))
                .expect("stat")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!((mode("a.sh"), mode("b")), (0o755, 0o644));
    }

    #[test]
    fn a_held_lock_makes_the_next_one_wait_then_give_up() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = Repo::open(dir.path()).expect("open");
        let second = Repo::open(dir.path()).expect("open");
        let held = first.lock().expect("lock");
        let started = Instant::now();
        let err = second
            .lock_within(Duration::from_millis(200))
            .err()
            .expect("the lock is held");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(held);
        second
            .lock_within(Duration::from_millis(200))
            .expect("released");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_and_fifos_are_never_followed_or_opened() {
        let dir = tempfile::tempdir().expect("tmp");
        let outside = tempfile::tempdir().expect("tmp");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).expect("symlink");
        let repo = Repo::open(dir.path()).expect("open");
        assert!(matches!(
            repo.write_atomic("link/x", b"x", None),
            Err(WalkError::NotADir {
                kind: Kind::Symlink,
                ..
            })
        ));
        assert_eq!(
            repo.read("link/x", 10).expect("read"),
            Found::NotAFile(Kind::Symlink)
        );
        assert_eq!(std::fs::read_dir(outside.path()).expect("ls").count(), 0);
        let status = std::process::Command::new("mkfifo")
            .arg(dir.path().join("fifo"))
            .status()
            .expect("mkfifo");
        assert!(status.success());
        assert_eq!(
            repo.read("fifo", 10).expect("read"),
            Found::NotAFile(Kind::Special)
        );
        assert_eq!(repo.kind("fifo").expect("kind"), Kind::Special);
        // A FIFO where a folder should be is never opened either (it would block).
        assert_eq!(
            repo.read("fifo/x", 10).expect("read"),
            Found::NotAFile(Kind::Special)
        );
        assert!(matches!(
            repo.write_atomic("fifo/x", b"x", None),
            Err(WalkError::NotADir {
                kind: Kind::Special,
                ..
            })
        ));
    }

    /// Windows: a name NT would read as a path (`a\\b`) or a stream (`x:s`) is refused before
    /// anything is created.
    #[cfg(windows)]
    #[test]
    fn names_windows_reads_as_paths_or_streams_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let repo = Repo::open(dir.path()).expect("open");
        for rel in ["out\\x", "out/x:stream", "x:stream", "out/..", "../x"] {
            let err = repo.write_atomic(rel, b"x", None).expect_err(rel);
            assert!(
                matches!(&err, WalkError::Io(e) if e.kind() == io::ErrorKind::InvalidInput),
                "{rel}: {err}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
        assert!(!dir.path().parent().expect("parent").join("x").exists());
    }

    /// Windows: a file another program has open for writing is neither replaced nor removed;
    /// once it is closed, both go ahead.
    #[cfg(windows)]
    #[test]
    fn a_file_open_for_writing_elsewhere_is_left_alone() {
        let dir = tempfile::tempdir().expect("tmp");
        let repo = Repo::open(dir.path()).expect("open");
        repo.write_atomic("out/x", b"first\n", None).expect("new");
        let id = ident(&repo, "out/x");
        let path = dir.path().join("out/x");
        let writer = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open for writing");
        let err = repo
            .write_atomic("out/x", b"second\n", Some(id))
            .expect_err("held");
        assert!(matches!(err, WalkError::InUse { .. }), "{err}");
        assert!(err.to_string().contains("open in another program"), "{err}");
        let err = repo.remove("out/x", id).expect_err("held");
        assert!(matches!(err, WalkError::InUse { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "first\n");
        drop(writer);
        repo.write_atomic("out/x", b"second\n", Some(id))
            .expect("replace");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "second\n");
        repo.remove("out/x", ident(&repo, "out/x")).expect("remove");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .expect("ls")
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
