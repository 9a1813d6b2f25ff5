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
    FILE_CREATE, FILE_DIRECTORY_FILE, FILE_DISPOSITION_INFORMATION, FILE_NON_DIRECTORY_FILE,
    FILE_OPEN, FILE_OPEN_REPARSE_POINT, FILE_RENAME_INFORMATION, FILE_SYNCHRONOUS_IO_NONALERT,
    FileDispositionInformation, FileRenameInformation, NtCreateFile, NtSetInformationFile,
};
use windows_sys::Win32::Foundation::{
    ERROR_DIRECTORY, ERROR_NO_MORE_FILES, GetLastError, HANDLE, NTSTATUS, OBJ_CASE_INSENSITIVE,
    RtlNtStatusToDosError, STATUS_DELETE_PENDING, STATUS_FILE_IS_A_DIRECTORY,
    STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND,
    STATUS_SHARING_VIOLATION, UNICODE_STRING,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, DELETE, FILE_ADD_SUBDIRECTORY, FILE_ATTRIBUTE_DEVICE,
    FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_READONLY, FILE_ATTRIBUTE_REPARSE_POINT,
    FILE_ATTRIBUTE_TAG_INFO, FILE_FLAG_BACKUP_SEMANTICS, FILE_FULL_DIR_INFO, FILE_GENERIC_READ,
    FILE_GENERIC_WRITE, FILE_LIST_DIRECTORY, FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE,
    FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_TRAVERSE, FileAttributeTagInfo, FileFullDirectoryInfo,
    FileFullDirectoryRestartInfo, GetFileInformationByHandle, GetFileInformationByHandleEx,
    SYNCHRONIZE,
};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

use super::{Ident, Kind, WalkError, changed, temp_name};

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

fn info(handle: &OwnedHandle) -> io::Result<Info> {
    let raw = handle.as_raw_handle() as HANDLE;
    // SAFETY: plain C structs filled by the calls on a handle this process owns.
    let mut by: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    if unsafe { GetFileInformationByHandle(raw, &mut by) } == 0 {
        return Err(io::Error::last_os_error());
    }
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
/// system does when the process ends. Every other open of a directory here asks only to read
/// and shares writing, so only another lock conflicts.
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

/// Rename the file behind `handle` (opened with `DELETE`) to `name` in `dir`, never over a
/// file that is there.
fn rename(handle: &OwnedHandle, dir: &Dir, name: &str) -> Result<(), NTSTATUS> {
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
        (*info).RootDirectory = dir.as_raw_handle() as HANDLE;
        (*info).FileNameLength = (name.len() * 2) as u32;
        std::ptr::copy_nonoverlapping(
            name.as_ptr(),
            (&raw mut (*info).FileName).cast::<u16>(),
            name.len(),
        );
    }
    set_information(handle, info.cast(), length, FileRenameInformation)
}

/// Mark the file behind `handle` (opened with `DELETE`) for deletion when it closes.
fn delete(handle: &OwnedHandle) -> Result<(), NTSTATUS> {
    let info = FILE_DISPOSITION_INFORMATION { DeleteFile: true };
    set_information(
        handle,
        (&raw const info).cast(),
        size_of::<FILE_DISPOSITION_INFORMATION>(),
        FileDispositionInformation,
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

/// The file at `name`, opened so that nobody else can write, rename or delete it while the
/// handle is held (`DELETE` is asked so that qmspec itself can). `Ok(None)`: it is not the
/// regular file `expect` names, or somebody has it open for writing.
fn hold_expected(dir: &Dir, name: &str, expect: Ident) -> io::Result<Option<OwnedHandle>> {
    let wide = component(name)?;
    let handle = match open_at(
        dir,
        &wide,
        DELETE | FILE_READ_ATTRIBUTES,
        FILE_SHARE_READ,
        FILE_OPEN,
        FILE_NON_DIRECTORY_FILE,
    ) {
        Ok(handle) => handle,
        Err(status) if absent(status) => return Ok(None),
        Err(STATUS_SHARING_VIOLATION | STATUS_FILE_IS_A_DIRECTORY) => return Ok(None),
        Err(status) => return Err(nt_error(status)),
    };
    let now = info(&handle)?;
    Ok((now.kind == Kind::File && now.ident == expect).then_some(handle))
}

/// See [`super::Repo::write_atomic`]. The permission bits of Unix have no counterpart here.
pub(super) fn write_file(
    dir: &Dir,
    name: &str,
    rel: &str,
    content: &[u8],
    expect: Option<Ident>,
) -> Result<(), WalkError> {
    let tmp = temp_name(name, "tmp");
    let handle = open_at(
        dir,
        &component(&tmp)?,
        FILE_GENERIC_WRITE | DELETE | FILE_READ_ATTRIBUTES,
        FILE_SHARE_READ,
        FILE_CREATE,
        FILE_NON_DIRECTORY_FILE,
    )
    .map_err(nt_error)?;
    let mut file = File::from(handle);
    let written = file.write_all(content).and_then(|()| file.sync_all());
    let handle = OwnedHandle::from(file);
    let result = written.map_err(WalkError::Io).and_then(|()| match expect {
        None => match rename(&handle, dir, name) {
            Ok(()) => Ok(()),
            Err(STATUS_OBJECT_NAME_COLLISION) => Err(changed(rel)),
            Err(status) => Err(WalkError::Io(nt_error(status))),
        },
        Some(id) => install_over(dir, &handle, name, rel, id),
    });
    if result.is_err() {
        // The temporary file goes when its handle closes.
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
) -> Result<(), WalkError> {
    let Some(old) = hold_expected(dir, name, expect)? else {
        return Err(changed(rel));
    };
    let aside = temp_name(name, "rm");
    rename(&old, dir, &aside).map_err(nt_error)?;
    match rename(new, dir, name) {
        Ok(()) => delete(&old).map_err(|status| WalkError::Io(nt_error(status))),
        Err(STATUS_OBJECT_NAME_COLLISION) => {
            // Another file appeared in the moment the path was empty: the old one goes back
            // only if the path is still taken by nobody, else it stays aside and is named.
            let back = rename(&old, dir, name);
            Err(WalkError::Changed {
                path: rel.to_string(),
                left_at: back.is_err().then_some(aside),
            })
        }
        Err(status) => {
            let _ = rename(&old, dir, name);
            Err(WalkError::Io(nt_error(status)))
        }
    }
}

/// See [`super::Repo::remove`]: deleted through a handle that denies writes and deletes to
/// everyone else, after the check on that very handle.
pub(super) fn remove(dir: &Dir, name: &str, rel: &str, expect: Ident) -> Result<(), WalkError> {
    if kind_at(dir, name)? == Kind::Absent {
        return Ok(());
    }
    let Some(held) = hold_expected(dir, name, expect)? else {
        return Err(changed(rel));
    };
    delete(&held).map_err(|status| WalkError::Io(nt_error(status)))
}

/// Remove `name` if it is still the file `expect` names; best effort (a leftover is harmless).
pub(super) fn remove_if_unchanged(dir: &Dir, name: &str, expect: Ident) {
    if let Ok(Some(held)) = hold_expected(dir, name, expect) {
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
            // SAFETY: the system wrote whole entries, each at `NextEntryOffset` from the last.
            let entry = unsafe { &*base.add(offset).cast::<FILE_FULL_DIR_INFO>() };
            let units = entry.FileNameLength as usize / 2;
            let wide = unsafe { std::slice::from_raw_parts(entry.FileName.as_ptr(), units) };
            if let Ok(n) = String::from_utf16(wide)
                && n != "."
                && n != ".."
            {
                out.push(n);
            }
            if entry.NextEntryOffset == 0 {
                break;
            }
            offset += entry.NextEntryOffset as usize;
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
