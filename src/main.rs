//! The `qmspec` command line: argument parsing, printing and exit codes.
//!
//! Exit codes: 0 success (warnings allowed), 1 invalid spec or drift, 2 usage or I/O error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use qmspec::config::Config;
use qmspec::diag::{self, Diagnostic, Severity};
use qmspec::load::Loaded;
use qmspec::output::{self, Action, Drift};
use qmspec::repo::Repo;
use qmspec::schema::{Draft, schema_text};

// Checking a spec is allocation-heavy (YAML nodes, JSON values, rendered text): mimalloc
// makes those allocations markedly cheaper than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// When the manual page last changed (`qmspec man`).
const MAN_DATE: &str = "2026-11-30";

const AFTER_HELP: &str = "Exit codes:\n  0  success (warnings allowed)\n  1  invalid spec, or generated files out of date\n  2  usage or I/O error";

#[derive(Parser)]
#[command(name = "qmspec", version, about = "Compile a multi-architecture container spec into Dockerfiles and CI", after_help = AFTER_HELP)]
struct Cli {
    /// Repository root that spec and output paths are relative to (default: the nearest folder
    /// upwards holding `qmspec.toml`, `specs/` or `.git`, like git finds its repository).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Colour in reports: `auto` colours a terminal unless NO_COLOR is set (CLICOLOR_FORCE
    /// forces it), `always`, `never`.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value = "auto",
        hide_possible_values = true
    )]
    color: ColorChoice,
    /// Print problems only: no list of files written, no summary lines.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// A part of what `qmspec lock` resolves.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LockPart {
    /// Each download's sha256 and size.
    Downloads,
    /// Each base image tag's digest per platform.
    Bases,
    /// Each GitHub Action's release commit.
    Actions,
    /// Each conda package's build per platform.
    Conda,
    /// Each pinned PyPI package's installable file per platform.
    Pip,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Github,
    Sarif,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Whether to colour a stream: `--color`, then NO_COLOR (any value turns colour off) and
/// CLICOLOR_FORCE (any value but `0` turns it on), then whether the stream is a terminal.
fn use_color(choice: ColorChoice, terminal: bool) -> bool {
    let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
    match choice {
        ColorChoice::Never => false,
        ColorChoice::Always => true,
        ColorChoice::Auto if set("NO_COLOR") => false,
        ColorChoice::Auto if set("CLICOLOR_FORCE") => {
            std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| v != "0")
        }
        ColorChoice::Auto => terminal,
    }
}

/// The width reports wrap to: the terminal's, else 100 columns (stable in pipes and snapshots).
fn report_width(stream: &std::io::Stderr, terminal: bool) -> usize {
    terminal
        .then(|| terminal_columns(stream))
        .flatten()
        .filter(|w| *w >= 40)
        .unwrap_or(100)
}

#[cfg(unix)]
fn terminal_columns(stream: &std::io::Stderr) -> Option<usize> {
    rustix::termios::tcgetwinsize(stream)
        .ok()
        .map(|w| usize::from(w.ws_col))
}

#[cfg(windows)]
fn terminal_columns(stream: &std::io::Stderr) -> Option<usize> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::System::Console::{
        CONSOLE_SCREEN_BUFFER_INFO, GetConsoleScreenBufferInfo,
    };
    // SAFETY: a zeroed plain C struct, filled by the call on a handle the stream owns.
    let mut info: CONSOLE_SCREEN_BUFFER_INFO = unsafe { std::mem::zeroed() };
    let ok = unsafe { GetConsoleScreenBufferInfo(stream.as_raw_handle(), &mut info) };
    let columns = i32::from(info.srWindow.Right) - i32::from(info.srWindow.Left) + 1;
    (ok != 0).then(|| usize::try_from(columns).ok()).flatten()
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExplainFormat {
    /// For a terminal (also `human`, as `validate` and `check` call it).
    #[value(alias = "human")]
    Text,
    Markdown,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check specs against the schema and qmspec's rules.
    #[command(after_help = AFTER_HELP)]
    Validate {
        /// Spec files (default: every spec `qmspec.toml` names); `-` reads one from standard
        /// input.
        specs: Vec<String>,
        /// Output format for problems.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Write the Dockerfiles, validation script and workflow that the specs produce.
    #[command(after_help = AFTER_HELP)]
    Generate {
        /// Spec files (default: every specs/*.yaml).
        specs: Vec<String>,
        /// Overwrite files edited by hand or not generated by qmspec (files without a qmspec
        /// stamp are never deleted, even with this).
        #[arg(long)]
        force: bool,
        /// Seconds to wait for another `qmspec generate` in the same repository to finish
        /// (`0`: fail at once when one is running).
        #[arg(long, value_name = "SECONDS", default_value_t = 120)]
        wait: u64,
    },
    /// Report generated files that are missing, stale, edited by hand or orphaned.
    #[command(after_help = AFTER_HELP)]
    Check {
        /// Spec files (default: every specs/*.yaml).
        specs: Vec<String>,
        /// Output format for findings.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Skip comparing the schema copy with this qmspec's schema.
        #[arg(long)]
        no_schema: bool,
        /// Render and compare every file, even when the manifest's record shows that nothing
        /// `check` depends on changed since a complete `generate` of this qmspec build.
        #[arg(long)]
        full: bool,
    },
    /// Hash every download the specs name and record it beside each spec (`specs/NAME.lock`),
    /// so the generated files verify it. The only command that uses the network.
    #[command(after_help = AFTER_HELP)]
    Lock {
        /// Spec files (default: every specs/*.yaml).
        specs: Vec<String>,
        /// Verify that the lock files are current without writing them (for CI).
        #[arg(long)]
        check: bool,
        /// Fetch plain HTTP from any host (it is always allowed to this machine).
        #[arg(long)]
        allow_http: bool,
        /// Move each GitHub Action to the newest release of its major version.
        #[arg(long)]
        upgrade_actions: bool,
        /// Resolve only these parts, keeping the rest of each lock file as it is (default:
        /// all); repeatable.
        #[arg(long, value_enum, value_name = "PART")]
        only: Vec<LockPart>,
        /// Fetch URLs starting with FROM from TO instead (a mirror), e.g.
        /// `https://github.com/=https://mirror.example/github/`; repeatable.
        #[arg(long, value_name = "FROM=TO")]
        mirror: Vec<String>,
        /// Largest download hashed, in MiB.
        #[arg(long, value_name = "MIB", default_value_t = 4096)]
        max_size: u64,
        /// Longest one download may take, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
        timeout: u64,
    },
    /// Start: write a commented first spec (or draft one from existing Dockerfiles with
    /// `--from`) and the schema its modeline points at; never overwrites a file.
    #[command(after_help = AFTER_HELP)]
    Init {
        /// Image name (default: the repository folder's name).
        #[arg(long)]
        name: Option<String>,
        /// A hand-kept Dockerfile to draft the spec from, one per platform (the platform comes
        /// from the file name, `FROM --platform` or its download URLs); repeatable.
        #[arg(long, value_name = "DOCKERFILE")]
        from: Vec<String>,
    },
    /// Show how the platforms of each spec differ: bases, tools per platform, env, outputs
    /// and CI jobs.
    #[command(after_help = AFTER_HELP)]
    Explain {
        /// Spec files (default: every spec).
        specs: Vec<String>,
        /// `text` for a terminal, `markdown` for a pull-request comment or docs, `json`.
        #[arg(long, value_enum, default_value = "text")]
        format: ExplainFormat,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to source or to
    /// install where the shell looks for completions.
    Completions {
        /// The shell to write the script for.
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff), e.g. `qmspec man > qmspec.1 && man -l qmspec.1`; with a
    /// command, that command's page (`qmspec man check > qmspec-check.1`).
    Man {
        /// The command whose page to print (default: qmspec's own).
        command: Option<String>,
    },
    /// Print the spec's JSON Schema.
    Schema {
        /// JSON Schema draft to emit.
        #[arg(long, value_enum, default_value = "2020-12")]
        draft: Draft,
    },
}

/// Where everything a command prints goes: buffered, then written once, so that a closed
/// pipe or a full disk is handled in one place instead of panicking in `print!`.
#[derive(Default)]
struct Out {
    stdout: String,
    stderr: String,
    /// How reports look: colour per stream, the width they wrap to, and `--quiet`.
    color_stdout: bool,
    color_stderr: bool,
    width: usize,
    quiet: bool,
    /// Why writing out failed (not a closed pipe), once it has: the run ends with exit 2.
    failed: Option<String>,
}

impl Out {
    /// [`Out::spill`] once a megabyte is buffered: a long report streams in large writes.
    fn spill_when_full(&mut self) {
        if self.stdout.len() + self.stderr.len() > 1 << 20 {
            self.spill();
        }
    }

    /// Write what is buffered so far and start again, so a long report streams instead of
    /// growing in memory. A closed pipe ends the writing quietly, as `emit` does.
    fn spill(&mut self) {
        if self.failed.is_none() {
            let written = std::io::stderr()
                .lock()
                .write_all(self.stderr.as_bytes())
                .and_then(|()| std::io::stdout().lock().write_all(self.stdout.as_bytes()));
            match written {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    self.failed = Some(e.to_string());
                }
                _ => {}
            }
        }
        self.stdout.clear();
        self.stderr.clear();
    }
}

macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{ use std::fmt::Write as _; let _ = writeln!($out.stdout, $($arg)*); }};
}
/// A line of progress or summary on stdout, left out with `--quiet`.
macro_rules! note {
    ($out:expr, $($arg:tt)*) => {{ if !$out.quiet { use std::fmt::Write as _; let _ = writeln!($out.stdout, $($arg)*); } }};
}
macro_rules! warn {
    ($out:expr, $($arg:tt)*) => {{ use std::fmt::Write as _; let _ = writeln!($out.stderr, $($arg)*); }};
}

/// The repository root: `--root`, else the nearest folder upwards from the working directory
/// that holds `specs/` or `.git`, else the working directory.
fn find_root(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    let root = find_root_anywhere(explicit)?;
    // Never a root inside git's own folder: everything qmspec writes would land in `.git`.
    let in_git = root
        .components()
        .any(|c| qmspec::paths::is_git_component(&c.as_os_str().to_string_lossy()));
    if in_git {
        return Err(format!(
            "the repository root {} is inside `.git`; run qmspec in the working tree (or pass `--root`)",
            root.display()
        ));
    }
    Ok(root)
}

fn find_root_anywhere(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(r) = explicit {
        return r
            .canonicalize()
            .map_err(|e| format!("cannot open --root {}: {e}", r.display()));
    }
    let cwd = std::env::current_dir()
        .and_then(|d| d.canonicalize())
        .map_err(|e| format!("cannot read the working directory: {e}"))?;
    Ok(cwd
        .ancestors()
        .find(|d| {
            d.join(qmspec::config::CONFIG).is_file()
                || d.join("specs").is_dir()
                || d.join(".git").exists()
        })
        .unwrap_or(&cwd)
        .to_path_buf())
}

/// A spec argument (relative to the working directory) as a path relative to the root.
fn spec_arg(root: &Path, arg: &str) -> Result<String, String> {
    let cwd = std::env::current_dir()
        .and_then(|d| d.canonicalize())
        .map_err(|e| format!("cannot read the working directory: {e}"))?;
    let mut full = PathBuf::new();
    for c in cwd.join(arg).components() {
        match c {
            std::path::Component::ParentDir => {
                full.pop();
            }
            std::path::Component::CurDir => {}
            other => full.push(other),
        }
    }
    // A path through a symlink (to the repository, say) is compared by where its folder is.
    if !full.starts_with(root)
        && let (Some(parent), Some(name)) = (full.parent(), full.file_name())
        && let Ok(real) = parent.canonicalize()
    {
        full = real.join(name);
    }
    let rel = full.strip_prefix(root).map_err(|_| {
        format!(
            "{arg} is outside the repository ({}); pass `--root` or run qmspec inside the repository",
            root.display()
        )
    })?;
    // Joined with `/` on every platform: repository paths are `/`-separated (Windows would
    // give `specs\worker.yaml`).
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    parts
        .map(|p| p.join("/"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{arg} does not name a spec file"))
}

/// The specs named on the command line, or every spec the configuration's globs find (files
/// carrying the spec's modeline), sorted.
fn spec_list(
    root: &Path,
    config: &Config,
    specs: Vec<String>,
    out: &mut Out,
) -> Result<Vec<String>, ()> {
    let mut specs = specs;
    // `-` once, however often it is named: standard input can be read only once.
    let mut seen_stdin = false;
    specs.retain(|s| s != "-" || !std::mem::replace(&mut seen_stdin, true));
    if !specs.is_empty() {
        let mut list = Vec::new();
        for a in &specs {
            match spec_arg(root, a) {
                Ok(p) => list.push(p),
                Err(e) => {
                    warn!(out, "error: {e}");
                    return Err(());
                }
            }
        }
        return Ok(list);
    }
    let mut found = qmspec::config::discover(root, config);
    // A spec qmspec generated files from stays a spec when it loses its modeline (a licence
    // header pushed it down, say): dropping it would leave its files behind unchecked.
    // The manifest is read only when a candidate lacks its modeline (a monorepo's manifest
    // lists tens of thousands of files).
    if !found.unmarked.is_empty()
        && let Ok(repo) = Repo::open(root)
    {
        let generated_from = output::manifest_specs(&repo);
        let (kept, unmarked): (Vec<String>, Vec<String>) = found
            .unmarked
            .drain(..)
            .partition(|f| generated_from.contains(f));
        for f in &kept {
            warn!(
                out,
                "warning: {f} has no `{}` line among its first ten; it stays a spec because qmspec generated files from it: put the line back at its top",
                qmspec::config::modeline(f, &config.schema)
            );
        }
        found.unmarked = unmarked;
        found.specs.extend(kept);
        found.specs.sort();
    }
    if let Some(name) = found.not_utf8.first() {
        warn!(
            out,
            "error: {name} has a file name that is not UTF-8; rename it"
        );
        return Err(());
    }
    if found.specs.is_empty() {
        let globs = config.specs.join(", ");
        warn!(
            out,
            "error: no spec found: no file matching {globs} starts with the spec's modeline"
        );
        for f in found.unmarked.iter().take(20) {
            warn!(
                out,
                "  {f} matches, but has no `{}` line among its first ten, so it is not taken for a spec",
                qmspec::config::modeline(f, &config.schema)
            );
        }
        if found.unmarked.len() > 20 {
            warn!(out, "  … and {} more", found.unmarked.len() - 20);
        }
        warn!(
            out,
            "  run `qmspec init` to write a first spec, or add the modeline to the top of a spec (the globs are `specs` in {})",
            qmspec::config::CONFIG
        );
        return Err(());
    }
    Ok(found.specs)
}

/// When specs are named on the command line, the repository's other specs: the files specs
/// share (the publish workflow) are made from all of them.
fn other_specs(root: &Path, config: &Config, args: &[String]) -> Vec<String> {
    if args.is_empty() {
        return Vec::new();
    }
    qmspec::config::discover(root, config).specs
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (out_term, err_term) = (
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    );
    let mut out = Out {
        color_stdout: use_color(cli.color, out_term),
        color_stderr: use_color(cli.color, err_term),
        width: report_width(&std::io::stderr(), err_term),
        quiet: cli.quiet,
        ..Out::default()
    };
    // Errors printed through miette (I/O, refusals) follow the same colour and width.
    let (color, width) = (out.color_stderr, out.width);
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(true)
                .width(width)
                .build(),
        )
    }));
    let code = run(cli, &mut out);
    ExitCode::from(emit(&out, code))
}

/// Write what a command printed. A closed pipe ends quietly with the command's own exit code
/// (as `git log | head` does); any other write error is exit 2 with a message.
fn emit(out: &Out, code: u8) -> u8 {
    let mut stderr = std::io::stderr().lock();
    if let Some(e) = &out.failed {
        let _ = writeln!(stderr, "error: cannot write the output: {e}");
        return 2;
    }
    let err_result = stderr
        .write_all(out.stderr.as_bytes())
        .and_then(|()| stderr.flush());
    let result = {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(out.stdout.as_bytes())
            .and_then(|()| stdout.flush())
    };
    match result.and(err_result) {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            let _ = writeln!(stderr, "error: cannot write the output: {e}");
            2
        }
    }
}

fn run(cli: Cli, out: &mut Out) -> u8 {
    match cli.command {
        Command::Schema { draft } => {
            out.stdout.push_str(&schema_text(draft));
            return 0;
        }
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "qmspec",
                &mut buf,
            );
            out.stdout.push_str(&String::from_utf8_lossy(&buf));
            return 0;
        }
        Command::Man { command } => {
            let mut buf = Vec::new();
            let mut cli = <Cli as clap::CommandFactory>::command();
            cli.build();
            let page = match &command {
                None => cli,
                Some(name) => match cli.find_subcommand(name) {
                    // Named as the top page lists it: `qmspec-check(1)`.
                    Some(sub) => sub.clone().name(format!("qmspec-{name}")),
                    None => {
                        warn!(
                            out,
                            "error: qmspec has no command `{}`; `qmspec --help` lists them",
                            qmspec::config::inert(name)
                        );
                        return 2;
                    }
                },
            };
            // A fixed date: the page is the same for every build of this version.
            let man = clap_mangen::Man::new(page)
                .date(MAN_DATE)
                .manual("qmspec manual");
            return match man.render(&mut buf) {
                Ok(()) => {
                    // clap_mangen separates a list of possible values with `.br`, a blank line, `.br`,
                    // which mandoc's lint reads as paragraph macros to skip: one `.sp` says it.
                    let page = String::from_utf8_lossy(&buf).replace("\n.br\n\n.br\n", "\n.sp\n");
                    out.stdout.push_str(&page);
                    0
                }
                Err(e) => {
                    warn!(out, "error: cannot render the manual page: {e}");
                    2
                }
            };
        }
        _ => {}
    }
    let root = match find_root(cli.root) {
        Ok(r) => r,
        Err(e) => {
            warn!(out, "error: {e}");
            return 2;
        }
    };
    let repo = match Repo::open(&root) {
        Ok(r) => r,
        Err(e) => {
            warn!(
                out,
                "error: cannot open the repository {}: {e}",
                root.display()
            );
            return 2;
        }
    };
    let config = match qmspec::config::load(&root) {
        Ok(c) => c,
        Err(e) => {
            warn!(out, "error: {e}");
            return 2;
        }
    };
    match cli.command {
        Command::Schema { .. } | Command::Completions { .. } | Command::Man { .. } => 0,
        Command::Init { name, from } => init(&root, &repo, &config, name, &from, out),
        Command::Explain { specs, format } => match spec_list(&root, &config, specs, out) {
            Ok(list) => explain(&repo, list, format, out),
            Err(()) => 2,
        },
        Command::Validate { specs, format } => validate(&root, &config, &repo, specs, format, out),
        Command::Generate { specs, force, wait } => {
            match spec_list(&root, &config, specs.clone(), out) {
                Ok(list) => {
                    let others = other_specs(&root, &config, &specs);
                    let wait = std::time::Duration::from_secs(wait);
                    generate(&repo, &config, list, &others, force, wait, out)
                }
                Err(()) => 2,
            }
        }
        Command::Lock {
            specs,
            check,
            allow_http,
            upgrade_actions,
            only,
            mirror,
            max_size,
            timeout,
        } => {
            let mut mirrors = Vec::new();
            for m in &mirror {
                match m.split_once('=') {
                    Some((from, to)) if !from.is_empty() && !to.is_empty() => {
                        mirrors.push((from.to_string(), to.to_string()))
                    }
                    _ => {
                        warn!(
                            out,
                            "error: --mirror {m}: write it as FROM=TO, e.g. https://github.com/=https://mirror.example/github/"
                        );
                        return 2;
                    }
                }
            }
            // On a terminal, a spinner per spec and a bar per download; nothing when piped or in CI.
            let display = std::io::IsTerminal::is_terminal(&std::io::stderr())
                .then(indicatif::MultiProgress::new);
            let fetcher = qmspec::fetch::Fetcher {
                allow_http,
                mirrors,
                max_bytes: max_size.saturating_mul(1024 * 1024),
                timeout: std::time::Duration::from_secs(timeout.max(1)),
                progress: display.clone().map(download_bars),
                ..qmspec::fetch::Fetcher::default()
            };
            match spec_list(&root, &config, specs, out) {
                Ok(list) => {
                    let all = only.is_empty();
                    let parts = qmspec::lock::Parts {
                        downloads: all || only.contains(&LockPart::Downloads),
                        bases: all || only.contains(&LockPart::Bases),
                        actions: all || only.contains(&LockPart::Actions),
                        conda: all || only.contains(&LockPart::Conda),
                        pip: all || only.contains(&LockPart::Pip),
                    };
                    let run = LockRun {
                        fetcher: &fetcher,
                        display: display.as_ref(),
                        check,
                        upgrade_actions,
                        parts,
                    };
                    lock(&repo, list, &run, out)
                }
                Err(()) => 2,
            }
        }
        Command::Check {
            specs,
            format,
            no_schema,
            full,
        } => match spec_list(&root, &config, specs.clone(), out) {
            Ok(list) => {
                let others = other_specs(&root, &config, &specs);
                let schema = (!no_schema).then_some(config.schema.as_str());
                // Unchanged since a complete `generate` by this build: a read, no rendering.
                let fast = (specs.is_empty() && !full)
                    .then(|| output::fast_check(&repo, &list, schema))
                    .flatten();
                if cfg!(debug_assertions) && std::env::var_os("QMSPEC_TRACE_CHECK").is_some() {
                    warn!(
                        out,
                        "trace: check took the {} path",
                        if fast.is_some() { "fast" } else { "full" }
                    );
                }
                match fast {
                    Some(files) if format == Format::Sarif => {
                        out.stdout.push_str(&diag::render_sarif(&[]));
                        let _ = files;
                        0
                    }
                    Some(files) => {
                        if format == Format::Human {
                            note!(out, "qmspec check: {files} generated files are up to date");
                        }
                        0
                    }
                    None => check(&repo, list, &others, format, schema, out),
                }
            }
            Err(()) => 2,
        },
    }
}

/// `qmspec init`: write a first spec and the schema, refusing to replace anything.
fn init(
    root: &Path,
    repo: &Repo,
    config: &Config,
    name: Option<String>,
    from: &[String],
    out: &mut Out,
) -> u8 {
    let raw = name.clone().unwrap_or_else(|| {
        root.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let Some(name) = qmspec::init::image_name(&raw) else {
        let how = if name.is_some() {
            "pass another with `--name`"
        } else {
            "pass one with `qmspec init --name NAME`"
        };
        warn!(
            out,
            "error: cannot make an image name (lower-case letters, digits and `-`, at most 64) of {:?}; {how}",
            qmspec::config::inert(&raw)
        );
        return 2;
    };
    if name != raw {
        note!(
            out,
            "image name {name} (from {:?})",
            qmspec::config::inert(&raw)
        );
    }
    let glob = config.specs.first().map_or("specs/*.yaml", String::as_str);
    let spec_path = qmspec::init::spec_path(glob, &name);
    let problem = if spec_path.is_empty() || spec_path.ends_with('/') {
        Some("names no file".to_string())
    } else if qmspec::paths::normalize(&spec_path) == qmspec::paths::normalize(&config.schema) {
        Some("is where the schema goes".to_string())
    } else {
        qmspec::paths::new_spec_path_problem(&spec_path).map(str::to_string)
    };
    if let Some(why) = problem {
        warn!(
            out,
            "error: the new spec's path {:?} (from the first glob of `specs` in {}) {why}; change the glob",
            qmspec::config::inert(&spec_path),
            qmspec::config::CONFIG
        );
        return 2;
    }
    let modeline = qmspec::config::modeline(&spec_path, &config.schema);
    match repo.read(&spec_path, 1) {
        Ok(qmspec::repo::Found::Absent) => {}
        Ok(qmspec::repo::Found::NotAFile(kind)) => {
            warn!(
                out,
                "error: {spec_path}: {} is in the way (qmspec writes only regular files through plain folders); move it away",
                kind.describe()
            );
            return 2;
        }
        Ok(_) => {
            warn!(
                out,
                "error: {spec_path} exists; qmspec init never replaces a file: pick another name with `--name`"
            );
            return 2;
        }
        Err(e) => {
            warn!(out, "error: {spec_path}: {}", e.into_io());
            return 2;
        }
    }
    // Read like any repository file: never through a symlink, never blocking on a FIFO, bounded.
    let git_config = match repo.read(".git/config", 64 * 1024) {
        Ok(qmspec::repo::Found::Bytes(b, _)) => String::from_utf8(b).unwrap_or_default(),
        _ => String::new(),
    };
    let origin = qmspec::init::origin(&git_config);
    let text = if from.is_empty() {
        qmspec::init::starter(&name, origin.as_ref(), &modeline)
    } else {
        match draft_from(&name, from, &modeline, out) {
            Some(text) => text,
            None => return 2,
        }
    };
    // The schema first: a foreign file there stops everything before the spec is written.
    let schema = qmspec::schema::schema_text_2020();
    let schema_state = match repo.read(&config.schema, 8 * 1024 * 1024) {
        Ok(qmspec::repo::Found::Absent) => Some(None),
        Ok(qmspec::repo::Found::Bytes(b, ident)) => {
            let ours = matches!(
                qmspec::schema::schema_file(&String::from_utf8_lossy(&b)),
                qmspec::schema::SchemaFile::Intact | qmspec::schema::SchemaFile::Legacy
            );
            if b == schema.as_bytes() {
                None
            } else if ours {
                Some(Some(ident))
            } else {
                warn!(
                    out,
                    "error: {} exists and is not qmspec's schema; move it away, or set `schema` in {}",
                    config.schema,
                    qmspec::config::CONFIG
                );
                return 2;
            }
        }
        Ok(_) | Err(_) => {
            warn!(
                out,
                "error: {} cannot be read as a file; move what is there away", config.schema
            );
            return 2;
        }
    };
    if let Some(ident) = schema_state {
        if let Err(e) = repo.write_atomic(&config.schema, schema.as_bytes(), ident) {
            warn!(out, "error: {}: {}", config.schema, e.into_io());
            return 2;
        }
        note!(out, "wrote     {}", config.schema);
    }
    if let Err(e) = repo.write_atomic(&spec_path, text.as_bytes(), None) {
        warn!(out, "error: {spec_path}: {}", e.into_io());
        return 2;
    }
    note!(out, "wrote     {spec_path}");
    // A draft that does not validate yet is kept (it is the user's to finish) but said, with
    // every problem, and the exit code says so too.
    let loaded = qmspec::load::load(text.as_bytes());
    if loaded.has_errors() {
        out.stderr.push_str(&diag::render_human(
            &loaded.diagnostics,
            &spec_path,
            &loaded.text,
            out.color_stderr,
            out.width,
        ));
        warn!(
            out,
            "{spec_path} needs the fixes above before `qmspec generate`; then run `qmspec validate`"
        );
        return 1;
    }
    note!(out, "\nNext:");
    note!(
        out,
        "  qmspec validate          # what the spec still lacks"
    );
    note!(
        out,
        "  qmspec lock              # hash the downloads, pin the base digests (network)"
    );
    note!(
        out,
        "  qmspec generate          # write the Dockerfiles and the workflow, then commit them"
    );
    0
}

/// Draft a spec from hand-kept Dockerfiles (`init --from`); `None` after saying why not.
fn draft_from(name: &str, from: &[String], modeline: &str, out: &mut Out) -> Option<String> {
    let mut inputs = Vec::new();
    for path in from {
        let text = match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => Err(format!("{path}: not a regular file")),
            Ok(m) if m.len() > 1024 * 1024 => Err(format!("{path}: larger than 1 MiB")),
            Ok(_) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}")),
            Err(e) => Err(format!("{path}: {e}")),
        };
        match text {
            Ok(text) => inputs.push((path.clone(), text)),
            Err(e) => {
                warn!(out, "error: {e}");
                return None;
            }
        }
    }
    let inputs: Vec<qmspec::draft::Input> = inputs
        .into_iter()
        .map(|(path, text)| qmspec::draft::Input { path, text })
        .collect();
    match qmspec::draft::draft(name, &inputs) {
        Ok(d) => {
            // Notes quote the Dockerfiles: inert, so their text cannot drive the terminal.
            for note in &d.notes {
                warn!(out, "note: {}", qmspec::config::inert(note));
            }
            note!(
                out,
                "drafted from {} instruction(s) of {}",
                d.recognised.len(),
                from.join(", ")
            );
            // The modeline for where this spec goes, whatever the draft began with.
            let body: String = d
                .spec
                .lines()
                .skip_while(|l| l.starts_with(qmspec::config::MODELINE))
                .map(|l| format!("{l}\n"))
                .collect();
            Some(format!("{modeline}\n{body}"))
        }
        Err(e) => {
            use miette::Diagnostic as _;
            warn!(out, "error: {}", qmspec::config::inert(&e.to_string()));
            if let Some(help) = e.help() {
                warn!(out, "  help: {}", qmspec::config::inert(&help.to_string()));
            }
            None
        }
    }
}

/// `qmspec explain`: each spec's platforms side by side.
fn explain(repo: &Repo, specs: Vec<String>, format: ExplainFormat, out: &mut Out) -> u8 {
    let format = match format {
        ExplainFormat::Text => qmspec::explain::Format::Text,
        ExplainFormat::Markdown => qmspec::explain::Format::Markdown,
        ExplainFormat::Json => qmspec::explain::Format::Json,
    };
    let mut texts = Vec::new();
    for spec_path in &specs {
        let loaded = match output::read_spec(repo, spec_path) {
            Ok(l) => l,
            Err(e) => {
                warn!(out, "{:?}", miette::Report::new(e));
                return 2;
            }
        };
        match loaded.spec.as_ref().filter(|_| !loaded.has_errors()) {
            Some(spec) => texts.push(qmspec::explain::explain(spec, spec_path, format)),
            None => {
                warn!(
                    out,
                    "error: {spec_path} is invalid; `qmspec validate {spec_path}` shows why"
                );
                return 1;
            }
        }
    }
    if format == qmspec::explain::Format::Json {
        let values: Vec<serde_json::Value> = texts
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect();
        let text = serde_json::to_string_pretty(&values).unwrap_or_default();
        say!(out, "{text}");
    } else {
        out.stdout.push_str(&texts.join("\n"));
    }
    0
}

/// Say that a lock file was not written by qmspec (so it is never replaced); exit code 2.
fn refuse_foreign_lock(path: &str, out: &mut Out) -> u8 {
    warn!(
        out,
        "error: {path} was not written by `qmspec lock`; move it away, then run `qmspec lock`"
    );
    2
}

/// A bar per download while it runs, under the spec's spinner: its file name, bytes so far of
/// the size the server announced, and the rate.
fn download_bars(multi: indicatif::MultiProgress) -> qmspec::fetch::Progress {
    let bars =
        std::sync::Mutex::new(std::collections::HashMap::<String, indicatif::ProgressBar>::new());
    qmspec::fetch::Progress(std::sync::Arc::new(move |url, size, total, done| {
        let Ok(mut bars) = bars.lock() else { return };
        if done {
            if let Some(bar) = bars.remove(url) {
                bar.finish_and_clear();
                multi.remove(&bar);
            }
            return;
        }
        let bar = bars.entry(url.to_string()).or_insert_with(|| {
            let bar = multi.add(total.map_or_else(
                indicatif::ProgressBar::no_length,
                indicatif::ProgressBar::new,
            ));
            let style = indicatif::ProgressStyle::with_template(
                "  {msg} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
            bar
        });
        bar.set_position(size);
    }))
}

/// The conda environment files a spec installs, read from the repository (the build context)
/// for `qmspec lock` to check their packages; what cannot be read is the reason why.
fn environment_files(
    repo: &Repo,
    spec: &qmspec::model::Spec,
) -> std::collections::BTreeMap<String, Result<String, String>> {
    use qmspec::repo::Found;
    let mut files = std::collections::BTreeMap::new();
    for tool in &spec.tools {
        for (_, source) in tool.sources.iter() {
            let qmspec::model::Source::CondaEnv(c) = source else {
                continue;
            };
            let read = match repo.read(&c.file, 1024 * 1024) {
                Ok(Found::Bytes(b, _)) => {
                    String::from_utf8(b).map_err(|_| format!("{}: not UTF-8 text", c.file))
                }
                Ok(Found::Absent) => Err(format!(
                    "{}: no such file in the repository (the build context)",
                    c.file
                )),
                Ok(Found::TooLarge(..)) => Err(format!("{}: larger than 1 MiB", c.file)),
                Ok(Found::NotAFile(_)) => Err(format!("{}: not a regular file", c.file)),
                Err(e) => Err(format!("{}: {e}", c.file)),
            };
            files.insert(c.file.clone(), read);
        }
    }
    files
}

/// `qmspec lock`: for each spec, hash its downloads and write (or, with `check`, compare) its
/// lock file. A spec whose downloads cannot all be hashed keeps its lock file as it was.
/// What one `qmspec lock` run does, besides which specs.
struct LockRun<'a> {
    fetcher: &'a qmspec::fetch::Fetcher,
    /// The progress display, on a terminal only.
    display: Option<&'a indicatif::MultiProgress>,
    /// Compare with the lock files instead of writing them (`--check`).
    check: bool,
    upgrade_actions: bool,
    parts: qmspec::lock::Parts,
}

fn lock(repo: &Repo, specs: Vec<String>, run: &LockRun<'_>, out: &mut Out) -> u8 {
    let LockRun {
        fetcher,
        display,
        check,
        upgrade_actions,
        parts,
    } = *run;
    let mut code = 0;
    for spec_path in specs {
        let loaded = match output::read_spec(repo, &spec_path) {
            Ok(l) => l,
            Err(e) => {
                warn!(out, "{:?}", miette::Report::new(e));
                code = 2;
                continue;
            }
        };
        let Some(spec) = loaded.spec.as_ref() else {
            warn!(
                out,
                "{spec_path}: invalid; `qmspec validate {spec_path}` shows why"
            );
            code = code.max(1);
            continue;
        };
        let path = qmspec::lock::lock_path(&spec_path);
        let unreadable = loaded
            .diagnostics
            .iter()
            .any(|d| d.code == "qmspec::lock-invalid");
        let partial =
            !(parts.downloads && parts.bases && parts.actions && parts.conda && parts.pip);
        if unreadable && partial {
            warn!(
                out,
                "error: {path} cannot be read, so `--only` cannot keep the rest of it: run `qmspec lock` without `--only`"
            );
            code = code.max(1);
            continue;
        }
        // A lock file qmspec did not write is never replaced: say so before fetching anything.
        if !check
            && let Ok(qmspec::repo::Found::Bytes(b, _)) =
                repo.read(&path, qmspec::lock::MAX_LOCK_BYTES)
            && !b.starts_with(qmspec::lock::STAMP.as_bytes())
        {
            code = refuse_foreign_lock(&path, out);
            continue;
        }
        let spinner = display.map(|multi| {
            let bar = multi.add(indicatif::ProgressBar::new_spinner());
            bar.set_message(format!(
                "locking {spec_path}: downloads, bases, actions, packages"
            ));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        let env_files = environment_files(repo, spec);
        let resolved = qmspec::lock::resolve(spec, fetcher, 4, upgrade_actions, parts, &env_files);
        if let Some(bar) = spinner {
            bar.finish_and_clear();
        }
        let fresh = match resolved {
            Ok(l) => l.render(&spec_path),
            Err(problems) => {
                for p in problems {
                    warn!(out, "error: {p}");
                }
                if check {
                    warn!(
                        out,
                        "{path}: not checked: everything it records must resolve"
                    );
                } else {
                    warn!(
                        out,
                        "{path}: left as it was: everything it records must resolve"
                    );
                }
                code = code.max(1);
                continue;
            }
        };
        let old = match repo.read(&path, qmspec::lock::MAX_LOCK_BYTES) {
            Ok(qmspec::repo::Found::Bytes(b, id)) => Some((b, id)),
            Ok(qmspec::repo::Found::Absent) => None,
            Ok(_) => {
                warn!(
                    out,
                    "error: {path} is not a regular file of a readable size; move it away, then run `qmspec lock`"
                );
                code = 2;
                continue;
            }
            Err(e) => {
                warn!(out, "error: {path}: {}", e.into_io());
                code = 2;
                continue;
            }
        };
        let current = old
            .as_ref()
            .is_some_and(|(b, _)| b.as_slice() == fresh.as_bytes());
        if check {
            if current {
                note!(out, "current   {path}");
            } else {
                warn!(
                    out,
                    "error: {path} is {}: run `qmspec lock`",
                    if old.is_some() {
                        "out of date"
                    } else {
                        "missing"
                    }
                );
                code = code.max(1);
            }
            continue;
        }
        if current {
            note!(out, "unchanged {path}");
            continue;
        }
        // Only a lock file qmspec wrote is replaced.
        if let Some((b, _)) = &old
            && !b.starts_with(qmspec::lock::STAMP.as_bytes())
        {
            code = refuse_foreign_lock(&path, out);
            continue;
        }
        match repo.write_atomic(&path, fresh.as_bytes(), old.map(|(_, id)| id)) {
            Ok(()) => note!(out, "locked    {path}"),
            Err(e) => {
                warn!(out, "error: {path}: {}", e.into_io());
                code = 2;
            }
        }
    }
    code
}

/// Read and validate each spec; print problems; 1 when any spec has errors, 2 on I/O errors.
/// Validating writes nothing, so a spec outside the repository is read too (from its folder),
/// and reported under the name it was given.
fn validate(
    root: &Path,
    config: &Config,
    repo: &Repo,
    args: Vec<String>,
    format: Format,
    out: &mut Out,
) -> u8 {
    let specs: Vec<(String, Option<String>)> = if args.is_empty() {
        match spec_list(root, config, args, out) {
            Ok(list) => list.into_iter().map(|s| (s, None)).collect(),
            Err(()) => return 2,
        }
    } else {
        let mut seen_stdin = false;
        args.into_iter()
            .filter(|a| a != "-" || !std::mem::replace(&mut seen_stdin, true))
            .map(|a| match spec_arg(root, &a) {
                // `-`: the spec is read from standard input (an editor or a pipe).
                _ if a == "-" => ("<stdin>".to_string(), Some(a)),
                Ok(rel) => (rel, None),
                Err(_) => (a.clone(), Some(a)),
            })
            .collect()
    };
    // Several specs at a time (one worker per core), each reported as soon as the ones before
    // it are, and its report written out as the buffer grows: memory stays flat in the number of
    // specs, and the output is in spec order whatever finishes first.
    let (color, width, quiet) = (out.color_stderr, out.width, out.quiet);
    let one = |(path, outside): &(String, Option<String>)| -> Reported {
        let loaded = match outside {
            None => output::read_spec(repo, path),
            Some(arg) if arg == "-" => {
                use std::io::Read;
                let mut bytes = Vec::new();
                let limit = qmspec::yaml::MAX_SPEC_BYTES as u64 + 1;
                match std::io::stdin().lock().take(limit).read_to_end(&mut bytes) {
                    Ok(_) => Ok(qmspec::load::load(&bytes)),
                    Err(source) => Err(output::OutputError::Read {
                        path: "<stdin>".into(),
                        source,
                    }),
                }
            }
            Some(arg) => {
                let p = Path::new(arg);
                let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                match Repo::open(dir.unwrap_or(Path::new("."))) {
                    Ok(r) => output::read_spec(&r, name),
                    Err(source) => Err(output::OutputError::Read {
                        path: arg.clone(),
                        source,
                    }),
                }
            }
        };
        let mut r = Reported::default();
        match loaded {
            Ok(loaded) => {
                r.errors = loaded.has_errors();
                let (diags, text) = (&loaded.diagnostics, &loaded.text);
                match format {
                    Format::Human => {
                        r.stderr = diag::render_human(diags, path, text, color, width);
                        if !(quiet && diags.is_empty()) {
                            r.stderr.push_str(&summary(path, diags));
                            r.stderr.push('\n');
                        }
                    }
                    Format::Json => r.stdout = diag::render_json(diags, path, text),
                    Format::Github => r.stdout = diag::render_github(diags, path, text),
                    Format::Sarif => {
                        r.sarif = Some((
                            path.clone(),
                            loaded.text.clone(),
                            loaded.diagnostics.clone(),
                        ))
                    }
                }
            }
            Err(e) => {
                r.stderr = format!("{:?}\n", miette::Report::new(e));
                r.io_error = true;
            }
        }
        r
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8)
        .min(specs.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Reported)>();
    let mut sarif = Vec::new();
    let (mut errors, mut io_error) = (false, false);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (tx, next, specs, one) = (tx.clone(), &next, &specs, &one);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = specs.get(i) else { break };
                    if tx.send((i, one(item))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = std::collections::BTreeMap::new();
        let mut want = 0;
        for (i, r) in rx {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&want) {
                want += 1;
                errors |= r.errors;
                io_error |= r.io_error;
                out.stderr.push_str(&r.stderr);
                out.stdout.push_str(&r.stdout);
                sarif.extend(r.sarif);
            }
            out.spill_when_full();
        }
    });
    if format == Format::Sarif {
        out.stdout.push_str(&diag::render_sarif(&sarif));
    }
    if io_error {
        2
    } else if errors {
        1
    } else {
        0
    }
}

/// What validating one spec prints, rendered on a worker.
#[derive(Default)]
struct Reported {
    stderr: String,
    stdout: String,
    sarif: Option<(String, String, Vec<Diagnostic>)>,
    errors: bool,
    io_error: bool,
}

fn report(results: &[(String, Loaded)], format: Format, out: &mut Out) {
    match format {
        Format::Human => {
            for (file, loaded) in results {
                out.stderr.push_str(&diag::render_human(
                    &loaded.diagnostics,
                    file,
                    &loaded.text,
                    out.color_stderr,
                    out.width,
                ));
                if !(out.quiet && loaded.diagnostics.is_empty()) {
                    warn!(out, "{}", summary(file, &loaded.diagnostics));
                }
            }
        }
        Format::Json => {
            for (file, loaded) in results {
                out.stdout
                    .push_str(&diag::render_json(&loaded.diagnostics, file, &loaded.text));
            }
        }
        Format::Github => {
            for (file, loaded) in results {
                out.stdout.push_str(&diag::render_github(
                    &loaded.diagnostics,
                    file,
                    &loaded.text,
                ));
            }
        }
        Format::Sarif => {
            let files: Vec<(String, String, Vec<Diagnostic>)> = results
                .iter()
                .map(|(f, l)| (f.clone(), l.text.clone(), l.diagnostics.clone()))
                .collect();
            out.stdout.push_str(&diag::render_sarif(&files));
        }
    }
}

/// A spec's path as one line of a report: a control character or a bidirectional override in a
/// file name cannot break the line or drive the terminal.
fn shown(file: &str) -> String {
    qmspec::config::inert(file).replace('\n', "?")
}

fn summary(file: &str, diags: &[Diagnostic]) -> String {
    let file = shown(file);
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    if errors == 0 {
        format!(
            "{file}: valid ({warnings} warning{})",
            if warnings == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "{file}: invalid ({errors} error{}, {warnings} warning{})",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        )
    }
}

fn generate(
    repo: &Repo,
    config: &Config,
    specs: Vec<String>,
    others: &[String],
    force: bool,
    wait: std::time::Duration,
    out: &mut Out,
) -> u8 {
    let complete = others.is_empty();
    let mut plan = match output::plan(repo, &specs, others) {
        Ok(p) => p,
        Err(e) => {
            let code = e.exit_code();
            warn!(out, "{:?}", miette::Report::new(e));
            return code;
        }
    };
    plan.schema = Some(config.schema.clone());
    plan.complete = complete;
    // Invalid specs are reported whole, and named last; valid ones by their count of warnings,
    // and only when the run goes on (among hundreds of specs, the invalid one must stand out).
    let valid = plan.valid();
    let mut invalid = Vec::new();
    for (file, result) in &mut plan.specs {
        match result {
            // Taken: the plan is not written when a spec is invalid.
            output::SpecResult::Invalid(loaded) => {
                report(
                    &[(file.clone(), std::mem::take(&mut **loaded))],
                    Format::Human,
                    out,
                );
                invalid.push(file.clone());
            }
            output::SpecResult::Valid { warnings } if valid && *warnings > 0 && !out.quiet => {
                let file = shown(file);
                warn!(
                    out,
                    "{file}: valid ({warnings} warning{}); `qmspec validate {file}` shows them",
                    if *warnings == 1 { "" } else { "s" }
                )
            }
            output::SpecResult::Valid { .. } => {}
        }
    }
    if !valid {
        let named: Vec<String> = invalid.iter().take(5).map(|f| shown(f)).collect();
        let more = invalid.len() - named.len();
        warn!(
            out,
            "nothing written: fix {}{} first (`qmspec validate` lists every finding)",
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        return 1;
    }
    // The planning workers are done: what they freed goes back to the system before the
    // writing step allocates its own. mimalloc hands freed pages back lazily, so at 10,000
    // specs both steps would otherwise count at once (64 MiB resident instead of about 52).
    // SAFETY: `mi_collect` only asks the allocator to release memory nothing uses; it takes
    // no pointer and is safe to call from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
    // Printed at once, not buffered: the wait may be long.
    let mut waiting = || {
        eprintln!(
            "waiting up to {} s for another `qmspec generate` in this repository to finish",
            wait.as_secs()
        );
    };
    // Each action is printed as it is taken (written out as the buffer grows): what was done
    // before a stop is shown above its error.
    let mut print = |a: Action| {
        match a {
            Action::Created(p) => note!(out, "created   {p}"),
            Action::Updated(p) => note!(out, "updated   {p}"),
            Action::Unchanged(p) => note!(out, "unchanged {p}"),
            Action::Removed(p) => note!(out, "removed   {p}"),
            Action::Kept { path, why } => warn!(
                out,
                "kept      {path}: the manifest lists it, but it {why}; qmspec leaves it alone"
            ),
        }
        out.spill_when_full();
    };
    match output::generate(repo, &plan, force, wait, &mut waiting, &mut print) {
        Ok(()) => 0,
        Err(e) => {
            let code = e.exit_code();
            // What was done goes out first (stdout is written after stderr), so the error is
            // the last thing on a terminal.
            out.spill();
            warn!(out, "{:?}", miette::Report::new(e));
            code
        }
    }
}

fn check(
    repo: &Repo,
    specs: Vec<String>,
    others: &[String],
    format: Format,
    schema: Option<&str>,
    out: &mut Out,
) -> u8 {
    let (checks, schema_drift) = match output::check(repo, &specs, others, schema) {
        Ok(r) => r,
        Err(e) => {
            let code = e.exit_code();
            warn!(out, "{:?}", miette::Report::new(e));
            return code;
        }
    };
    let files = checks.iter().map(|c| c.files).sum();
    let mut invalid: Vec<(String, Loaded)> = Vec::new();
    let mut drift: Vec<Drift> = Vec::new();
    for c in checks {
        match c.invalid {
            Some(loaded) => invalid.push((c.path, *loaded)),
            None => drift.extend(c.drift),
        }
    }
    if !invalid.is_empty() {
        report(&invalid, format, out);
        return 1;
    }
    drift.extend(schema_drift);
    print_drift(&drift, format, files, out);
    u8::from(!drift.is_empty())
}

/// Print what `check` found on disk: each finding is a diagnostic on its file, printed by the
/// same printer as the specs' findings.
fn print_drift(drift: &[Drift], format: Format, files: usize, out: &mut Out) {
    let found: Vec<(String, String, Vec<Diagnostic>)> = drift
        .iter()
        .map(|d| (d.path().to_string(), String::new(), vec![d.diagnostic()]))
        .collect();
    match format {
        Format::Human => {
            for (file, text, diags) in &found {
                let text = diag::render_human(diags, file, text, out.color_stdout, out.width);
                out.stdout.push_str(&text);
            }
            if drift.is_empty() {
                note!(out, "qmspec check: {files} generated files are up to date");
            } else {
                say!(
                    out,
                    "qmspec check: {} of the generated files need attention",
                    drift.len()
                );
            }
        }
        Format::Json => {
            for (file, text, diags) in &found {
                out.stdout.push_str(&diag::render_json(diags, file, text));
            }
        }
        Format::Github => {
            for (file, text, diags) in &found {
                out.stdout.push_str(&diag::render_github(diags, file, text));
            }
        }
        Format::Sarif => out.stdout.push_str(&diag::render_sarif(&found)),
    }
}
