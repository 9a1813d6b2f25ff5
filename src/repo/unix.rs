//! The Unix backend of [`super::Repo`]: `openat` with `O_NOFOLLOW | O_DIRECTORY` one component
//! at a time, `renameat2` with `RENAME_NOREPLACE`/`RENAME_EXCHANGE`, and `flock` on the root.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags};

use super::{Ident, Kind, WalkError, changed, fresh_name};

/// An open directory.
pub(super) type Dir = OwnedFd;
/// The repository's lock while it is held.
pub(super) type Held = OwnedFd;

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from(e)
}

#[allow(
    clippy::unnecessary_cast,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]
fn ident_of(st: &rustix::fs::Stat) -> Ident {
    Ident {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        size: st.st_size as i64,
        mtime: (st.st_mtime as i64, st.st_mtime_nsec as i64),
        mode: (st.st_mode as u32) & 0o777,
    }
}

/// Any name `split('/')` gives is one component on Unix (`..` is refused where paths are read).
pub(super) fn check_name(_name: &str) -> io::Result<()> {
    Ok(())
}

pub(super) fn open_root(path: &Path) -> io::Result<Dir> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)
}

/// A second handle on the same directory (its own read position).
pub(super) fn reopen(dir: &Dir) -> io::Result<Dir> {
    rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)
}

/// The exclusive `flock` on the root directory itself, so no lock file is ever written; the
/// kernel drops it with the process. `None`: another process holds it.
pub(super) fn try_lock(root: &Dir) -> io::Result<Option<Held>> {
    let fd = reopen(root)?;
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(fd)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(errno(e)),
    }
}

/// The directory `comp` in `dir`, never through a symlink. `None`: nothing by that name.
pub(super) fn open_dir(dir: &Dir, comp: &str) -> io::Result<Option<Dir>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, comp, flags, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(errno(e)),
    }
}

/// Make the directory `comp` in `dir`; one that is already there is fine.
pub(super) fn make_dir(dir: &Dir, comp: &str) -> io::Result<()> {
    match rustix::fs::mkdirat(dir, comp, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(errno(e)),
    }
}

fn kind_of(t: FileType) -> Kind {
    match t {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Special,
    }
}

pub(super) fn kind_at<Fd: AsFd>(dir: Fd, name: &str) -> io::Result<Kind> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(kind_of(FileType::from_raw_mode(st.st_mode))),
        Err(rustix::io::Errno::NOENT) => Ok(Kind::Absent),
        Err(e) => Err(errno(e)),
    }
}

/// Open a regular file in `dir` for reading, without following a symlink or blocking on a
/// FIFO; the type is checked on the open file. `Ok(Err(kind))`: what is there instead.
pub(super) fn open_regular(dir: &Dir, name: &str) -> io::Result<Result<(File, u64, Ident), Kind>> {
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(Err(Kind::Absent)),
        Err(rustix::io::Errno::LOOP) => return Ok(Err(Kind::Symlink)),
        Err(e) => return Err(errno(e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(errno)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(Err(Kind::Special));
    }
    let size = u64::try_from(st.st_size).unwrap_or(0);
    Ok(Ok((File::from(fd), size, ident_of(&st))))
}

/// Whether a stat is of the regular file classified earlier, unchanged.
fn is_expected(st: &rustix::fs::Stat, expect: Ident) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && ident_of(st) == expect
}

/// See [`super::Repo::write_atomic`]: the temporary file is written and flushed, then put in
/// place with `RENAME_NOREPLACE` (new) or `RENAME_EXCHANGE` (replacement, undone when what it
/// displaced is not the file classified).
pub(super) fn write_file(
    dir: &Dir,
    name: &str,
    rel: &str,
    content: &[u8],
    expect: Option<Ident>,
) -> Result<(), WalkError> {
    let mode = match expect {
        Some(id) => id.mode,
        None if content.starts_with(b"#!") => 0o755,
        None => 0o644,
    };
    let (tmp, fd) = fresh_name(name, "tmp", |tmp| {
        match rustix::fs::openat(
            dir,
            tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => Ok(Some(fd)),
            Err(rustix::io::Errno::EXIST) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .map_err(errno)?
    .ok_or_else(|| errno(rustix::io::Errno::EXIST))?;
    let written = (|| -> io::Result<()> {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(errno)?;
        let mut f = File::from(fd);
        f.write_all(content)?;
        f.sync_all()
    })();
    let result = written.map_err(WalkError::Io).and_then(|()| match expect {
        None => install_new(dir, &tmp, name, rel),
        Some(id) => install_over(dir, &tmp, name, rel, id),
    });
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
    }
    result
}

/// Whether a `renameat2` flag is unsupported where the file lives (some file systems).
fn unsupported(e: rustix::io::Errno) -> bool {
    matches!(
        e,
        rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::NOTSUP
    )
}

/// Put a new file in place only if nothing is there now.
fn install_new(dir: &Dir, tmp: &str, name: &str, rel: &str) -> Result<(), WalkError> {
    match rustix::fs::renameat_with(dir, tmp, dir, name, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(changed(rel)),
        // Without `renameat2` flags: check, then rename (a narrow window remains).
        Err(e) if unsupported(e) => {
            if kind_at(dir, name)? != Kind::Absent {
                return Err(changed(rel));
            }
            rustix::fs::renameat(dir, tmp, dir, name).map_err(|e| WalkError::Io(errno(e)))
        }
        Err(e) => Err(WalkError::Io(errno(e))),
    }
}

/// Swap a new file in for the one classified; undo the swap if another file was there.
fn install_over(
    dir: &Dir,
    tmp: &str,
    name: &str,
    rel: &str,
    expect: Ident,
) -> Result<(), WalkError> {
    match rustix::fs::renameat_with(dir, tmp, dir, name, RenameFlags::EXCHANGE) {
        Ok(()) => {
            // `tmp` now holds what was at `name`.
            let st = rustix::fs::statat(dir, tmp, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
            if is_expected(&st, expect) {
                rustix::fs::unlinkat(dir, tmp, AtFlags::empty()).map_err(errno)?;
                return Ok(());
            }
            rustix::fs::renameat_with(dir, tmp, dir, name, RenameFlags::EXCHANGE).map_err(errno)?;
            Err(changed(rel))
        }
        Err(rustix::io::Errno::NOENT) => Err(changed(rel)),
        Err(e) if unsupported(e) => {
            match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if is_expected(&st, expect) => {
                    rustix::fs::renameat(dir, tmp, dir, name).map_err(|e| WalkError::Io(errno(e)))
                }
                _ => Err(changed(rel)),
            }
        }
        Err(e) => Err(WalkError::Io(errno(e))),
    }
}

/// See [`super::Repo::remove`]: renamed aside first, then checked, then removed, or put back.
pub(super) fn remove(dir: &Dir, name: &str, rel: &str, expect: Ident) -> Result<(), WalkError> {
    let set_aside = fresh_name(name, "rm", |aside| {
        match rustix::fs::renameat_with(dir, name, dir, aside, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(Some(())),
            Err(rustix::io::Errno::EXIST) => Ok(None),
            Err(e) => Err(e),
        }
    });
    let aside = match set_aside {
        Ok(Some((aside, ()))) => aside,
        Ok(None) => return Err(WalkError::Io(errno(rustix::io::Errno::EXIST))),
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(WalkError::Io(errno(e))),
    };
    let st = rustix::fs::statat(dir, aside.as_str(), AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
    if is_expected(&st, expect) {
        return rustix::fs::unlinkat(dir, aside.as_str(), AtFlags::empty())
            .map_err(|e| WalkError::Io(errno(e)));
    }
    // Not the file qmspec classified: put it back where it was.
    let back = rustix::fs::renameat_with(dir, aside.as_str(), dir, name, RenameFlags::NOREPLACE);
    Err(WalkError::Changed {
        path: rel.to_string(),
        left_at: back.is_err().then_some(aside),
    })
}

/// Remove `name` if it is still the file `expect` names; best effort (a leftover is harmless).
pub(super) fn remove_if_unchanged(dir: &Dir, name: &str, expect: Ident) {
    let now = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW);
    if now.is_ok_and(|now| is_expected(&now, expect)) {
        let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
    }
}

/// The UTF-8 names in `dir` (others cannot be qmspec's).
pub(super) fn names(dir: &Dir) -> io::Result<Vec<String>> {
    let dup = reopen(dir)?;
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(&dup).map_err(errno)? {
        let entry = entry.map_err(errno)?;
        if let Ok(n) = entry.file_name().to_str() {
            out.push(n.to_string());
        }
    }
    Ok(out)
}
