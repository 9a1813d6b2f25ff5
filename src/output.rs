//! Writing and checking generated files. `generate` and `check` share [`plan`] and [`classify`],
//! so they agree by construction.
//!
//! Ownership is proven, not listed: a file is overwritten or removed only when its own stamp
//! says qmspec wrote it, from this spec, at this path (the stamp's hash covers all three). The
//! manifest only says where to look for orphans; a line in it grants nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use similar::TextDiff;

use crate::load::{Loaded, load};
use crate::paths::{collision_key, output_path_problem, spec_path_problem};
use crate::render::{
    Output, RenderError, StampState, render_shared, render_spec, stamp_names, stamp_state,
};
use crate::repo::{Found, Ident, Kind, Repo, WalkError};
use crate::schema::schema_text_2020;

pub use crate::paths::{MANIFEST, SCHEMA_PATH};

/// Largest committed file qmspec reads at an output path. Generated files are a few KiB; a
/// bigger file cannot be one of them and is reported by its size.
pub const MAX_OUTPUT_BYTES: u64 = 8 << 20;
/// Largest pair of texts `check` diffs; beyond it the report gives sizes, not a diff.
pub const MAX_DIFF_BYTES: usize = 1 << 20;
/// Time budget of one diff; past it the diff is coarser, never slower.
pub const DIFF_TIMEOUT: Duration = Duration::from_millis(500);

const MANIFEST_HEADER: &str =
    "# Files qmspec generated (spec, tab, output). `qmspec generate` maintains this list.\n";

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum OutputError {
    #[error("cannot read {path}: {source}")]
    #[diagnostic(
        code("qmspec::io"),
        help("check that the file exists and is readable, then rerun the command")
    )]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    #[diagnostic(
        code("qmspec::io"),
        help("check the directory's permissions and free space, then run `qmspec generate` again")
    )]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot lock the repository: {source}")]
    #[diagnostic(
        code("qmspec::locked"),
        help("wait for the other `qmspec generate` to finish, then run it again")
    )]
    Lock { source: std::io::Error },
    #[error("nothing was written: {} file(s) cannot be generated safely", .0.len())]
    #[diagnostic(code("qmspec::refused"))]
    Refused(#[related] Vec<Refusal>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Render(#[from] RenderError),
    #[error(
        "{spec} is invalid, and the files the specs share (the publish workflow) are made from every spec"
    )]
    #[diagnostic(
        code("qmspec::shared-output"),
        help("run `qmspec validate {spec}` and fix what it reports, then run qmspec again")
    )]
    SharedInvalid { spec: String },
    #[error(
        "{spec} (or its lock file) changed while qmspec ran: what it produces now is not what was validated{}",
        if *.written == 0 { String::new() } else { format!("; {} file(s) were written before qmspec stopped", .written) }
    )]
    #[diagnostic(
        code("qmspec::changed-during-run"),
        help(
            "run the command again when nothing else is editing the specs; files already written are whole, stamped and listed in the manifest"
        )
    )]
    Changed { spec: String, written: usize },
}

impl OutputError {
    /// 1 when every refusal is the spec's or `--force`'s to resolve (an edit, a foreign file,
    /// two outputs on one path); 2 when something on disk is in the way.
    pub fn exit_code(&self) -> u8 {
        match self {
            OutputError::Refused(r)
                if r.iter().all(|r| {
                    matches!(
                        r,
                        Refusal::Edited { .. } | Refusal::Foreign { .. } | Refusal::Conflict { .. }
                    )
                }) =>
            {
                1
            }
            // The specs disagree about a file they share: theirs to fix.
            OutputError::SharedInvalid { .. } | OutputError::Render(RenderError::Shared { .. }) => {
                1
            }
            _ => 2,
        }
    }
}

/// One file `generate` will not touch, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum Refusal {
    #[error("{path} was edited by hand; regenerating it would lose those edits")]
    #[diagnostic(
        code("qmspec::edited-by-hand"),
        help("move the edits into the spec, or run `qmspec generate --force` to discard them")
    )]
    Edited { path: String },
    #[error("{path} exists and {why}")]
    #[diagnostic(
        code("qmspec::not-generated"),
        help(
            "move it away or point the spec at another path; `qmspec generate --force` replaces it"
        )
    )]
    Foreign { path: String, why: String },
    #[error("{path}: {what}")]
    #[diagnostic(
        code("qmspec::not-a-file"),
        help(
            "qmspec writes only regular files through plain folders: remove or move what is there, then run `qmspec generate`"
        )
    )]
    NotAFile { path: String, what: String },
    #[error("refusing to write {path}: it {reason}")]
    #[diagnostic(
        code("qmspec::unsafe-path"),
        help("write generated files inside the repository, e.g. under `generated/`")
    )]
    Unsafe { path: String, reason: String },
    #[error("{path} is written by both {first} and {second}")]
    #[diagnostic(
        code("qmspec::output-conflict"),
        help(
            "give each generated file its own path in one of the two specs, then run `qmspec generate`"
        )
    )]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
}

/// What the specs produce: each spec's validation result and, when all are valid, the files.
pub struct Plan {
    /// Each spec's result: an invalid spec whole, for its report; a valid one only as the
    /// count of its warnings (its text, model and findings are dropped once its files are
    /// made), so a monorepo's plan stays small.
    pub specs: Vec<(String, SpecResult)>,
    pub outputs: Vec<Planned>,
    /// The digest of each spec and lock file as the plan read it (`None` if one could not be
    /// read as a regular file): with the outputs' hashes, what `generate` records for `check`.
    /// Recording what was read, not what is on disk after writing, binds the record to the
    /// spec the files were made from, even if the spec changes meanwhile.
    pub read: Option<BTreeMap<String, Digest>>,
    /// Where `generate` writes the schema copy the specs' modelines point at, if anywhere.
    pub schema: Option<String>,
    /// Every spec of the repository is in the plan (none was named on the command line), so a
    /// successful `generate` may record the state for `check`'s fast path.
    pub complete: bool,
}

impl Plan {
    pub fn valid(&self) -> bool {
        self.specs
            .iter()
            .all(|(_, r)| matches!(r, SpecResult::Valid { .. }))
    }
}

/// A spec as the plan keeps it.
#[derive(Debug)]
pub enum SpecResult {
    /// Valid, with this many warnings (`qmspec validate` shows them).
    Valid { warnings: usize },
    /// Not valid: the spec with its findings, to report.
    Invalid(Box<Loaded>),
}

/// One file of the plan: which spec it is reported under, the file (its `content` is empty
/// when not held), and its hash.
#[derive(Debug, Clone)]
pub struct Planned {
    pub owner: String,
    pub output: Output,
    /// The content's [`Digest`]: what is on disk is compared against it when the content was
    /// not held, a file rendered again for writing must hash to it, and the record takes it.
    pub hash: Digest,
    /// Whether `output.content` is the content. Past [`HELD_BYTES`], files are rendered again
    /// when they are written.
    pub held: bool,
}

/// Rendered bytes a plan holds from planning to writing. A repository's files fit many times
/// over; a monorepo's do not, and its files are rendered again, a few specs at a time, when
/// written, so memory stays flat in the number of specs.
pub const HELD_BYTES: usize = 4 << 20;

/// Read a spec through the repository handle: a regular file, never more than one byte past
/// the spec size limit (so a huge file is refused without being read whole).
pub fn read_spec(repo: &Repo, spec_path: &str) -> Result<Loaded, OutputError> {
    Ok(read_spec_hashed(repo, spec_path)?.0)
}

/// XXH3-128 of a file's bytes (zeros stand for an absent file): what [`record`] folds in, and
/// what a planned file is compared by when its text is not held. It detects change (every byte
/// counts); it is no defence against a forger, who could as well edit the spec.
pub type Digest = [u8; 16];

fn digest(bytes: &[u8]) -> Digest {
    twox_hash::XxHash3_128::oneshot(bytes).to_le_bytes()
}

/// [`read_spec`], and the digests of the spec and its lock file as they were read (`None` when
/// one is not a regular file within its size limit: no record vouches for that).
fn read_spec_hashed(
    repo: &Repo,
    spec_path: &str,
) -> Result<(Loaded, Option<(Digest, Digest)>), OutputError> {
    if let Some(problem) = spec_path_problem(spec_path) {
        return Ok((crate::load::refused_name(problem), None));
    }
    let limit = crate::yaml::MAX_SPEC_BYTES as u64;
    let (lock, lock_digest) = read_lock(repo, spec_path);
    match repo
        .read(spec_path, limit)
        .map_err(|e| read_err(spec_path, e))?
    {
        Found::Bytes(b, _) => Ok((
            crate::load::load_locked(&b, lock),
            lock_digest.map(|l| (digest(&b), l)),
        )),
        Found::TooLarge(_, b, _) => Ok((load(&[b.as_slice(), b"\0"].concat()), None)),
        Found::Absent => Err(OutputError::Read {
            path: spec_path.to_string(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }),
        Found::NotAFile(kind) => Err(OutputError::Read {
            path: spec_path.to_string(),
            source: std::io::Error::other(match kind {
                // A file where a folder of the path should be (`specs/a.yaml/x`).
                Kind::File => "a file stands where a folder of this path should be".to_string(),
                _ => format!(
                    "it is {}, not a regular file; qmspec does not follow symlinks or read FIFOs",
                    kind.describe()
                ),
            }),
        }),
    }
}

/// The lock file beside a spec, if there is one: parsed, or why it cannot be used; and its
/// digest as read.
fn read_lock(repo: &Repo, spec_path: &str) -> (crate::load::LockFound, Option<Digest>) {
    let path = crate::lock::lock_path(spec_path);
    let mut read = None;
    let found = match repo.read(&path, crate::lock::MAX_LOCK_BYTES) {
        Ok(Found::Absent) => return (None, Some([0; 16])),
        Ok(Found::Bytes(b, _)) => {
            read = Some(digest(&b));
            match std::str::from_utf8(&b) {
                Ok(text) => crate::lock::Lock::parse(text),
                Err(_) => Err("it is not UTF-8 text".to_string()),
            }
        }
        Ok(Found::TooLarge(..)) => Err(format!(
            "it is larger than {} KiB",
            crate::lock::MAX_LOCK_BYTES / 1024
        )),
        Ok(Found::NotAFile(kind)) => Err(format!("it is {}, not a file", kind.describe())),
        Err(e) => Err(e.into_io().to_string()),
    };
    (Some((path, found)), read)
}

fn read_err(path: &str, e: WalkError) -> OutputError {
    OutputError::Read {
        path: path.to_string(),
        source: e.into_io(),
    }
}

/// Validate every spec and render the files of the valid ones: each spec's own files, and
/// the files specs share, assembled from every spec of the repository (`others` are the
/// repository's specs not asked for, read only for that). Specs are read on every core, one
/// at a time per core, and only findings, paths, hashes and up to [`HELD_BYTES`] of rendered
/// files are kept.
pub fn plan(repo: &Repo, spec_paths: &[String], others: &[String]) -> Result<Plan, OutputError> {
    plan_holding(repo, spec_paths, others, HELD_BYTES)
}

/// [`plan`], holding at most `held_bytes` of rendered files (0: every file is rendered again
/// when written).
pub fn plan_holding(
    repo: &Repo,
    spec_paths: &[String],
    others: &[String],
    held_bytes: usize,
) -> Result<Plan, OutputError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let held = AtomicUsize::new(0);
    let hold = |owner: String, o: Output| -> Planned {
        let hash = digest(o.content.as_bytes());
        let len = o.content.len();
        if held.fetch_add(len, Ordering::Relaxed) + len <= held_bytes {
            return Planned {
                owner,
                output: o,
                hash,
                held: true,
            };
        }
        held.fetch_sub(len, Ordering::Relaxed);
        Planned {
            owner,
            output: Output {
                content: String::new(),
                ..o
            },
            hash,
            held: false,
        }
    };
    let keep = spec_paths.len() <= KEEP_SPECS;
    type One = (
        SpecResult,
        Vec<Planned>,
        Option<Solo<Planned>>,
        Option<(Digest, Digest)>,
    );
    let one = |sp: &String| -> Result<One, OutputError> {
        let (loaded, digests) = read_spec_hashed(repo, sp)?;
        let Some(spec) = loaded.spec.as_ref().filter(|_| !loaded.has_errors()) else {
            return Ok((
                SpecResult::Invalid(Box::new(loaded)),
                Vec::new(),
                None,
                None,
            ));
        };
        let outputs = render_spec(spec, sp)?
            .into_iter()
            .map(|o| hold(sp.clone(), o))
            .collect();
        let solo = solo(sp, spec, keep, digests, |o| {
            Ok(hold(crate::render::owners_name(&o.owners), o))
        });
        // A valid spec's text, document, model and findings are not needed again.
        let valid = SpecResult::Valid {
            warnings: loaded.diagnostics.len(),
        };
        Ok((valid, outputs, Some(solo), digests))
    };
    let results = crate::workers::map(spec_paths, 1, one);
    // Sized once for every output, and every file the specs may share: the plan lives through
    // the whole run, and growing it by doubling would hold it twice at the last step.
    let room = results
        .iter()
        .flatten()
        .map(|r| r.1.len() + r.2.is_some() as usize);
    let mut specs = Vec::with_capacity(spec_paths.len());
    let mut outputs = Vec::with_capacity(room.sum());
    let mut solos = Vec::new();
    let mut read: Option<BTreeMap<String, Digest>> = Some(BTreeMap::new());
    for (sp, r) in spec_paths.iter().zip(results) {
        let (loaded, outs, solo, digests) = r?;
        specs.push((sp.clone(), loaded));
        outputs.extend(outs);
        solos.extend(solo.map(|s| (sp.clone(), s)));
        read = read.zip(digests).map(|(mut read, (spec, lock))| {
            read.insert(sp.clone(), spec);
            read.insert(crate::lock::lock_path(sp), lock);
            read
        });
    }
    if specs
        .iter()
        .all(|(_, r)| matches!(r, SpecResult::Valid { .. }))
    {
        // Files several specs share are few (one workflow per group): always held.
        let shared = shared_files(repo, spec_paths, others, solos, |owner, o| {
            Ok(Planned {
                owner,
                hash: digest(o.content.as_bytes()),
                output: o,
                held: true,
            })
        })?;
        outputs.extend(shared.into_iter().map(|(_, p)| p));
    }
    Ok(Plan {
        specs,
        outputs,
        read,
        schema: None,
        complete: false,
    })
}

/// The repository's other specs, read for the files they share with the asked-for ones.
fn load_others(
    repo: &Repo,
    spec_paths: &[String],
    others: &[String],
) -> Result<Vec<(String, Loaded)>, OutputError> {
    let others: Vec<&String> = others.iter().filter(|o| !spec_paths.contains(o)).collect();
    crate::workers::map(&others, 1, |o| Ok(((*o).clone(), read_spec(repo, o)?)))
        .into_iter()
        .collect()
}

/// The shared files of all valid specs, each owned by the specs it is made from. A shared file
/// that an invalid spec also names cannot be assembled: that is an error naming the spec.
fn shared_outputs(
    specs: &[(String, Loaded)],
    others: &[(String, Loaded)],
) -> Result<Vec<(String, Output)>, OutputError> {
    if let Some((path, _)) = others
        .iter()
        .find(|(_, l)| l.has_errors() || l.spec.is_none())
    {
        return Err(OutputError::SharedInvalid { spec: path.clone() });
    }
    let valid: Vec<(String, &crate::model::Spec)> = specs
        .iter()
        .chain(others)
        .filter_map(|(p, l)| l.spec.as_ref().map(|s| (p.clone(), s)))
        .collect();
    Ok(render_shared(&valid)?
        .into_iter()
        .map(|o| (crate::render::owners_name(&o.owners), o))
        .collect())
}

/// The files specs share (the publish workflow), for the asked-for specs: a file only one spec
/// names is its solo file, made on the worker that read the spec; a file several specs name
/// (asked for or not) is made from all of them here, reading again the specs not kept, and
/// passed through `each`. Returned with the name each is reported under, in spec order.
fn shared_files<T>(
    repo: &Repo,
    spec_paths: &[String],
    others: &[String],
    solos: Vec<(String, Solo<T>)>,
    mut each: impl FnMut(String, Output) -> Result<T, OutputError>,
) -> Result<Vec<(String, T)>, OutputError> {
    let extra = load_others(repo, spec_paths, others)?;
    // How many specs name each shared path.
    let mut members: BTreeMap<String, usize> = BTreeMap::new();
    for path in solos.iter().flat_map(|(_, s)| &s.paths) {
        *members.entry(path.clone()).or_default() += 1;
    }
    for spec in extra.iter().filter_map(|(_, l)| l.spec.as_ref()) {
        for path in shared_paths(spec) {
            // Another spec naming a path makes it shared, even if only one asked-for spec does.
            *members.entry(path).or_default() += 2;
        }
    }
    let shared_by_many = |path: &str| members.get(path).is_some_and(|n| *n > 1);
    // Only the files the asked-for specs name (a spec named on the command line is generated
    // or checked, not the whole repository).
    let asked: BTreeSet<String> = solos
        .iter()
        .flat_map(|(_, s)| s.paths.iter().cloned())
        .collect();
    let mut out = Vec::new();
    type Member = (
        String,
        Option<Box<crate::model::Spec>>,
        Option<(Digest, Digest)>,
    );
    let mut group: Vec<Member> = Vec::new();
    for (spec_path, solo) in solos {
        if solo.paths.iter().any(|p| shared_by_many(p)) {
            group.push((spec_path, solo.spec, solo.read));
            continue;
        }
        for t in solo.rendered? {
            out.push((spec_path.clone(), t));
        }
    }
    if !group.is_empty() || !extra.is_empty() {
        let mut valid = Vec::new();
        for (sp, spec, first) in group {
            let loaded = match spec {
                Some(spec) => Loaded::valid(*spec),
                // Read again: it must be the very spec that was validated, or the shared file
                // would be made from text no rule has seen.
                None => match read_again(repo, &sp)? {
                    (loaded, again) if again.is_some() && again == first => loaded,
                    _ => return Err(changed(&sp)),
                },
            };
            valid.push((sp, loaded));
        }
        for (owner, o) in shared_outputs(&valid, &extra)?
            .into_iter()
            .filter(|(_, o)| shared_by_many(&o.path) && asked.contains(&o.path))
        {
            out.push((owner.clone(), each(owner, o)?));
        }
    }
    Ok(out)
}

/// Every shared path a spec names, in normal form.
fn shared_paths(spec: &crate::model::Spec) -> Vec<String> {
    crate::outputs::OUTPUTS
        .iter()
        .filter(|k| matches!(k.scope, crate::outputs::Scope::Shared(_)))
        .flat_map(|k| (k.paths)(spec))
        .map(|(_, p)| crate::paths::normalize(&p))
        .collect()
}

/// The manifest as found: its entries (spec, output) that name safe paths, and whether the
/// file itself may be rewritten.
struct Manifest {
    entries: BTreeSet<(String, String)>,
    /// Specs the manifest names whose file is gone (looked up once per spec).
    gone: BTreeSet<String>,
    refusal: Option<Refusal>,
}

/// The manifest, with which of the specs it names are gone; `running` are specs this run read,
/// which are not looked for again.
fn read_manifest(repo: &Repo, running: &BTreeSet<&str>) -> Result<Manifest, OutputError> {
    let mut m = Manifest {
        entries: BTreeSet::new(),
        gone: BTreeSet::new(),
        refusal: None,
    };
    let text = match repo
        .read(MANIFEST, MAX_OUTPUT_BYTES)
        .map_err(|e| read_err(MANIFEST, e))?
    {
        Found::Absent => return Ok(m),
        Found::NotAFile(kind) => {
            m.refusal = Some(not_a_file(MANIFEST, kind));
            return Ok(m);
        }
        Found::TooLarge(..) => {
            m.refusal = Some(Refusal::Foreign {
                path: MANIFEST.into(),
                why: "is larger than any manifest qmspec writes".into(),
            });
            return Ok(m);
        }
        Found::Bytes(b, _) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => {
                m.refusal = Some(Refusal::Foreign {
                    path: MANIFEST.into(),
                    why: "is not UTF-8 text, so qmspec did not write it".into(),
                });
                return Ok(m);
            }
        },
    };
    if !text.starts_with(MANIFEST_HEADER) {
        m.refusal = Some(Refusal::Foreign {
            path: MANIFEST.into(),
            why: "does not start with qmspec's manifest header".into(),
        });
    }
    m.entries = manifest_entries(&text);
    // One look per other spec, on every core (a monorepo's manifest names thousands).
    let others: Vec<&String> = m
        .entries
        .iter()
        .map(|(spec, _)| spec)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|spec| !running.contains(spec.as_str()))
        .collect();
    let absent = crate::workers::map(&others, 256, |spec| {
        matches!(repo.kind(spec), Ok(Kind::Absent))
    });
    m.gone = others
        .into_iter()
        .zip(absent)
        .filter(|(_, absent)| *absent)
        .map(|(spec, _)| spec.clone())
        .collect();
    Ok(m)
}

/// The `spec<TAB>output` lines of a manifest. A line naming an unsafe path, or that is not
/// `spec<TAB>output`, is dropped: the manifest is committed, so a pull request can put anything
/// in it.
fn manifest_entries(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| line.split_once('\t'))
        .filter(|(spec, out)| {
            spec_path_problem(spec).is_none()
                && output_path_problem(out).is_none()
                && !spec.is_empty()
        })
        .map(|(spec, out)| (crate::paths::normalize(spec), crate::paths::normalize(out)))
        .collect()
}

/// The specs the manifest names (files qmspec generated from), or none when it cannot be read.
pub fn manifest_specs(repo: &Repo) -> BTreeSet<String> {
    match repo.read(MANIFEST, MAX_OUTPUT_BYTES) {
        Ok(Found::Bytes(b, _)) => String::from_utf8(b)
            .ok()
            .filter(|t| t.starts_with(MANIFEST_HEADER))
            .map(|t| manifest_entries(&t).into_iter().map(|(s, _)| s).collect())
            .unwrap_or_default(),
        _ => BTreeSet::new(),
    }
}

/// The manifest line recording the state a complete `generate` left: this build's identity and
/// [`record`]'s hash. `check` trusts it only when both still match (see [`fast_check`]).
const RECORD_PREFIX: &str = "# qmspec-check: ";

/// The identity of this qmspec build: its version and a hash of its sources, templates, schema
/// and locked dependencies (see `build.rs`). Debug builds may pose as another build
/// (`QMSPEC_TEST_BUILD_ID`), which is how the tests change "the qmspec version".
pub fn build_id() -> String {
    #[cfg(debug_assertions)]
    if let Some(id) = std::env::var_os("QMSPEC_TEST_BUILD_ID") {
        return id.to_string_lossy().into_owned();
    }
    env!("QMSPEC_BUILD_ID").to_string()
}

/// A hash of everything `check` compares, as it is on disk now: this build's identity, then per
/// spec (in order) its path and bytes, its lock file's bytes (or that there is none) and each
/// of its outputs' paths and bytes. Each file is read once (through the repository handle, so
/// never through a symlink), two at a time on two cores. `None` when a file is not a regular
/// file or cannot be read: the full check then says what is wrong.
pub fn record(repo: &Repo, entries: &BTreeSet<(String, String)>) -> Option<String> {
    let specs: BTreeSet<&String> = entries.iter().map(|(s, _)| s).collect();
    let mut files: Vec<String> = specs
        .iter()
        .flat_map(|s| [(*s).clone(), crate::lock::lock_path(s)])
        .chain(entries.iter().map(|(_, o)| o.clone()))
        .collect();
    files.sort();
    files.dedup();
    // Absent (a spec without a lock file) is part of the state; anything but a regular file or
    // nothing is not a state this path vouches for.
    // Each file by XXH3-128: this detects change (every byte counts); it does not defend
    // against a forger, who could as well write the record. SHA-256 made hashing the files most
    // of a monorepo's `check`.
    let read_digest = |path: &String| -> Option<Digest> {
        match repo.read(
            path,
            (crate::yaml::MAX_SPEC_BYTES as u64).max(MAX_OUTPUT_BYTES) + 1,
        ) {
            Ok(Found::Bytes(b, _)) => Some(digest(&b)),
            Ok(Found::Absent) => Some([0; 16]),
            _ => None,
        }
    };
    // A thread costs more than hashing a few files: one repository's dozen files are read on
    // one thread, a monorepo's on every core.
    let digests = crate::workers::map(&files, 32, read_digest);
    let by_path: BTreeMap<String, Digest> = files
        .into_iter()
        .zip(digests)
        .map(|(f, d)| d.map(|d| (f, d)))
        .collect::<Option<_>>()?;
    record_of(
        entries.iter().map(|(s, o)| (s.as_str(), o.as_str())),
        |path| by_path.get(path).copied(),
    )
}

/// [`record`]'s hash from the digests of every spec, lock file and output `entries` names
/// (`None` when one is missing). `entries` come sorted, as a set of (spec, output) keeps them.
fn record_of<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    digest_of: impl Fn(&str) -> Option<Digest>,
) -> Option<String> {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(build_id().as_bytes());
    let mut current: Option<&str> = None;
    for (spec, out) in entries {
        if current != Some(spec) {
            current = Some(spec);
            field(spec.as_bytes());
            field(&digest_of(spec)?);
            field(&digest_of(&crate::lock::lock_path(spec))?);
        }
        field(out.as_bytes());
        field(&digest_of(out)?);
    }
    Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// `check` as a read: when the manifest's record was written by this build and the specs, lock
/// files and outputs hash to it, and the specs are exactly the manifest's, every file is what
/// this qmspec would generate (rendering is deterministic, and `generate` records only after
/// writing every spec's files with nothing refused or kept). Returns how many generated files
/// that covers, or `None` when the full check must run.
pub fn fast_check(repo: &Repo, spec_paths: &[String], schema: Option<&str>) -> Option<usize> {
    let text = match repo.read(MANIFEST, MAX_OUTPUT_BYTES) {
        Ok(Found::Bytes(b, _)) => String::from_utf8(b).ok()?,
        _ => return None,
    };
    if !text.starts_with(MANIFEST_HEADER) {
        return None;
    }
    let recorded = text.lines().find_map(|l| l.strip_prefix(RECORD_PREFIX))?;
    let (build, hash) = recorded.split_once(' ')?;
    if build != build_id() {
        return None;
    }
    let entries = manifest_entries(&text);
    let specs: BTreeSet<String> = entries.iter().map(|(s, _)| s.clone()).collect();
    let wanted: BTreeSet<String> = spec_paths
        .iter()
        .map(|s| crate::paths::normalize(s))
        .collect();
    if specs != wanted || record(repo, &entries)? != hash {
        return None;
    }
    if let Some(path) = schema
        && classify(repo, path, Some(schema_text_2020())).ok()? != AtPath::Same
    {
        return None;
    }
    let outputs: BTreeSet<&String> = entries.iter().map(|(_, o)| o).collect();
    Some(outputs.len())
}

fn manifest_text(entries: &BTreeSet<(&str, &str)>, record: Option<&str>) -> String {
    // Sized once: a monorepo's manifest is megabytes, and doubling up to it holds twice that.
    let size = MANIFEST_HEADER.len()
        + record.map_or(0, |r| RECORD_PREFIX.len() + build_id().len() + r.len() + 2)
        + entries
            .iter()
            .map(|(s, o)| s.len() + o.len() + 2)
            .sum::<usize>();
    let mut text = String::with_capacity(size);
    text.push_str(MANIFEST_HEADER);
    if let Some(r) = record {
        text.push_str(RECORD_PREFIX);
        text.push_str(&build_id());
        text.push(' ');
        text.push_str(r);
        text.push('\n');
    }
    for (spec, out) in entries {
        text.push_str(spec);
        text.push('\t');
        text.push_str(out);
        text.push('\n');
    }
    text
}

/// What `generate` did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Created(String),
    Updated(String),
    Unchanged(String),
    Removed(String),
    /// A file the manifest named as this spec's but whose stamp does not prove it: left alone.
    Kept {
        path: String,
        why: String,
    },
}

/// What is at an output path, as far as ownership goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtPath {
    Absent,
    /// Byte-identical to what the spec produces.
    Same,
    /// Stamped by `spec` (intact or edited), with its text.
    Stamped {
        state: StampState,
        text: String,
    },
    /// Not provably qmspec's: why, and the text when it is readable.
    Foreign {
        why: String,
        text: Option<String>,
    },
    /// Not a regular file, or a parent is not a plain folder.
    NotAFile(Kind),
}

/// Classify the file at `path` against what the spec produces (`expected`, if anything).
pub fn classify(repo: &Repo, path: &str, expected: Option<&str>) -> Result<AtPath, OutputError> {
    Ok(classify_file(repo, path, expected.map(Expect::Text))?.0)
}

/// What a file should be: its text, or (when the plan did not hold the text) its hash.
#[derive(Debug, Clone, Copy)]
enum Expect<'a> {
    Text(&'a str),
    Hash(Digest),
}

impl Planned {
    fn expect(&self) -> Expect<'_> {
        if self.held {
            Expect::Text(&self.output.content)
        } else {
            Expect::Hash(self.hash)
        }
    }
}

/// [`classify`], and which file was classified: a later write or removal goes ahead only if
/// that very file is still there, unchanged.
fn classify_file(
    repo: &Repo,
    path: &str,
    expected: Option<Expect<'_>>,
) -> Result<(AtPath, Option<Ident>), OutputError> {
    let found = match repo.read(path, MAX_OUTPUT_BYTES) {
        Ok(f) => f,
        Err(WalkError::NotADir { kind, .. }) => return Ok((AtPath::NotAFile(kind), None)),
        Err(e) => return Err(read_err(path, e)),
    };
    Ok(match found {
        Found::Absent => (AtPath::Absent, None),
        Found::NotAFile(kind) => (AtPath::NotAFile(kind), None),
        Found::TooLarge(size, _, ident) => (
            AtPath::Foreign {
                why: format!("is {size} bytes, larger than any file qmspec writes"),
                text: None,
            },
            Some(ident),
        ),
        Found::Bytes(b, ident) => (classify_bytes(path, b, expected), Some(ident)),
    })
}

fn classify_bytes(path: &str, b: Vec<u8>, expected: Option<Expect<'_>>) -> AtPath {
    let same = match expected {
        Some(Expect::Text(e)) => e.as_bytes() == b.as_slice(),
        // The same digest stands for the same bytes, as in `check`'s record.
        Some(Expect::Hash(h)) => digest(&b) == h,
        None => false,
    };
    if same {
        return AtPath::Same;
    }
    match String::from_utf8(b) {
        Err(_) => AtPath::Foreign {
            why: "is not UTF-8 text, so qmspec did not write it".into(),
            text: None,
        },
        Ok(text) => match stamp_state(&text, path) {
            StampState::Unstamped => AtPath::Foreign {
                why: "has no qmspec stamp".into(),
                text: Some(text),
            },
            state => AtPath::Stamped { state, text },
        },
    }
}

fn not_a_file(path: &str, kind: Kind) -> Refusal {
    Refusal::NotAFile {
        path: path.to_string(),
        what: format!(
            "there is {} on the way or at the path; qmspec writes only regular files and never follows a symlink",
            kind.describe()
        ),
    }
}

/// Whether a stamp's spec name proves the file belongs to one of `owners`: it names one of
/// them (a shared file gains and loses specs as the repository does).
fn owned(stamp_spec: &str, owners: &[String]) -> bool {
    owners.iter().any(|o| stamp_names(stamp_spec, o))
}

/// The refusal for writing an output of `owners` (named `spec`) over what is found there, if any.
fn write_refusal(
    path: &str,
    spec: &str,
    owners: &[String],
    found: &AtPath,
    force: bool,
) -> Option<Refusal> {
    match found {
        AtPath::Absent | AtPath::Same => None,
        AtPath::NotAFile(kind) => Some(not_a_file(path, *kind)),
        AtPath::Stamped {
            state: StampState::Intact { spec: s } | StampState::Legacy { spec: s },
            ..
        } if owned(s, owners) => None,
        AtPath::Stamped {
            state: StampState::Edited { spec: s },
            ..
        } if owned(s, owners) => (!force).then(|| Refusal::Edited { path: path.into() }),
        AtPath::Stamped { state, .. } => (!force).then(|| Refusal::Foreign {
            path: path.into(),
            why: format!(
                "was written by qmspec from {}, not from {spec}",
                state.spec().unwrap_or("another spec")
            ),
        }),
        AtPath::Foreign { why, .. } => (!force).then(|| Refusal::Foreign {
            path: path.into(),
            why: why.clone(),
        }),
    }
}

/// The spec paths every output must stay off, besides the fixed inputs in `paths`.
fn input_problem(path: &str, spec_keys: &BTreeMap<String, &str>) -> Option<String> {
    spec_keys
        .get(&collision_key(path))
        .map(|s| format!("is the spec {s}"))
}

/// Each spec by its collision key (folded once, not once per output: a monorepo has 10,000
/// specs and 50,000 outputs).
fn spec_keys<'a>(specs: &BTreeSet<&'a str>) -> BTreeMap<String, &'a str> {
    specs.iter().map(|s| (collision_key(s), *s)).collect()
}

/// Outputs on one path (in normal form, case folded), within a spec or across specs.
fn conflicts<'a>(outputs: impl Iterator<Item = (&'a str, &'a Output)> + Clone) -> Vec<Refusal> {
    // Nearly always there is none: first a look by a hash of each folded path and of each
    // folder on it (bytes an output, not a folded copy of every path: a monorepo has 50,000),
    // each path folded once; only a repeated hash, a conflict or a rare collision, takes the
    // exact walk.
    let hash = |s: &str| {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        s.hash(&mut h);
        h.finish()
    };
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for (_, o) in outputs.clone() {
        let key = collision_key(&o.path);
        files.push(hash(&key));
        let mut folder = key.as_str();
        while let Some((parent, _)) = folder.rsplit_once('/') {
            folders.push(hash(parent));
            folder = parent;
        }
    }
    files.sort_unstable();
    let repeated = files.windows(2).any(|w| w[0] == w[1]);
    if !repeated && !folders.iter().any(|f| files.binary_search(f).is_ok()) {
        return Vec::new();
    }
    drop((files, folders));
    let mut seen: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    let mut out = Vec::new();
    for (spec, o) in outputs.clone() {
        let key = collision_key(&o.path);
        match seen.get(&key) {
            Some((s, k)) => out.push(Refusal::Conflict {
                path: o.path.clone(),
                first: format!("{s} ({})", crate::schema::route(k)),
                second: format!("{spec} ({})", crate::schema::route(&o.key)),
            }),
            None => {
                seen.insert(key, (spec, &o.key));
            }
        }
    }
    // A file of one output where another needs a folder (`out/x` and `out/x/y`).
    for (spec, o) in outputs {
        let key = collision_key(&o.path);
        let mut folder = key.as_str();
        while let Some((parent, _)) = folder.rsplit_once('/') {
            if let Some((s, k)) = seen.get(parent) {
                out.push(Refusal::Conflict {
                    path: o.path.clone(),
                    first: format!("{s} ({}, as a file)", crate::schema::route(k)),
                    second: format!(
                        "{spec} ({}, as a folder on its path)",
                        crate::schema::route(&o.key)
                    ),
                });
            }
            folder = parent;
        }
    }
    out
}

/// Manifest entries whose file may be an orphan: the spec was run and no longer produces the
/// path, or the spec file is gone.
fn orphan_candidates<'a>(
    manifest: &'a Manifest,
    specs: &BTreeSet<&str>,
    produced: &BTreeSet<&str>,
) -> Vec<&'a (String, String)> {
    manifest
        .entries
        .iter()
        .filter(|(spec, out)| {
            (specs.contains(spec.as_str()) || manifest.gone.contains(spec))
                && !produced.contains(out.as_str())
        })
        .collect()
}

/// The error for a spec that is not what it was when qmspec first read it.
fn changed(spec: &str) -> OutputError {
    OutputError::Changed {
        spec: spec.to_string(),
        written: 0,
    }
}

/// A spec read a second time, after it was validated: it must still be there and still be
/// valid, or it changed while qmspec ran (the caller compares what else it needs).
fn read_again(
    repo: &Repo,
    spec_path: &str,
) -> Result<(Loaded, Option<(Digest, Digest)>), OutputError> {
    match read_spec_hashed(repo, spec_path) {
        Ok((loaded, _)) if loaded.has_errors() => Err(changed(spec_path)),
        Err(OutputError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Err(changed(spec_path))
        }
        other => other,
    }
}

/// How many specs' files are rendered again at once when the plan did not hold them.
const RENDER_AGAIN: usize = 64;

/// The files of `specs` (their own and their solo shared files), read and rendered again on
/// every core, by path. A spec that no longer reads as valid changed since it was planned.
fn render_again(repo: &Repo, specs: &[String]) -> Result<BTreeMap<String, String>, OutputError> {
    let one = |sp: &String| -> Result<Vec<Output>, OutputError> {
        let (loaded, _) = read_again(repo, sp)?;
        let Some(spec) = loaded.spec.as_ref() else {
            return Err(changed(sp));
        };
        let mut outs = render_spec(spec, sp)?;
        outs.extend(render_shared(&[(sp.clone(), spec)])?);
        Ok(outs)
    };
    let mut out = BTreeMap::new();
    for r in crate::workers::map(specs, 1, one) {
        out.extend(r?.into_iter().map(|o| (o.path, o.content)));
    }
    Ok(out)
}

/// Write what the plan produces. Takes the repository's lock, then plans every write and
/// removal and checks every condition that can be known up front; only when nothing is refused
/// does it write, each file atomically. Each action goes to `on_action` as it is taken (files
/// written or found unchanged in the plan's order, then removals, then files left alone), so
/// a monorepo's 50,000 lines are not held until the end.
pub fn generate(
    repo: &Repo,
    plan: &Plan,
    force: bool,
    wait: std::time::Duration,
    on_wait: &mut dyn FnMut(),
    on_action: &mut dyn FnMut(Action),
) -> Result<(), OutputError> {
    // Say so before waiting: a silent two-minute pause looks like a hang.
    let _lock = match repo.lock_within(std::time::Duration::ZERO) {
        Ok(lock) => lock,
        Err(_) if !wait.is_zero() => {
            on_wait();
            repo.lock_within(wait)
                .map_err(|source| OutputError::Lock { source })?
        }
        Err(source) => return Err(OutputError::Lock { source }),
    };
    let spec_set: BTreeSet<&str> = plan.specs.iter().map(|(s, _)| s.as_str()).collect();
    let manifest = read_manifest(repo, &spec_set)?;
    let keys = spec_keys(&spec_set);
    let mut refusals = conflicts(plan.outputs.iter().map(|p| (p.owner.as_str(), &p.output)));
    // A foreign file where the manifest goes is replaced only with `--force`; something that
    // is not a regular file, at the path or on the way to it, never (found now, not after the
    // outputs were written: reading it walked the same folders).
    match &manifest.refusal {
        Some(r @ Refusal::NotAFile { .. }) => refusals.push(r.clone()),
        Some(r) if !force => refusals.push(r.clone()),
        _ => {}
    }
    // Classifying walks every folder on the way: a file or symlink where a folder should be
    // is found here, before anything is written. A monorepo's files are read on every core,
    // each reduced at once to what the writing step needs (50,000 classifications are held
    // until the last is made).
    let examined: Vec<Examined> = crate::workers::map(&plan.outputs, 64, |p| {
        let o = &p.output;
        let problem = output_path_problem(&o.path)
            .map(str::to_string)
            .or_else(|| input_problem(&o.path, &keys));
        if let Some(reason) = problem {
            return Examined::Refused(Box::new(Refusal::Unsafe {
                path: o.path.clone(),
                reason,
            }));
        }
        match classify_file(repo, &o.path, Some(p.expect())) {
            Err(e) => Examined::Failed(Box::new(e)),
            Ok((found, ident)) => {
                match write_refusal(&o.path, &p.owner, &o.owners, &found, force) {
                    Some(r) => Examined::Refused(Box::new(r)),
                    None => Examined::Put(Put::of(&found, ident)),
                }
            }
        }
    });
    let mut writes: Vec<(&Planned, Put)> = Vec::new();
    for (p, examined) in plan.outputs.iter().zip(examined) {
        match examined {
            Examined::Put(put) => writes.push((p, put)),
            Examined::Refused(r) => refusals.push(*r),
            Examined::Failed(e) => return Err(*e),
        }
    }
    // The schema copy: written like an output, replaced only where qmspec's own schema is.
    let schema_output = plan.schema.as_ref().map(|path| {
        let content = schema_text_2020().to_string();
        Planned {
            owner: String::new(),
            hash: digest(content.as_bytes()),
            output: Output {
                path: crate::paths::normalize(path),
                key: String::new(),
                owners: Vec::new(),
                content,
            },
            held: true,
        }
    });
    if let Some(p) = &schema_output {
        let o = &p.output;
        let problem = crate::paths::schema_path_problem(&o.path)
            .map(str::to_string)
            .or_else(|| input_problem(&o.path, &keys))
            .or_else(|| {
                plan.outputs
                    .iter()
                    .any(|other| other.output.path == o.path)
                    .then(|| "is where a spec writes a generated file, and where qmspec.toml puts the schema".to_string())
            });
        if let Some(reason) = problem {
            refusals.push(Refusal::Unsafe {
                path: o.path.clone(),
                reason,
            });
        } else {
            let (found, ident) = classify_file(repo, &o.path, Some(p.expect()))?;
            let state = match &found {
                AtPath::Foreign { text: Some(t), .. } | AtPath::Stamped { text: t, .. } => {
                    crate::schema::schema_file(t)
                }
                _ => crate::schema::SchemaFile::Foreign,
            };
            use crate::schema::SchemaFile;
            match found {
                AtPath::Absent | AtPath::Same => writes.push((p, Put::of(&found, ident))),
                // Never replaced, not even with `--force`: it is not a file.
                AtPath::NotAFile(kind) => refusals.push(not_a_file(&o.path, kind)),
                _ if force || matches!(state, SchemaFile::Intact | SchemaFile::Legacy) => {
                    writes.push((p, Put::of(&found, ident)))
                }
                _ if state == SchemaFile::Edited => refusals.push(Refusal::Edited {
                    path: o.path.clone(),
                }),
                _ => refusals.push(Refusal::Foreign {
                    path: o.path.clone(),
                    why: "is not qmspec's schema (it has no qmspec stamp), so qmspec does not replace it with the schema".into(),
                }),
            }
        }
    }
    // Exact paths: after a case-only rename (`v.sh` → `V.sh`) the old name is an orphan on a
    // case-sensitive file system; on a case-insensitive one its stamp, bound to the new path,
    // no longer verifies at the old name, so nothing is removed there.
    let produced: BTreeSet<&str> = plan
        .outputs
        .iter()
        .map(|p| p.output.path.as_str())
        .collect();
    let mut removals = Vec::new();
    let mut actions = Vec::new();
    for (spec, out) in orphan_candidates(&manifest, &spec_set, &produced) {
        let (found, ident) = classify_file(repo, out, None)?;
        match found {
            AtPath::Absent => {}
            AtPath::Stamped {
                state: StampState::Intact { spec: s },
                ..
            } if stamp_names(&s, spec) => {
                if let Some(ident) = ident {
                    removals.push((out.clone(), ident));
                }
            }

            other => actions.push(Action::Kept {
                path: out.clone(),
                why: match other {
                    AtPath::Foreign { why, .. } => why,
                    AtPath::NotAFile(kind) => format!("is {}", kind.describe()),
                    AtPath::Stamped {
                        state: StampState::Edited { spec: s } | StampState::Legacy { spec: s },
                        ..
                    } if stamp_names(&s, spec) => "was edited, copied or moved since qmspec wrote it there (its stamp does not verify at this path)".to_string(),
                    AtPath::Stamped { state, .. } => format!(
                        "its stamp names {}, not {spec}",
                        state.spec().unwrap_or("no spec")
                    ),
                    AtPath::Absent | AtPath::Same => String::new(),
                },
            }),
        }
    }
    drop(produced);
    if !refusals.is_empty() {
        return Err(OutputError::Refused(refusals));
    }
    let werr = |path: &str, e: WalkError| OutputError::Write {
        path: path.to_string(),
        source: e.into_io(),
    };
    // Writes so far, for the message of a stop.
    let mut written = 0;
    for (p, _) in &writes {
        let o = &p.output;
        // A temporary file a killed run left is a whole file with an intact stamp for this
        // output (qmspec writes it completely before renaming it); only such a file is removed.
        let ours = |bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .is_ok_and(|t| matches!(stamp_state(t, &o.path), StampState::Intact { .. }))
        };
        for left in repo
            .sweep_temporaries(&o.path, &ours)
            .map_err(|e| werr(&o.path, e))?
        {
            let why = if left.contains(".qmspec-rm-") {
                // Set aside by a replacement or removal that found another file there: it may
                // hold someone's content.
                "is a file qmspec set aside when it found something other than its own file there, and it holds no intact qmspec file; look at it before you delete it"
            } else {
                "is named like a temporary file of an interrupted run but holds no intact qmspec file (an empty one is left when a run was killed between creating and writing it); delete it yourself"
            };
            actions.push(Action::Kept {
                path: left,
                why: why.into(),
            });
        }
    }
    // The new manifest: every entry of a spec that was run is replaced by what it produced;
    // entries of specs not run this time stay, those of deleted specs go with their files.
    let mut entries: BTreeSet<(&str, &str)> = manifest
        .entries
        .iter()
        .filter(|(spec, _)| !spec_set.contains(spec.as_str()) && !manifest.gone.contains(spec))
        .map(|(s, o)| (s.as_str(), o.as_str()))
        .collect();
    for p in &plan.outputs {
        for owner in &p.output.owners {
            entries.insert((owner.as_str(), p.output.path.as_str()));
        }
    }
    let old = || {
        manifest
            .entries
            .iter()
            .map(|(s, o)| (s.as_str(), o.as_str()))
    };
    // Whether the manifest lists every entry already: both sets in the same order, walked
    // side by side rather than copied into a third.
    let listed = {
        let mut listed = old().peekable();
        entries.iter().all(|e| {
            while listed.next_if(|o| o < e).is_some() {}
            listed.next_if(|o| o == e).is_some()
        })
    };
    // Before the first write, the manifest also lists every file this run may create (old
    // entries stay until their files are removed): a run stopped halfway leaves no file of
    // qmspec's that no manifest line points at.
    if !listed {
        let interim: BTreeSet<(&str, &str)> = old().chain(entries.iter().copied()).collect();
        let text = manifest_text(&interim, None);
        let (_, ident) = classify_file(repo, MANIFEST, Some(Expect::Text(&text)))?;
        repo.write_atomic(MANIFEST, text.as_bytes(), ident)
            .map_err(|e| werr(MANIFEST, e))?;
    }
    // A stop names how many files were written before it.
    let stopped = |e: OutputError, written: usize| match e {
        OutputError::Changed { spec, .. } => OutputError::Changed { spec, written },
        e => e,
    };
    // Files the plan did not hold are rendered again, a few specs at a time.
    let mut fresh: BTreeMap<String, String> = BTreeMap::new();
    for (i, (p, put)) in writes.iter().enumerate() {
        let o = &p.output;
        let expect = match put {
            Put::Same => {
                on_action(Action::Unchanged(o.path.clone()));
                continue;
            }
            Put::Create => None,
            Put::Replace(ident) => ident.as_deref().copied(),
        };
        let content = if p.held {
            o.content.as_str()
        } else {
            if !fresh.contains_key(&o.path) {
                let mut next: Vec<String> = Vec::new();
                for (q, put) in &writes[i..] {
                    if !q.held && !matches!(put, Put::Same) && !next.contains(&q.owner) {
                        next.push(q.owner.clone());
                        if next.len() == RENDER_AGAIN {
                            break;
                        }
                    }
                }
                fresh = render_again(repo, &next).map_err(|e| stopped(e, written))?;
            }
            match fresh.get(&o.path) {
                Some(c) if digest(c.as_bytes()) == p.hash => c.as_str(),
                _ => return Err(stopped(changed(&p.owner), written)),
            }
        };
        repo.write_atomic(&o.path, content.as_bytes(), expect)
            .map_err(|e| werr(&o.path, e))?;
        written += 1;
        on_action(match put {
            Put::Create => Action::Created(o.path.clone()),
            _ => Action::Updated(o.path.clone()),
        });
    }
    // A monorepo's classifications are not needed for the manifest.
    drop(fresh);
    drop(writes);
    for (out, ident) in &removals {
        repo.remove(out, *ident).map_err(|e| werr(out, e))?;
        on_action(Action::Removed(out.clone()));
    }
    // The record for `check`'s fast path: only after every spec's files were written and nothing
    // was kept, so a recorded state is one the full check passes.
    let recorded = (plan.complete && actions.is_empty())
        .then(|| {
            let read = plan.read.as_ref()?;
            // Sorted pairs searched by halving: a third of a map's memory at 50,000 outputs.
            let mut hashes: Vec<(&str, Digest)> = plan
                .outputs
                .iter()
                .map(|p| (p.output.path.as_str(), p.hash))
                .collect();
            hashes.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let hashed = |path: &str| {
                let i = hashes.binary_search_by(|(p, _)| (*p).cmp(path)).ok()?;
                Some(hashes[i].1)
            };
            record_of(entries.iter().copied(), |path| {
                read.get(path).copied().or_else(|| hashed(path))
            })
        })
        .flatten();
    let text = manifest_text(&entries, recorded.as_deref());
    // The old manifest is read whole to compare: without the sets made from it beside.
    drop(entries);
    drop(manifest);
    let (found, ident) = classify_file(repo, MANIFEST, Some(Expect::Text(&text)))?;
    if found != AtPath::Same {
        repo.write_atomic(MANIFEST, text.as_bytes(), ident)
            .map_err(|e| werr(MANIFEST, e))?;
    }
    for a in actions {
        on_action(a);
    }
    Ok(())
}

/// One output's classification in `generate`: what to do, a refusal, or an error reading it.
enum Examined {
    Put(Put),
    Refused(Box<Refusal>),
    Failed(Box<OutputError>),
}

/// What a write finds at its path, all the writing step needs of the classification: the same
/// bytes (nothing to do), nothing (a new file), or a file to replace, as it was classified.
/// The identity is boxed: held for every output, but needed only for the few replaced.
enum Put {
    Same,
    Create,
    Replace(Option<Box<Ident>>),
}

impl Put {
    fn of(found: &AtPath, ident: Option<Ident>) -> Put {
        match found {
            AtPath::Same => Put::Same,
            AtPath::Absent => Put::Create,
            _ => Put::Replace(ident.map(Box::new)),
        }
    }
}

/// One finding of `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    Missing {
        path: String,
    },
    Stale {
        path: String,
        diff: String,
    },
    Edited {
        path: String,
        diff: String,
        /// Only the line endings differ: CRLF where qmspec wrote LF (git's `core.autocrlf`,
        /// on by default in Git for Windows, converts them on checkout).
        crlf: bool,
    },
    Foreign {
        path: String,
        why: String,
        diff: String,
    },
    NotAFile {
        path: String,
        kind: Kind,
    },
    Orphaned {
        path: String,
    },
    Conflict {
        path: String,
        message: String,
    },
    SchemaOutdated {
        path: String,
        diff: String,
    },
}

impl Drift {
    pub fn path(&self) -> &str {
        match self {
            Drift::Missing { path }
            | Drift::Stale { path, .. }
            | Drift::Edited { path, .. }
            | Drift::Foreign { path, .. }
            | Drift::NotAFile { path, .. }
            | Drift::Orphaned { path }
            | Drift::Conflict { path, .. }
            | Drift::SchemaOutdated { path, .. } => path,
        }
    }
    pub fn code(&self) -> &'static str {
        match self {
            Drift::Missing { .. } => "qmspec::missing",
            Drift::Stale { .. } => "qmspec::stale",
            Drift::Edited { .. } => "qmspec::edited-by-hand",
            Drift::Foreign { .. } => "qmspec::not-generated",
            Drift::NotAFile { .. } => "qmspec::not-a-file",
            Drift::Orphaned { .. } => "qmspec::orphaned",
            Drift::Conflict { .. } => "qmspec::output-conflict",
            Drift::SchemaOutdated { .. } => "qmspec::schema-outdated",
        }
    }
    pub fn message(&self) -> String {
        match self {
            Drift::Missing { path } => format!("{path} is missing: the spec produces it"),
            Drift::Stale { path, .. } => {
                format!("{path} is stale: the spec changed since it was generated")
            }
            Drift::Edited {
                path, crlf: true, ..
            } => format!(
                "{path} has CRLF line endings where qmspec wrote LF: git's `core.autocrlf` converts them on checkout"
            ),
            Drift::Edited { path, .. } => {
                format!("{path} was edited by hand: `qmspec generate` would lose these edits")
            }
            Drift::Foreign { path, why, .. } => format!("{path} {why}, but the spec writes it"),
            Drift::NotAFile { path, kind } => format!(
                "{path}: there is {} at or on the way to the path, but the spec writes a file there",
                kind.describe()
            ),
            Drift::Orphaned { path } => format!(
                "{path} is orphaned: qmspec generated it, but the spec no longer produces it"
            ),
            Drift::Conflict { message, .. } => message.clone(),
            Drift::SchemaOutdated { path, .. } => {
                format!("{path} does not match this qmspec's schema")
            }
        }
    }
    /// What to do about it, naming the command that fixes it.
    pub fn help(&self) -> String {
        match self {
            Drift::Missing { path } if path.ends_with(".json") => {
                "run `qmspec generate`, which writes it (or check without it: `qmspec check --no-schema`)".to_string()
            }
            Drift::Missing { .. } | Drift::Stale { .. } => "run `qmspec generate`".into(),
            Drift::Edited { path, crlf: true, .. } => format!(
                "keep LF in the checkout: add `{}/** text eol=lf` to .gitattributes, then run `qmspec generate --force`",
                path.rsplit_once('/').map_or(".", |(dir, _)| dir)
            ),
            Drift::Edited { .. } => "move the edits into the spec, then run `qmspec generate` (or `qmspec generate --force` to discard them)".into(),
            Drift::Foreign { path, .. } if path.ends_with(".json") => format!("move the file away, then run `qmspec generate` (`qmspec generate --force` replaces it), or set `schema` in {}", crate::config::CONFIG),
            Drift::Foreign { .. } => "move the file away, then run `qmspec generate`".into(),
            Drift::NotAFile { .. } => "remove what is there, then run `qmspec generate`".into(),
            Drift::Orphaned { .. } => "run `qmspec generate` to remove it".into(),
            Drift::Conflict { .. } => "give each generated file its own path".into(),
            Drift::SchemaOutdated { .. } => "run `qmspec generate`, which writes this qmspec's schema there".to_string(),
        }
    }
    /// The finding as a diagnostic on its file, with the diff as its detail.
    pub fn diagnostic(&self) -> crate::diag::Diagnostic {
        let d = crate::diag::Diagnostic::error(self.code(), self.message()).with_help(self.help());
        match self.diff() {
            Some(diff) => d.with_detail(diff),
            None => d,
        }
    }
    pub fn diff(&self) -> Option<&str> {
        match self {
            Drift::Stale { diff, .. }
            | Drift::Edited { diff, .. }
            | Drift::Foreign { diff, .. }
            | Drift::SchemaOutdated { diff, .. } => Some(diff.as_str()).filter(|d| !d.is_empty()),
            _ => None,
        }
    }
}

/// A unified diff from the committed file to what the spec produces, within a size and time
/// budget: past [`MAX_DIFF_BYTES`] it is one line giving both sizes.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    if old.len() + new.len() > MAX_DIFF_BYTES {
        return format!(
            "(no diff: the committed file is {} bytes and the spec produces {} bytes, more than qmspec diffs)\n",
            old.len(),
            new.len()
        );
    }
    TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("a/{path} (committed)"),
            &format!("b/{path} (from the spec)"),
        )
        .to_string()
}

/// What `check` learned from one spec.
pub struct SpecCheck {
    pub path: String,
    /// The validation result, kept only when the spec is invalid (its report is printed).
    pub invalid: Option<Box<Loaded>>,
    pub drift: Vec<Drift>,
    /// How many files the spec produces.
    pub files: usize,
}

/// Compare one rendered file with the committed one.
fn compare(repo: &Repo, o: &Output) -> Result<Option<Drift>, OutputError> {
    let path = o.path.clone();
    Ok(match classify(repo, &o.path, Some(&o.content))? {
        AtPath::Same => None,
        AtPath::Absent => Some(Drift::Missing { path }),
        AtPath::NotAFile(kind) => Some(Drift::NotAFile { path, kind }),
        AtPath::Foreign { why, text } => Some(Drift::Foreign {
            diff: text
                .map(|t| unified_diff(&o.path, &t, &o.content))
                .unwrap_or_default(),
            path,
            why,
        }),
        AtPath::Stamped { state, text } => {
            let diff = unified_diff(&o.path, &text, &o.content);
            Some(match state {
                StampState::Intact { spec: s } | StampState::Legacy { spec: s }
                    if owned(&s, &o.owners) =>
                {
                    Drift::Stale { path, diff }
                }
                StampState::Edited { spec: s } if owned(&s, &o.owners) => Drift::Edited {
                    path,
                    diff,
                    crlf: text.contains("\r\n") && text.replace("\r\n", "\n") == o.content,
                },
                other => Drift::Foreign {
                    path,
                    why: format!(
                        "was written by qmspec from {}",
                        other.spec().unwrap_or("another spec")
                    ),
                    diff,
                },
            })
        }
    })
}

/// The files a spec shares with others (the workflow), rendered as if it were their only
/// spec: in a monorepo most specs have a workflow of their own, and then this is the file, made
/// on the worker that read the spec, so the spec need not be kept.
struct Solo<T> {
    /// Every shared path the spec names.
    paths: Vec<String>,
    /// The spec itself, kept in small repositories (where a shared file then needs no second
    /// read); a monorepo keeps none, so memory stays flat, and reads a shared file's specs again.
    spec: Option<Box<crate::model::Spec>>,
    /// The spec and lock file as they were read and validated: a second read must find the
    /// same bytes, or the spec changed while qmspec ran.
    read: Option<(Digest, Digest)>,
    /// Each such file as `each` made it, or why it cannot be made.
    rendered: Result<Vec<T>, OutputError>,
}

/// Up to this many specs, `check` and `generate` keep each parsed spec until the shared files
/// are made.
const KEEP_SPECS: usize = 64;

fn solo<T>(
    spec_path: &str,
    spec: &crate::model::Spec,
    keep: bool,
    read: Option<(Digest, Digest)>,
    each: impl Fn(Output) -> Result<T, OutputError>,
) -> Solo<T> {
    let rendered = render_shared(&[(spec_path.to_string(), spec)])
        .map_err(OutputError::from)
        .and_then(|outs| outs.into_iter().map(each).collect());
    Solo {
        paths: shared_paths(spec),
        spec: keep.then(|| Box::new(spec.clone())),
        read,
        rendered,
    }
}

/// A file as `check` keeps it: paths and keys (for the cross-spec conflict check), not the
/// content, and what comparing it found.
type Compared = (Output, Option<Drift>);

fn compared(repo: &Repo, o: Output) -> Result<Compared, OutputError> {
    let found = compare(repo, &o)?;
    Ok((
        Output {
            content: String::new(),
            ..o
        },
        found,
    ))
}

type Checked = (SpecCheck, Vec<Output>, Option<Solo<Compared>>);

/// Validate, render and compare one spec; nothing of it is kept but the findings and the
/// paths it produces.
fn check_one(repo: &Repo, spec_path: &str, keep: bool) -> Result<Checked, OutputError> {
    let (loaded, digests) = read_spec_hashed(repo, spec_path)?;
    let Some(spec) = loaded.spec.as_ref().filter(|_| !loaded.has_errors()) else {
        return Ok((
            SpecCheck {
                path: spec_path.to_string(),
                invalid: Some(Box::new(loaded)),
                drift: Vec::new(),
                files: 0,
            },
            Vec::new(),
            None,
        ));
    };
    let mut drift = Vec::new();
    let mut outputs = Vec::new();
    for o in render_spec(spec, spec_path)? {
        let (o, found) = match output_path_problem(&o.path) {
            Some(reason) => {
                let message = format!("{} {reason}", o.path);
                let path = o.path.clone();
                (
                    Output {
                        content: String::new(),
                        ..o
                    },
                    Some(Drift::Conflict { path, message }),
                )
            }
            None => compared(repo, o)?,
        };
        drift.extend(found);
        outputs.push(o);
    }
    let files = outputs.len();
    Ok((
        SpecCheck {
            path: spec_path.to_string(),
            invalid: None,
            drift,
            files,
        },
        outputs,
        Some(solo(spec_path, spec, keep, digests, |o| compared(repo, o))),
    ))
}

/// Check every spec, several at a time (one worker per core), each through the same render
/// path as `generate`, keeping only findings so memory stays flat however many specs there are.
/// Results come back in the order of `spec_paths`; the schema is compared when asked.
pub fn check(
    repo: &Repo,
    spec_paths: &[String],
    others: &[String],
    schema: Option<&str>,
) -> Result<(Vec<SpecCheck>, Vec<Drift>), OutputError> {
    let keep = spec_paths.len() <= KEEP_SPECS;
    let results = std::thread::scope(|scope| {
        // Compile the templates while the first specs are read, parsed and validated; the
        // workers wait for them only when they get that far.
        scope.spawn(crate::render::warm_up);
        crate::workers::map(spec_paths, 1, |sp| check_one(repo, sp, keep))
    });
    let mut checks = Vec::new();
    let mut all_outputs = Vec::new();
    let mut solos = Vec::new();
    for r in results {
        let (c, outs, solo) = r?;
        for o in outs {
            all_outputs.push((c.path.clone(), o));
        }
        solos.extend(solo.map(|s| (c.path.clone(), s)));
        checks.push(c);
    }
    let mut drift = Vec::new();
    // The shared files, once every asked-for spec is valid (an invalid one is reported).
    if checks.iter().all(|c| c.invalid.is_none()) {
        let shared = shared_files(repo, spec_paths, others, solos, |_, o| compared(repo, o))?;
        if let Some(c) = checks.first_mut() {
            c.files += shared.len();
        }
        for (owner, (o, found)) in shared {
            drift.extend(found);
            all_outputs.push((owner, o));
        }
    }
    for r in conflicts(all_outputs.iter().map(|(s, o)| (s.as_str(), o))) {
        drift.push(Drift::Conflict {
            path: match &r {
                Refusal::Conflict { path, .. } => path.clone(),
                _ => String::new(),
            },
            message: r.to_string(),
        });
    }
    let spec_set: BTreeSet<&str> = spec_paths.iter().map(String::as_str).collect();
    let manifest = read_manifest(repo, &spec_set)?;
    let produced: BTreeSet<&str> = all_outputs.iter().map(|(_, o)| o.path.as_str()).collect();
    for (spec, out) in orphan_candidates(&manifest, &spec_set, &produced) {
        if let AtPath::Stamped {
            state: StampState::Intact { spec: s },
            ..
        } = classify(repo, out, None)?
            && &s == spec
        {
            drift.push(Drift::Orphaned { path: out.clone() });
        }
    }
    if let Some(path) = schema {
        let expected = schema_text_2020();
        match classify(repo, path, Some(expected))? {
            AtPath::Same => {}
            AtPath::Absent => drift.push(Drift::Missing {
                path: path.to_string(),
            }),
            AtPath::NotAFile(kind) => drift.push(Drift::NotAFile {
                path: path.to_string(),
                kind,
            }),
            AtPath::Stamped { text, .. }
            | AtPath::Foreign {
                text: Some(text), ..
            } if crate::schema::schema_file(&text) != crate::schema::SchemaFile::Foreign => drift
                .push(Drift::SchemaOutdated {
                    path: path.to_string(),
                    diff: unified_diff(path, &text, expected),
                }),
            // Someone else's file: no diff against a schema it never was.
            AtPath::Stamped { .. } | AtPath::Foreign { .. } => drift.push(Drift::Foreign {
                path: path.to_string(),
                why: "is not qmspec's schema (no qmspec stamp)".into(),
                diff: String::new(),
            }),
        }
    }
    Ok((checks, drift))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two specs sharing one workflow, in a scratch repository.
    fn two_sharing() -> (tempfile::TempDir, Repo, Vec<String>) {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("specs")).expect("mkdir");
        let text = include_str!("../tests/fixtures/minimal.yaml");
        for (file, name) in [("a", "demo-a"), ("b", "demo-b")] {
            let spec = text
                .replace("name: demo", &format!("name: {name}"))
                .replace("generated/", &format!("generated/{file}/"))
                .replace(
                    &format!("generated/{file}/publish-demo.yml"),
                    "generated/publish-demo.yml",
                );
            std::fs::write(dir.path().join(format!("specs/{file}.yaml")), spec).expect("write");
        }
        let repo = Repo::open(dir.path()).expect("repo");
        (
            dir,
            repo,
            vec!["specs/a.yaml".into(), "specs/b.yaml".into()],
        )
    }

    /// A shared file's specs, not kept, as planning left them: their digests as first read.
    fn solos(repo: &Repo, specs: &[String]) -> Vec<(String, Solo<Output>)> {
        specs
            .iter()
            .map(|sp| {
                let (loaded, read) = read_spec_hashed(repo, sp).expect("read");
                let spec = loaded.spec.as_ref().expect("valid");
                assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
                (sp.clone(), solo(sp, spec, false, read, Ok))
            })
            .collect()
    }

    #[test]
    fn a_shared_file_is_made_from_the_specs_as_validated() {
        let (_dir, repo, specs) = two_sharing();
        let made = shared_files(&repo, &specs, &[], solos(&repo, &specs), |_, o| Ok(o))
            .expect("shared files");
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].1.path, "generated/publish-demo.yml");
        assert_eq!(made[0].1.owners, specs);
    }

    /// Read again for the shared file, a spec that changed since it was validated (even to
    /// another valid spec), became invalid or went away stops the run: the shared file is
    /// never made from text no rule has seen.
    #[test]
    fn a_spec_changed_before_its_shared_file_is_made_stops_the_run() {
        for change in ["edit", "invalid", "delete", "lock"] {
            let (dir, repo, specs) = two_sharing();
            let before = solos(&repo, &specs);
            let path = dir.path().join("specs/b.yaml");
            let text = std::fs::read_to_string(&path).expect("read");
            match change {
                "edit" => std::fs::write(&path, text.replace("demo-b", "demo-c")),
                "invalid" => std::fs::write(&path, format!("{text}\nunknown-key: 1\n")),
                "delete" => std::fs::remove_file(&path),
                _ => std::fs::write(dir.path().join("specs/b.lock"), "{}\n"),
            }
            .expect("change");
            match shared_files(&repo, &specs, &[], before, |_, o| Ok(o)) {
                Err(OutputError::Changed { spec, written: 0 }) => {
                    assert_eq!(spec, "specs/b.yaml", "{change}")
                }
                other => panic!("{change}: {:?}", other.map(|v| v.len())),
            }
        }
    }
}
