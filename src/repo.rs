//! The repository as a directory handle: every read, write and removal of a generated file is
//! resolved relative to it, one path component at a time, never following a symlink.
//!
//! A path is never checked first and opened later: each component is opened with
//! `O_NOFOLLOW | O_DIRECTORY` from the handle of the one before, so swapping a directory for a
//! symlink mid-run cannot move a write out of the repository. Files are opened with
//! `O_NONBLOCK` and checked with `fstat`, so a FIFO or device never blocks a read.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};

/// What sits at a repository path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Absent,
    File,
    Dir,
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

/// What reading a repository path found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Absent,
    /// Not a regular file (or a parent is not a plain directory): not opened for reading.
    NotAFile(Kind),
    /// A regular file larger than the limit: its size and its first `limit` bytes.
    TooLarge(u64, Vec<u8>),
    Bytes(Vec<u8>),
}

/// A path problem found while walking: a parent that is not a plain directory.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("`{component}` is {}, not a directory", kind.describe())]
    NotADir { component: String, kind: Kind },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// An open repository root.
pub struct Repo {
    root: OwnedFd,
    path: PathBuf,
}

/// Held while `generate` plans and writes; released on drop (the kernel drops it with the
/// process, so a killed run never leaves a stale lock behind).
pub struct Lock {
    _fd: OwnedFd,
}

/// How long `generate` waits for another run on the same repository before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from(e)
}

impl Repo {
    pub fn open(path: &Path) -> io::Result<Repo> {
        let root = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        Ok(Repo {
            root,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Take the repository's lock: an exclusive `flock` on the root directory itself, so no
    /// lock file is ever written. Waits at most [`LOCK_WAIT`].
    pub fn lock(&self) -> io::Result<Lock> {
        let fd = rustix::fs::openat(
            &self.root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let start = Instant::now();
        loop {
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Lock { _fd: fd }),
                Err(rustix::io::Errno::WOULDBLOCK) if start.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "another `qmspec generate` holds the repository's lock",
                    ));
                }
                Err(e) => return Err(errno(e)),
            }
        }
    }

    /// Open the directory holding `rel`'s last component. `create` makes missing directories.
    /// `Ok(None)`: a directory on the way does not exist (and `create` is false).
    fn parent(&self, rel: &str, create: bool) -> Result<Option<(OwnedFd, String)>, WalkError> {
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
        let mut cur = rustix::fs::openat(
            &self.root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        for comp in parts {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let next = match rustix::fs::openat(&cur, comp, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&cur, comp, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(errno(e).into()),
                    }
                    rustix::fs::openat(&cur, comp, flags, Mode::empty()).map_err(|e| {
                        not_a_dir(&cur, comp).unwrap_or_else(|| WalkError::Io(errno(e)))
                    })?
                }
                Err(rustix::io::Errno::NOENT) => return Ok(None),
                Err(e) => return Err(not_a_dir(&cur, comp).unwrap_or(WalkError::Io(errno(e)))),
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
        kind_at(&dir, &name)
    }

    /// Read `rel` if it is a regular file, at most `limit` bytes of it.
    pub fn read(&self, rel: &str, limit: u64) -> Result<Found, WalkError> {
        let (dir, name) = match self.parent(rel, false) {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(Found::Absent),
            Err(WalkError::NotADir { kind, .. }) => return Ok(Found::NotAFile(kind)),
            Err(e) => return Err(e),
        };
        match kind_at(&dir, &name)? {
            Kind::File => {}
            Kind::Absent => return Ok(Found::Absent),
            other => return Ok(Found::NotAFile(other)),
        }
        // Checked again on the open file: it may have been swapped since the stat above.
        let fd = match rustix::fs::openat(
            &dir,
            name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(Found::Absent),
            Err(rustix::io::Errno::LOOP) => return Ok(Found::NotAFile(Kind::Symlink)),
            Err(e) => return Err(errno(e).into()),
        };
        let st = rustix::fs::fstat(&fd).map_err(errno)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Ok(Found::NotAFile(Kind::Special));
        }
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut bytes = Vec::new();
        File::from(fd).take(limit + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            bytes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            return Ok(Found::TooLarge(size.max(limit + 1), bytes));
        }
        Ok(Found::Bytes(bytes))
    }

    /// Check that `rel` could be written: every existing parent is a plain directory and the
    /// path itself is absent or a regular file.
    pub fn writable(&self, rel: &str) -> Result<(), WalkError> {
        match self.parent(rel, false)? {
            None => Ok(()),
            Some((dir, name)) => match kind_at(&dir, &name)? {
                Kind::Absent | Kind::File => Ok(()),
                kind => Err(WalkError::NotADir {
                    component: name,
                    kind,
                }),
            },
        }
    }

    /// Replace `rel` atomically: a temporary file beside it (a name unique to this process
    /// and call), written, flushed, then renamed over it. The file keeps its permission bits;
    /// a new file is 0644, or 0755 when it starts with `#!`.
    pub fn write_atomic(&self, rel: &str, content: &[u8]) -> Result<(), WalkError> {
        let Some((dir, name)) = self.parent(rel, true)? else {
            return Err(WalkError::Io(io::Error::other(
                "cannot create the directory",
            )));
        };
        let mode = match rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                st.st_mode & 0o777
            }
            Ok(st) => {
                return Err(WalkError::NotADir {
                    component: name,
                    kind: kind_of(FileType::from_raw_mode(st.st_mode)),
                });
            }
            Err(_) if content.starts_with(b"#!") => 0o755,
            Err(_) => 0o644,
        };
        let tmp = temp_name(&name);
        let fd = rustix::fs::openat(
            &dir,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(errno)?;
        let result = (|| -> io::Result<()> {
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(errno)?;
            let mut f = File::from(fd);
            f.write_all(content)?;
            f.sync_all()?;
            rustix::fs::renameat(&dir, tmp.as_str(), &dir, name.as_str()).map_err(errno)
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        }
        result.map_err(WalkError::Io)
    }

    /// Remove the regular file `rel` (never a directory, never through a symlink).
    pub fn remove(&self, rel: &str) -> Result<(), WalkError> {
        let Some((dir, name)) = self.parent(rel, false)? else {
            return Ok(());
        };
        match kind_at(&dir, &name)? {
            Kind::File => rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty())
                .map_err(|e| WalkError::Io(errno(e))),
            Kind::Absent => Ok(()),
            kind => Err(WalkError::NotADir {
                component: name,
                kind,
            }),
        }
    }

    /// Remove temporary files that an interrupted run left beside `rel`: only names of
    /// qmspec's own pattern for that very file (`.NAME.qmspec-tmp-PID-N`), only regular files,
    /// and only when `ours` accepts their first bytes (a file that merely has such a name is
    /// left alone). Called under the lock, so no other run's temporary file is live.
    pub fn sweep_temporaries(
        &self,
        rel: &str,
        ours: &dyn Fn(&[u8]) -> bool,
    ) -> Result<(), WalkError> {
        let Some((dir, name)) = self.parent(rel, false)? else {
            return Ok(());
        };
        let prefix = format!(".{name}.qmspec-tmp-");
        let dup = rustix::fs::openat(
            &dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let entries = rustix::fs::Dir::read_from(&dup).map_err(errno)?;
        for entry in entries {
            let entry = entry.map_err(errno)?;
            let Ok(n) = entry.file_name().to_str() else {
                continue;
            };
            let is_temp = n.strip_prefix(&prefix).is_some_and(|rest| {
                rest.split_once('-').is_some_and(|(pid, k)| {
                    !pid.is_empty()
                        && !k.is_empty()
                        && pid.bytes().all(|b| b.is_ascii_digit())
                        && k.bytes().all(|b| b.is_ascii_digit())
                })
            });
            if is_temp
                && kind_at(&dir, n)? == Kind::File
                && head_at(&dir, n, 512).is_some_and(|head| ours(&head))
            {
                let _ = rustix::fs::unlinkat(&dir, n, AtFlags::empty());
            }
        }
        Ok(())
    }
}

/// The first `n` bytes of a regular file in `dir`, opened without following a symlink or
/// blocking on a FIFO.
fn head_at<Fd: AsFd>(dir: Fd, name: &str, n: u64) -> Option<Vec<u8>> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    let mut head = Vec::new();
    File::from(fd).take(n).read_to_end(&mut head).ok()?;
    Some(head)
}

fn temp_name(name: &str) -> String {
    format!(
        ".{name}.qmspec-tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn kind_of(t: FileType) -> Kind {
    match t {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Special,
    }
}

fn kind_at<Fd: AsFd>(dir: Fd, name: &str) -> Result<Kind, WalkError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(kind_of(FileType::from_raw_mode(st.st_mode))),
        Err(rustix::io::Errno::NOENT) => Ok(Kind::Absent),
        Err(e) => Err(WalkError::Io(errno(e))),
    }
}

/// Why a directory component could not be opened, when it is something other than a directory.
fn not_a_dir<Fd: AsFd>(dir: Fd, comp: &str) -> Option<WalkError> {
    match kind_at(dir, comp) {
        Ok(kind) if kind != Kind::Dir => Some(WalkError::NotADir {
            component: comp.to_string(),
            kind,
        }),
        _ => None,
    }
}
