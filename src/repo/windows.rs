//! The Windows backend of [`super::Repo`]: every open is an `NtCreateFile` relative to the
//! handle of the directory before (`RootDirectory`), one component at a time, with
//! `FILE_OPEN_REPARSE_POINT` so a symlink or junction is opened as itself and refused, never
//! followed. Directory handles are held without `FILE_SHARE_DELETE`, so a directory on the way
//! cannot be renamed or removed while qmspec stands in it: the Windows form of `openat`.
//!
//! There is no `RENAME_EXCHANGE` here. A replacement opens the old file denying writes and
//! deletes to everyone else, checks it on that handle, renames it aside, renames the new file
//! in without `ReplaceIfExists` and deletes the old one through its handle: a file another
//! program wrote or put there meanwhile is never overwritten or removed. (For that moment the
//! path is empty; a reader sees no file, never a half one.)

use std::fs::File;
use std::io::{self, Write};
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::Path;

use windows_sys::Wdk::Foundation::OBJECT_ATTRIBUTES;
use windows_sys::Wdk::Storage::FileSystem::{
    FILE_BASIC_INFORMATION, FILE_CREATE, FILE_DIRECTORY_FILE, FILE_DISPOSITION_INFORMATION,
    FILE_DISPOSITION_INFORMATION_EX, FILE_NON_DIRECTORY_FILE, FILE_OPEN, FILE_OPEN_REPARSE_POINT,
    FILE_RENAME_INFORMATION, FILE_SYNCHRONOUS_IO_NONALERT, FileBasicInformation,
    FileDispositionInformation, FileDispositionInformationEx, FileRenameInformation, NtCreateFile,
    NtSetInformationFile,
};
use windows_sys::Win32::Foundation::{
    ERROR_DIRECTORY, ERROR_NO_MORE_FILES, GetLastError, HANDLE, NTSTATUS, OBJ_CASE_INSENSITIVE,
    RtlNtStatusToDosError, STATUS_CANNOT_DELETE, STATUS_DELETE_PENDING, STATUS_FILE_IS_A_DIRECTORY,
    STATUS_INVALID_INFO_CLASS, STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED,
    STATUS_NOT_SUPPORTED, STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND, STATUS_OBJECT_PATH_SYNTAX_BAD,
    STATUS_SHARING_VIOLATION, STATUS_UNSUCCESSFUL, UNICODE_STRING,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, DELETE, FILE_ADD_SUBDIRECTORY, FILE_ATTRIBUTE_ARCHIVE,
    FILE_ATTRIBUTE_DEVICE, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_NORMAL,
    FILE_ATTRIBUTE_NOT_CONTENT_INDEXED, FILE_ATTRIBUTE_OFFLINE, FILE_ATTRIBUTE_READONLY,
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_ATTRIBUTE_SYSTEM, FILE_ATTRIBUTE_TAG_INFO,
    FILE_ATTRIBUTE_TEMPORARY, FILE_DISPOSITION_FLAG_DELETE,
    FILE_DISPOSITION_FLAG_IGNORE_READONLY_ATTRIBUTE, FILE_DISPOSITION_FLAG_POSIX_SEMANTICS,
    FILE_FLAG_BACKUP_SEMANTICS, FILE_FULL_DIR_INFO, FILE_GENERIC_READ, FILE_GENERIC_WRITE,
    FILE_LIST_DIRECTORY, FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, FILE_TRAVERSE, FILE_WRITE_ATTRIBUTES, FileAttributeTagInfo,
    FileFullDirectoryInfo, FileFullDirectoryRestartInfo, GetFileInformationByHandle,
    GetFileInformationByHandleEx, SYNCHRONIZE,
};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

use super::{Ident, Kind, WalkError, changed, fresh_name, in_use};

/// An open directory.
pub(super) type Dir = OwnedHandle;
/// The repository's lock while it is held: the root opened for writing, denying write sharing.
pub(super) type Held = OwnedHandle;

/// A reparse tag whose point names another file (symlink, junction): bit 29 of the tag.
const NAME_SURROGATE: u32 = 0x2000_0000;

/// Shares for directories on the way: everyone may read and write in them, nobody may rename
/// or remove them while qmspec holds them.
const DIR_SHARE: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE;
/// Shares for a file being read or looked at: never in anybody's way.
const ALL_SHARE: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

fn nt_error(status: NTSTATUS) -> io::Error {
    // SAFETY: a pure lookup from one status code to another.
    let code = unsafe { RtlNtStatusToDosError(status) };
    io::Error::from_raw_os_error(code as i32)
}

/// A name as one path component: no separator, no stream (`:`), no NUL, not `..`. NT would
/// parse `a\b` as two components, the second one followed through a link.
fn component(name: &str) -> io::Result<Vec<u16>> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['\\', ':', '\0'])
        || name.len() > 255;
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` cannot be a file name on Windows"),
        ));
    }
    Ok(name.encode_utf16().collect())
}

/// See [`component`].
pub(super) fn check_name(name: &str) -> io::Result<()> {
    component(name).map(drop)
}

/// `NtCreateFile` relative to `dir`, never following a reparse point. An empty `name` opens
/// `dir` itself again (a handle of its own, with its own access and directory position).
fn open_at(
    dir: &OwnedHandle,
    name: &[u16],
    access: u32,
    share: u32,
    disposition: u32,
    options: u32,
) -> Result<OwnedHandle, NTSTATUS> {
    let bytes = u16::try_from(name.len() * 2).map_err(|_| STATUS_OBJECT_NAME_NOT_FOUND)?;
    let unicode = UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: name.as_ptr().cast_mut(),
    };
    let attributes = OBJECT_ATTRIBUTES {
        Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: dir.as_raw_handle() as HANDLE,
        ObjectName: &unicode,
        Attributes: OBJ_CASE_INSENSITIVE,
        SecurityDescriptor: std::ptr::null(),
        SecurityQualityOfService: std::ptr::null(),
    };
    let mut handle: HANDLE = std::ptr::null_mut();
    // SAFETY: every pointer is to a live local for the duration of the call.
    let mut status_block: IO_STATUS_BLOCK = unsafe { std::mem::zeroed() };
    let status = unsafe {
        NtCreateFile(
            &mut handle,
            access | SYNCHRONIZE,
            &attributes,
            &mut status_block,
            std::ptr::null(),
            0,
            share,
            disposition,
            options | FILE_OPEN_REPARSE_POINT | FILE_SYNCHRONOUS_IO_NONALERT,
            std::ptr::null(),
            0,
        )
    };
    if status < 0 {
        return Err(status);
    }
    // SAFETY: the call succeeded, so `handle` is a fresh handle this process owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle as _) })
}

fn absent(status: NTSTATUS) -> bool {
    matches!(
        status,
        STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND | STATUS_DELETE_PENDING
    )
}

/// What an open handle is, and which file.
struct Info {
    kind: Kind,
    ident: Ident,
    size: u64,
}

/// What a file is from its attributes and, for a reparse point, its tag (`Some(None)`: the
/// tag could not be read). A point that names another file (symlink, junction) is a link,
/// refused and never followed, as is one whose tag is unknown; other reparse points (cloud
/// placeholders, deduplicated files) are the file or folder they stand for.
fn kind_of(attributes: u32, tag: Option<Option<u32>>) -> Kind {
    match tag {
        Some(None) => Kind::Symlink,
        Some(Some(tag)) if tag & NAME_SURROGATE != 0 => Kind::Symlink,
        _ if attributes & FILE_ATTRIBUTE_DIRECTORY != 0 => Kind::Dir,
        _ if attributes & FILE_ATTRIBUTE_DEVICE != 0 => Kind::Special,
        _ => Kind::File,
    }
}

/// `GetFileInformationByHandle`: attributes, volume, file index, size, times.
fn by_handle(handle: &OwnedHandle) -> io::Result<BY_HANDLE_FILE_INFORMATION> {
    // SAFETY: a plain C struct filled by the call on a handle this process owns.
    let mut by: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    if unsafe { GetFileInformationByHandle(handle.as_raw_handle() as HANDLE, &mut by) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(by)
}

fn info(handle: &OwnedHandle) -> io::Result<Info> {
    let raw = handle.as_raw_handle() as HANDLE;
    let by = by_handle(handle)?;
    let attributes = by.dwFileAttributes;
    let tag = (attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0).then(|| {
        let mut tag: FILE_ATTRIBUTE_TAG_INFO = unsafe { std::mem::zeroed() };
        let ok = unsafe {
            GetFileInformationByHandleEx(
                raw,
                FileAttributeTagInfo,
                (&raw mut tag).cast(),
                size_of::<FILE_ATTRIBUTE_TAG_INFO>() as u32,
            )
        };
        (ok != 0).then_some(tag.ReparseTag)
    });
    let kind = kind_of(attributes, tag);
    let size = (u64::from(by.nFileSizeHigh) << 32) | u64::from(by.nFileSizeLow);
    let mtime = (u64::from(by.ftLastWriteTime.dwHighDateTime) << 32)
        | u64::from(by.ftLastWriteTime.dwLowDateTime);
    let ident = Ident {
        dev: u64::from(by.dwVolumeSerialNumber),
        ino: (u64::from(by.nFileIndexHigh) << 32) | u64::from(by.nFileIndexLow),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        mtime: (i64::try_from(mtime).unwrap_or(i64::MAX), 0),
        mode: if attributes & FILE_ATTRIBUTE_READONLY != 0 {
            0o444
        } else {
            0o644
        },
    };
    Ok(Info { kind, ident, size })
}

pub(super) fn open_root(path: &Path) -> io::Result<Dir> {
    let file = std::fs::OpenOptions::new()
        .access_mode(FILE_LIST_DIRECTORY | FILE_TRAVERSE | FILE_READ_ATTRIBUTES | SYNCHRONIZE)
        .share_mode(DIR_SHARE)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)?;
    let handle = OwnedHandle::from(file);
    if info(&handle)?.kind != Kind::Dir {
        return Err(io::Error::from_raw_os_error(ERROR_DIRECTORY as i32));
    }
    Ok(handle)
}

/// A second handle on the same directory, opened anew (its own listing position).
pub(super) fn reopen(dir: &Dir) -> io::Result<Dir> {
    open_at(
        dir,
        &[],
        FILE_LIST_DIRECTORY | FILE_TRAVERSE | FILE_READ_ATTRIBUTES,
        DIR_SHARE,
        FILE_OPEN,
        FILE_DIRECTORY_FILE,
    )
    .map_err(nt_error)
}

/// The root opened again for writing while denying write sharing to every other open: a
/// second run's same open fails with a sharing violation until this handle closes, which the
/// system does when the process ends. qmspec's other opens of a folder ask only to read and
/// share writing, and its renames name no target folder (see [`rename`]), so only another lock
/// conflicts among them. Another program that renames a file into the root by its full path
/// (some editors save so) has the root opened for writing by the system, and waits for the
/// run to end.
pub(super) fn try_lock(root: &Dir) -> io::Result<Option<Held>> {
    match open_at(
        root,
        &[],
        FILE_ADD_SUBDIRECTORY | FILE_READ_ATTRIBUTES,
        FILE_SHARE_READ,
        FILE_OPEN,
        FILE_DIRECTORY_FILE,
    ) {
        Ok(handle) => Ok(Some(handle)),
        Err(STATUS_SHARING_VIOLATION) => Ok(None),
        Err(status) => Err(nt_error(status)),
    }
}

/// The directory `comp` in `dir`, never through a link. `None`: nothing by that name.
pub(super) fn open_dir(dir: &Dir, comp: &str) -> io::Result<Option<Dir>> {
    let name = component(comp)?;
    let handle = match open_at(
        dir,
        &name,
        FILE_LIST_DIRECTORY | FILE_TRAVERSE | FILE_READ_ATTRIBUTES,
        DIR_SHARE,
        FILE_OPEN,
        FILE_DIRECTORY_FILE,
    ) {
        Ok(handle) => handle,
        Err(status) if absent(status) => return Ok(None),
        Err(status) => return Err(nt_error(status)),
    };
    // A directory symlink or junction opens as itself here: refused (the caller names it).
    if info(&handle)?.kind != Kind::Dir {
        return Err(io::Error::from_raw_os_error(ERROR_DIRECTORY as i32));
    }
    Ok(Some(handle))
}

/// Make the directory `comp` in `dir`; one that is already there is fine.
pub(super) fn make_dir(dir: &Dir, comp: &str) -> io::Result<()> {
    let name = component(comp)?;
    match open_at(
        dir,
        &name,
        FILE_LIST_DIRECTORY,
        ALL_SHARE,
        FILE_CREATE,
        FILE_DIRECTORY_FILE,
    ) {
        Ok(_) | Err(STATUS_OBJECT_NAME_COLLISION) => Ok(()),
        Err(status) => Err(nt_error(status)),
    }
}

pub(super) fn kind_at(dir: &Dir, name: &str) -> io::Result<Kind> {
    let name = component(name)?;
    // Reading attributes only: no sharing is checked, nobody is in the way.
    match open_at(dir, &name, FILE_READ_ATTRIBUTES, ALL_SHARE, FILE_OPEN, 0) {
        Ok(handle) => Ok(info(&handle)?.kind),
        Err(status) if absent(status) => Ok(Kind::Absent),
        Err(status) => Err(nt_error(status)),
    }
}

/// Open a regular file in `dir` for reading, without following a link; the type is checked
/// on the open handle. `Ok(Err(kind))`: what is there instead.
pub(super) fn open_regular(dir: &Dir, name: &str) -> io::Result<Result<(File, u64, Ident), Kind>> {
    let name = component(name)?;
    let handle = match open_at(
        dir,
        &name,
        FILE_GENERIC_READ,
        ALL_SHARE,
        FILE_OPEN,
        FILE_NON_DIRECTORY_FILE,
    ) {
        Ok(handle) => handle,
        Err(status) if absent(status) => return Ok(Err(Kind::Absent)),
        Err(STATUS_FILE_IS_A_DIRECTORY) => return Ok(Err(Kind::Dir)),
        Err(status) => return Err(nt_error(status)),
    };
    let Info { kind, ident, size } = info(&handle)?;
    if kind != Kind::File {
        return Ok(Err(kind));
    }
    Ok(Ok((File::from(handle), size, ident)))
}

/// Rename the file behind `handle` (opened with `DELETE`) to `name` in its own folder `dir`,
/// never over a file that is there. A bare name with no `RootDirectory` renames within the
/// folder, and Windows then opens no target folder, which the repository's lock would refuse
/// for a file at the root. Wine 8 does not know that form (it answers that the path's syntax
/// is bad); where the form is refused so, the rename is tried again relative to `dir`.
fn rename(handle: &OwnedHandle, dir: &Dir, name: &str) -> Result<(), NTSTATUS> {
    match rename_relative(handle, None, name) {
        // Only where the form itself is refused: a real refusal (access, sharing) is reported
        // as it is, not as what the second form would meet.
        Err(
            STATUS_OBJECT_PATH_SYNTAX_BAD
            | STATUS_OBJECT_NAME_INVALID
            | STATUS_INVALID_PARAMETER
            | STATUS_NOT_IMPLEMENTED
            | STATUS_NOT_SUPPORTED,
        ) => rename_relative(handle, Some(dir), name),
        done => done,
    }
}

fn rename_relative(handle: &OwnedHandle, dir: Option<&Dir>, name: &str) -> Result<(), NTSTATUS> {
    let name = component(name).map_err(|_| STATUS_OBJECT_NAME_NOT_FOUND)?;
    let head = std::mem::offset_of!(FILE_RENAME_INFORMATION, FileName);
    // Never shorter than the structure itself: the system refuses that even when the name
    // (one or two characters) ends before the structure's padding does.
    let length = (head + name.len() * 2).max(size_of::<FILE_RENAME_INFORMATION>());
    // u64 words: the structure's own alignment.
    let mut buffer = vec![0u64; length.div_ceil(8)];
    let info = buffer.as_mut_ptr().cast::<FILE_RENAME_INFORMATION>();
    // SAFETY: `buffer` is zeroed, aligned and long enough for the header and the name.
    unsafe {
        (*info).Anonymous.ReplaceIfExists = false;
        (*info).RootDirectory = dir.map_or(std::ptr::null_mut(), |d| d.as_raw_handle() as HANDLE);
        (*info).FileNameLength = (name.len() * 2) as u32;
        std::ptr::copy_nonoverlapping(
            name.as_ptr(),
            (&raw mut (*info).FileName).cast::<u16>(),
            name.len(),
        );
    }
    set_information(handle, info.cast(), length, FileRenameInformation)
}

/// Delete the file behind `handle` (opened with `DELETE`). With POSIX semantics (Windows 10
/// 1709 and later) the name is free at once, even while a reader that shares deleting still
/// has it open, and a read-only file goes too. Elsewhere the file is marked for deletion on
/// close; a read-only one has that attribute cleared first (the handle then needs
/// `FILE_WRITE_ATTRIBUTES`), and set again if it still cannot go.
fn delete(handle: &OwnedHandle) -> Result<(), NTSTATUS> {
    let ex = FILE_DISPOSITION_INFORMATION_EX {
        Flags: FILE_DISPOSITION_FLAG_DELETE
            | FILE_DISPOSITION_FLAG_POSIX_SEMANTICS
            | FILE_DISPOSITION_FLAG_IGNORE_READONLY_ATTRIBUTE,
    };
    match set_information(
        handle,
        (&raw const ex).cast(),
        size_of::<FILE_DISPOSITION_INFORMATION_EX>(),
        FileDispositionInformationEx,
    ) {
        // Not known here, or the read-only flag not honoured: the classic way.
        Err(
            STATUS_INVALID_INFO_CLASS
            | STATUS_INVALID_PARAMETER
            | STATUS_NOT_IMPLEMENTED
            | STATUS_NOT_SUPPORTED
            | STATUS_CANNOT_DELETE,
        ) => {}
        done => return done,
    }
    let classic = FILE_DISPOSITION_INFORMATION { DeleteFile: true };
    let mark = || {
        set_information(
            handle,
            (&raw const classic).cast(),
            size_of::<FILE_DISPOSITION_INFORMATION>(),
            FileDispositionInformation,
        )
    };
    match mark() {
        Err(STATUS_CANNOT_DELETE) => {
            let attributes = attributes_of(handle)?;
            if attributes & FILE_ATTRIBUTE_READONLY == 0 {
                return Err(STATUS_CANNOT_DELETE);
            }
            set_attributes(handle, attributes & !FILE_ATTRIBUTE_READONLY)?;
            let done = mark();
            if done.is_err() {
                let _ = set_attributes(handle, attributes);
            }
            done
        }
        done => done,
    }
}

/// The attributes of the file behind `handle`.
fn attributes_of(handle: &OwnedHandle) -> Result<u32, NTSTATUS> {
    by_handle(handle)
        .map(|by| by.dwFileAttributes)
        .map_err(|_| STATUS_UNSUCCESSFUL)
}

/// Set or clear only the read-only attribute of the file behind `handle` (opened with
/// `FILE_WRITE_ATTRIBUTES`); its other attributes and its times stay.
fn set_read_only(handle: &OwnedHandle, read_only: bool) -> Result<(), NTSTATUS> {
    let attributes = attributes_of(handle)?;
    set_attributes(
        handle,
        if read_only {
            attributes | FILE_ATTRIBUTE_READONLY
        } else {
            attributes & !FILE_ATTRIBUTE_READONLY
        },
    )
}

/// Set the attributes a file may have set (`FILE_ATTRIBUTE_NORMAL` stands for none); zero
/// times leave the times as they are.
fn set_attributes(handle: &OwnedHandle, attributes: u32) -> Result<(), NTSTATUS> {
    let settable = attributes
        & (FILE_ATTRIBUTE_READONLY
            | FILE_ATTRIBUTE_HIDDEN
            | FILE_ATTRIBUTE_SYSTEM
            | FILE_ATTRIBUTE_ARCHIVE
            | FILE_ATTRIBUTE_TEMPORARY
            | FILE_ATTRIBUTE_OFFLINE
            | FILE_ATTRIBUTE_NOT_CONTENT_INDEXED);
    let basic = FILE_BASIC_INFORMATION {
        CreationTime: 0,
        LastAccessTime: 0,
        LastWriteTime: 0,
        ChangeTime: 0,
        FileAttributes: if settable == 0 {
            FILE_ATTRIBUTE_NORMAL
        } else {
            settable
        },
    };
    set_information(
        handle,
        (&raw const basic).cast(),
        size_of::<FILE_BASIC_INFORMATION>(),
        FileBasicInformation,
    )
}

fn set_information(
    handle: &OwnedHandle,
    info: *const std::ffi::c_void,
    length: usize,
    class: i32,
) -> Result<(), NTSTATUS> {
    // SAFETY: `info` points at `length` initialised bytes of the structure `class` names.
    let mut status_block: IO_STATUS_BLOCK = unsafe { std::mem::zeroed() };
    let status = unsafe {
        NtSetInformationFile(
            handle.as_raw_handle() as HANDLE,
            &mut status_block,
            info,
            length as u32,
            class,
        )
    };
    if status < 0 { Err(status) } else { Ok(()) }
}

/// What [`hold_expected`] found.
enum Holding {
    /// The file classified, now held.
    It(OwnedHandle),
    /// Not the regular file `expect` names (or nothing).
    Other,
    /// Another program has it open in a way that conflicts: writing, or reading without
    /// sharing deletion.
    InUse,
}

/// The file at `name`, opened so that nobody else can write, rename or delete it while the
/// handle is held (`DELETE` is asked so that qmspec itself can, and for a read-only file
/// `FILE_WRITE_ATTRIBUTES`, to clear that attribute), and checked on that handle.
fn hold_expected(dir: &Dir, name: &str, expect: Ident) -> io::Result<Holding> {
    let wide = component(name)?;
    let handle = match open_at(
        dir,
        &wide,
        DELETE
            | FILE_READ_ATTRIBUTES
            | if expect.mode == 0o444 {
                FILE_WRITE_ATTRIBUTES
            } else {
                0
            },
        FILE_SHARE_READ,
        FILE_OPEN,
        FILE_NON_DIRECTORY_FILE,
    ) {
        Ok(handle) => handle,
        Err(status) if absent(status) => return Ok(Holding::Other),
        Err(STATUS_FILE_IS_A_DIRECTORY) => return Ok(Holding::Other),
        Err(STATUS_SHARING_VIOLATION) => return Ok(Holding::InUse),
        Err(status) => return Err(nt_error(status)),
    };
    let now = info(&handle)?;
    Ok(if now.kind == Kind::File && now.ident == expect {
        Holding::It(handle)
    } else {
        Holding::Other
    })
}

/// See [`super::Repo::write_atomic`]. A replacement keeps the read-only attribute of the file
/// it replaces, as Unix keeps permission bits.
pub(super) fn write_file(
    dir: &Dir,
    name: &str,
    rel: &str,
    content: &[u8],
    expect: Option<Ident>,
) -> Result<(), WalkError> {
    let (_, handle) = fresh_name(name, "tmp", |tmp| {
        match open_at(
            dir,
            &component(tmp)?,
            FILE_GENERIC_WRITE | DELETE | FILE_READ_ATTRIBUTES,
            FILE_SHARE_READ,
            FILE_CREATE,
            FILE_NON_DIRECTORY_FILE,
        ) {
            Ok(handle) => Ok(Some(handle)),
            Err(STATUS_OBJECT_NAME_COLLISION) => Ok(None),
            Err(status) => Err(nt_error(status)),
        }
    })?
    .ok_or_else(|| nt_error(STATUS_OBJECT_NAME_COLLISION))?;
    let mut file = File::from(handle);
    let written = file.write_all(content).and_then(|()| file.sync_all());
    let handle = OwnedHandle::from(file);
    let read_only = expect.is_some_and(|id| id.mode == 0o444);
    let written = written.and_then(|()| {
        if read_only {
            set_read_only(&handle, true).map_err(nt_error)?;
        }
        Ok(())
    });
    // Whether the new file took its name: from then on it is never deleted here.
    let mut placed = false;
    let result = written.map_err(WalkError::Io).and_then(|()| match expect {
        None => match rename(&handle, dir, name) {
            Ok(()) => {
                placed = true;
                Ok(())
            }
            Err(STATUS_OBJECT_NAME_COLLISION) => Err(changed(rel)),
            Err(status) => Err(WalkError::Io(nt_error(status))),
        },
        Some(id) => install_over(dir, &handle, name, rel, id, &mut placed),
    });
    if !placed {
        // The temporary file goes with its handle.
        let _ = delete(&handle);
    }
    result
}

/// Put the new file (`new`, still at its temporary name) in place of the one classified.
fn install_over(
    dir: &Dir,
    new: &OwnedHandle,
    name: &str,
    rel: &str,
    expect: Ident,
    placed: &mut bool,
) -> Result<(), WalkError> {
    let old = match hold_expected(dir, name, expect)? {
        Holding::It(old) => old,
        Holding::Other => return Err(changed(rel)),
        Holding::InUse => return Err(in_use(rel)),
    };
    let (aside, ()) = fresh_name(name, "rm", |aside| match rename(&old, dir, aside) {
        Ok(()) => Ok(Some(())),
        Err(STATUS_OBJECT_NAME_COLLISION) => Ok(None),
        Err(status) => Err(nt_error(status)),
    })?
    .ok_or_else(|| nt_error(STATUS_OBJECT_NAME_COLLISION))?;
    match rename(new, dir, name) {
        Ok(()) => {
            *placed = true;
            // The new file is in place; an old one that cannot go is named, and swept by the
            // next run (it is a whole file qmspec wrote).
            delete(&old).map_err(|status| {
                WalkError::Io(io::Error::other(format!(
                    "{rel} was written, but its old version could not be deleted and was left at {aside}: {}",
                    nt_error(status)
                )))
            })
        }
        Err(status) => {
            // Another file appeared in the moment the path was empty (or the rename failed):
            // the old one goes back only if the path is free, else it stays aside and is named.
            let back = rename(&old, dir, name);
            let left_at = back.is_err().then_some(aside);
            if status == STATUS_OBJECT_NAME_COLLISION {
                return Err(WalkError::Changed {
                    path: rel.to_string(),
                    left_at,
                });
            }
            let e = nt_error(status);
            Err(WalkError::Io(match left_at {
                Some(a) => io::Error::other(format!("{e}; the old {rel} was left at {a}")),
                None => e,
            }))
        }
    }
}

/// See [`super::Repo::remove`]: deleted through a handle that denies writes and deletes to
/// everyone else, after the check on that very handle.
pub(super) fn remove(dir: &Dir, name: &str, rel: &str, expect: Ident) -> Result<(), WalkError> {
    if kind_at(dir, name)? == Kind::Absent {
        return Ok(());
    }
    match hold_expected(dir, name, expect)? {
        Holding::It(held) => delete(&held).map_err(|status| WalkError::Io(nt_error(status))),
        Holding::Other => Err(changed(rel)),
        Holding::InUse => Err(in_use(rel)),
    }
}

/// Remove `name` if it is still the file `expect` names; best effort (a leftover is harmless).
pub(super) fn remove_if_unchanged(dir: &Dir, name: &str, expect: Ident) {
    if let Ok(Holding::It(held)) = hold_expected(dir, name, expect) {
        let _ = delete(&held);
    }
}

/// The names in `dir` that are valid UTF-16 (others cannot be qmspec's).
pub(super) fn names(dir: &Dir) -> io::Result<Vec<String>> {
    let listing = reopen(dir)?;
    let raw = listing.as_raw_handle() as HANDLE;
    let mut buffer = vec![0u64; 8192];
    let mut out = Vec::new();
    let mut class = FileFullDirectoryRestartInfo;
    loop {
        // SAFETY: the buffer is 8-aligned and its length is passed.
        let ok = unsafe {
            GetFileInformationByHandleEx(
                raw,
                class,
                buffer.as_mut_ptr().cast(),
                (buffer.len() * 8) as u32,
            )
        };
        if ok == 0 {
            // SAFETY: reads the calling thread's last error.
            if unsafe { GetLastError() } == ERROR_NO_MORE_FILES {
                return Ok(out);
            }
            return Err(io::Error::last_os_error());
        }
        class = FileFullDirectoryInfo;
        let base = buffer.as_ptr().cast::<u8>();
        let mut offset = 0usize;
        loop {
            // SAFETY: the system wrote whole entries, each at `NextEntryOffset` from the last,
            // 8-aligned, with `FileNameLength` bytes of name from the `FileName` field on; the
            // name is read through a pointer from the buffer itself, not from a reference to
            // the one-element array the structure declares.
            let entry = unsafe { base.add(offset) };
            let header = unsafe { entry.cast::<FILE_FULL_DIR_INFO>().read() };
            let units = header.FileNameLength as usize / 2;
            let name = unsafe { entry.add(std::mem::offset_of!(FILE_FULL_DIR_INFO, FileName)) };
            let wide: Vec<u16> = (0..units)
                .map(|i| unsafe { name.cast::<u16>().add(i).read_unaligned() })
                .collect();
            if let Ok(n) = String::from_utf16(&wide)
                && n != "."
                && n != ".."
            {
                out.push(n);
            }
            if header.NextEntryOffset == 0 {
                break;
            }
            offset += header.NextEntryOffset as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_of_every_kind_are_told_from_files_and_folders() {
        const SYMLINK: u32 = 0xA000_000C;
        const JUNCTION: u32 = 0xA000_0003;
        const CLOUD: u32 = 0x9000_001A;
        const DEDUP: u32 = 0x8000_0013;
        let dir = FILE_ATTRIBUTE_DIRECTORY;
        let point = FILE_ATTRIBUTE_REPARSE_POINT;
        assert_eq!(kind_of(0, None), Kind::File);
        assert_eq!(kind_of(dir, None), Kind::Dir);
        assert_eq!(kind_of(FILE_ATTRIBUTE_DEVICE, None), Kind::Special);
        assert_eq!(kind_of(point, Some(Some(SYMLINK))), Kind::Symlink);
        assert_eq!(kind_of(dir | point, Some(Some(SYMLINK))), Kind::Symlink);
        assert_eq!(kind_of(dir | point, Some(Some(JUNCTION))), Kind::Symlink);
        assert_eq!(kind_of(dir | point, Some(None)), Kind::Symlink);
        assert_eq!(kind_of(point, Some(Some(DEDUP))), Kind::File);
        assert_eq!(kind_of(dir | point, Some(Some(CLOUD))), Kind::Dir);
    }

    #[test]
    fn a_name_is_one_component_never_a_path_or_a_stream() {
        for bad in ["", ".", "..", "a\\b", "..\\x", "x:stream", "C:", "a\0b"] {
            let e = component(bad).expect_err(bad);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        assert_eq!(
            component("a.b").expect("fine"),
            "a.b".encode_utf16().collect::<Vec<_>>()
        );
    }
}
