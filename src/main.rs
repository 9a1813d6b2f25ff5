//! The `qmspec` command line: argument parsing, printing and exit codes.
//!
//! Exit codes: 0 success (warnings allowed), 1 invalid spec or drift, 2 usage or I/O error.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use qmspec::diag::{self, Diagnostic, Severity};
use qmspec::load::{Loaded, load};
use qmspec::schema::{Draft, schema_text};

const AFTER_HELP: &str = "Exit codes:\n  0  success (warnings allowed)\n  1  invalid spec, or generated files out of date\n  2  usage or I/O error";

#[derive(Parser)]
#[command(name = "qmspec", version, about = "Compile a multi-architecture container spec into Dockerfiles and CI", after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Github,
    Sarif,
}

#[derive(Subcommand)]
enum Command {
    /// Check specs against the schema and qmspec's rules.
    #[command(after_help = AFTER_HELP)]
    Validate {
        /// Spec files (default: specs/worker.yaml).
        specs: Vec<PathBuf>,
        /// Output format for problems.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Print the spec's JSON Schema.
    Schema {
        /// JSON Schema draft to emit.
        #[arg(long, value_enum, default_value = "2020-12")]
        draft: Draft,
    },
}

fn default_specs(specs: Vec<PathBuf>) -> Vec<PathBuf> {
    if specs.is_empty() {
        vec![PathBuf::from("specs/worker.yaml")]
    } else {
        specs
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Schema { draft } => {
            print!("{}", schema_text(draft));
            0
        }
        Command::Validate { specs, format } => validate(&default_specs(specs), format),
    };
    let _ = std::io::stdout().flush();
    ExitCode::from(code)
}

/// Read and validate each spec; print problems; 1 when any spec has errors, 2 on I/O errors.
fn validate(specs: &[PathBuf], format: Format) -> u8 {
    let mut results = Vec::new();
    let mut io_error = false;
    for path in specs {
        match std::fs::read(path) {
            Ok(bytes) => results.push((path.display().to_string(), load(&bytes))),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                io_error = true;
            }
        }
    }
    report(&results, format);
    if io_error {
        2
    } else if results.iter().any(|(_, l)| l.has_errors()) {
        1
    } else {
        0
    }
}

fn report(results: &[(String, Loaded)], format: Format) {
    match format {
        Format::Human => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            for (file, loaded) in results {
                eprint!(
                    "{}",
                    diag::render_human(&loaded.diagnostics, file, &loaded.text, color)
                );
                eprintln!("{}", summary(file, &loaded.diagnostics));
            }
        }
        Format::Json => {
            for (file, loaded) in results {
                print!(
                    "{}",
                    diag::render_json(&loaded.diagnostics, file, &loaded.text)
                );
            }
        }
        Format::Github => {
            for (file, loaded) in results {
                print!(
                    "{}",
                    diag::render_github(&loaded.diagnostics, file, &loaded.text)
                );
            }
        }
        Format::Sarif => {
            let files: Vec<(String, String, Vec<Diagnostic>)> = results
                .iter()
                .map(|(f, l)| (f.clone(), l.text.clone(), l.diagnostics.clone()))
                .collect();
            print!("{}", diag::render_sarif(&files));
        }
    }
}

fn summary(file: &str, diags: &[Diagnostic]) -> String {
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
