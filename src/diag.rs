//! Diagnostics as data (code, severity, spans) and their renderings: miette, JSON, GitHub, SARIF.

use std::fmt;
use std::ops::Range;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Range<usize>,
    pub text: String,
    pub primary: bool,
}

impl Label {
    pub fn primary(span: Range<usize>, text: impl Into<String>) -> Self {
        Label {
            span,
            text: printable(text.into()),
            primary: true,
        }
    }
    pub fn secondary(span: Range<usize>, text: impl Into<String>) -> Self {
        Label {
            span,
            text: printable(text.into()),
            primary: false,
        }
    }
}

/// Longest message, label or help text, in characters; text quoted from a hostile spec (a key
/// of a megabyte, say) is cut in the middle.
const MAX_TEXT: usize = 400;
/// Longest source line shown in a snippet; a diagnostic on a longer line names its line and
/// column instead of printing the line.
const MAX_SNIPPET_LINE: usize = 500;

/// Text safe to print on a terminal or in a CI log: control characters (which can move the
/// cursor, or end a GitHub annotation) are escaped, and overlong text is shortened.
pub fn printable(text: String) -> String {
    let needs_escape = text.chars().any(|c| c.is_control() && c != '\n');
    let text = if needs_escape {
        text.chars()
            .map(|c| {
                if c.is_control() && c != '\n' {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text
    };
    if text.chars().count() <= MAX_TEXT {
        return text;
    }
    let head: String = text.chars().take(MAX_TEXT / 2).collect();
    let tail: Vec<char> = text.chars().rev().take(MAX_TEXT / 4).collect();
    let tail: String = tail.into_iter().rev().collect();
    format!("{head}…{tail}")
}

/// One problem found in a spec. Codes are stable: tools and people match on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    pub labels: Vec<Label>,
    /// Text shown after the report, e.g. the diff of a stale file.
    pub detail: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: printable(message.into()),
            help: None,
            labels: Vec::new(),
            detail: None,
        }
    }
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }
    pub fn with_label(mut self, label: Label) -> Self {
        self.labels.push(label);
        self
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into()).filter(|d: &String| !d.is_empty());
        self
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(printable(help.into()));
        self
    }
    /// Byte offset where the problem starts (primary label), for sorting in file order.
    pub fn offset(&self) -> usize {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map_or(0, |l| l.span.start)
    }
}

/// Sort problems in file order, then by code, and drop exact repeats.
pub fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| (a.offset(), a.code, &a.message).cmp(&(b.offset(), b.code, &b.message)));
    diags.dedup();
}

/// 1-based line and column (in Unicode scalar values) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    // An offset inside a character (the replacement character that stands for the invalid
    // bytes of a non-UTF-8 spec, say) counts from that character's start, never from the
    // file's: an end before the start is an invalid SARIF region.
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// A diagnostic bound to its source, in the shape miette renders.
struct Report<'a> {
    diag: &'a Diagnostic,
    /// The message and the help, wrapped.
    message: String,
    help: Option<String>,
    source: &'a Indexed,
}

/// A spec's text for miette with its line starts known. miette finds a label's lines by scanning
/// the source from its first byte, once per label and per context request: half of
/// `validate`'s time in a monorepo. This hands miette only the text from a few lines before the
/// label (the lines it is going to show), and moves what it found back to the whole text's
/// offsets and line numbers, so the report is the one the whole text gives.
struct Indexed {
    name: String,
    text: String,
    /// Where each line starts, as miette counts lines (`\n`, `\r\n`, or a lone `\r`).
    line_starts: Vec<usize>,
}

impl Indexed {
    fn new(name: &str, text: String) -> Indexed {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        if !bytes.contains(&b'\r') {
            // The usual case: `\n` alone, found by the searcher rather than byte by byte.
            line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        } else {
            for (i, &b) in bytes.iter().enumerate() {
                let ends = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
                if ends {
                    line_starts.push(i + 1);
                }
            }
        }
        Indexed {
            name: name.to_string(),
            text,
            line_starts,
        }
    }
}

impl miette::SourceCode for Indexed {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        // The line the span starts on, and a line boundary far enough before it.
        let line = self
            .line_starts
            .partition_point(|&s| s <= span.offset())
            .saturating_sub(1);
        let first = line.saturating_sub(context_lines_before + 1);
        let base = self.line_starts[first];
        let tail = &self.text[base..];
        let local = SourceSpan::new((span.offset().saturating_sub(base)).into(), span.len());
        let found = tail.read_span(&local, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            found.data(),
            SourceSpan::new((found.span().offset() + base).into(), found.span().len()),
            found.line() + first,
            found.column(),
            // miette counts every line break it scanned, from the first byte: the lines
            // before `base` too (it merges two labels' snippets by this count).
            found.line_count() + first,
        )))
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        if self.diag.labels.is_empty() {
            None
        } else {
            Some(self.source)
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.diag.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.diag.labels.iter().map(|l| {
            let span = SourceSpan::new(l.span.start.into(), l.span.len());
            if l.primary {
                LabeledSpan::new_primary_with_span(Some(l.text.clone()), span)
            } else {
                LabeledSpan::new_with_span(Some(l.text.clone()), span)
            }
        })))
    }
}

/// The spec's text as it may be shown on a terminal: control characters (an escape sequence in
/// a comment, say) and bidirectional overrides become visible stand-ins of the same UTF-8
/// length, so every span still points at the same bytes.
fn inert_source(text: &str) -> String {
    // Nearly every spec is printable ASCII: copied whole, not character by character.
    let plain = |b: u8| matches!(b, b' '..=b'~' | b'\n' | b'\t' | b'\r');
    if text.bytes().all(plain) {
        return text.to_string();
    }
    text.chars()
        .map(|c| match c {
            '\n' | '\t' | '\r' => c,
            c if c.is_control() && c.len_utf8() == 1 => '?',
            c if c.is_control() => '\u{bf}',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// `text` wrapped to `columns`: exactly what `textwrap::fill` makes of it with blanks as the
/// only break points and no hyphenation (first fit; a word longer than a line cut into pieces),
/// computed directly for printable ASCII, which is nearly every message. Other text goes
/// through textwrap itself (display widths of wide characters, escapes). miette's own default
/// also broke after `-` and `/`; now a command, path or URL stays whole unless it is longer
/// than a line.
fn fill(text: &str, columns: usize) -> String {
    if !text.bytes().all(|b| matches!(b, b' '..=b'~' | b'\n')) {
        let opts = textwrap::Options::new(columns)
            .word_separator(textwrap::WordSeparator::AsciiSpace)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        return textwrap::fill(text, opts);
    }
    let mut out = String::with_capacity(text.len() + 8);
    // A fragment of a line: a word (or a piece of one too long for a line) from `start` to
    // `end`, then the blanks after it up to `next`.
    struct Fragment {
        start: usize,
        end: usize,
        next: usize,
    }
    let mut fragments: Vec<Fragment> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.len() < columns {
            out.push_str(line.trim_end_matches(' '));
            continue;
        }
        fragments.clear();
        let bytes = line.as_bytes();
        let mut start = 0;
        while start < bytes.len() {
            let end = bytes[start..]
                .iter()
                .position(|&b| b == b' ')
                .map_or(bytes.len(), |n| start + n);
            let next = bytes[end..]
                .iter()
                .position(|&b| b != b' ')
                .map_or(bytes.len(), |n| end + n);
            // Pieces of `columns` characters (one at least), the blanks after the last.
            let mut from = start;
            while end - from > columns.max(1) {
                let to = from + columns.max(1);
                fragments.push(Fragment {
                    start: from,
                    end: to,
                    next: to,
                });
                from = to;
            }
            fragments.push(Fragment {
                start: from,
                end,
                next,
            });
            start = next;
        }
        // First fit: a fragment that would overflow the line starts the next one.
        let mut first = 0;
        let mut used = 0;
        let mut lines = 0;
        for (idx, f) in fragments.iter().enumerate() {
            if used + (f.end - f.start) > columns && idx > first {
                if lines > 0 {
                    out.push('\n');
                }
                out.push_str(&line[fragments[first].start..fragments[idx - 1].end]);
                lines += 1;
                first = idx;
                used = 0;
            }
            used += f.next - f.start;
        }
        if lines > 0 {
            out.push('\n');
        }
        if let (Some(a), Some(b)) = (fragments.get(first), fragments.last()) {
            out.push_str(&line[a.start..b.end]);
        }
    }
    out
}

/// Render for a person: colour as `--color` decides, wrapped to `width` (the terminal's, or a
/// fixed 100 columns in a pipe, so snapshots are stable).
pub fn render_human(
    diags: &[Diagnostic],
    file: &str,
    text: &str,
    color: bool,
    width: usize,
) -> String {
    if diags.is_empty() {
        return String::new();
    }
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    // miette only indents: the message and the help come here already wrapped by [`fill`]
    // (miette's own textwrap call, with its Unicode line breaking and hyphenation, was a sixth
    // of `validate` in a monorepo).
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_wrap_lines(false);
    // The columns left beside miette's indents: `  × ` / `  │ ` before the message,
    // `  help: ` before the help, inside a width it keeps two columns short of.
    let (message_columns, help_columns) =
        (width.saturating_sub(2 + 4), width.saturating_sub(2 + 8));
    let mut out = String::new();
    // One copy of the source for all reports (a spec may be a megabyte with 100 problems).
    let source = Indexed::new(file, inert_source(text));
    for diag in diags {
        let shortened;
        let diag = match overlong_line(diag, text) {
            None => diag,
            Some((line, col)) => {
                shortened = Diagnostic {
                    message: format!(
                        "{} (line {line}, column {col}: the line is too long to show)",
                        diag.message
                    ),
                    labels: Vec::new(),
                    ..diag.clone()
                };
                &shortened
            }
        };
        let report = Report {
            diag,
            message: fill(&diag.message, message_columns),
            help: diag.help.as_deref().map(|h| fill(h, help_columns)),
            source: &source,
        };
        // Writing into a String cannot fail; a formatter error would only drop this report.
        let _ = handler.render_report(&mut out, &report);
        if let Some(detail) = &diag.detail {
            out.push_str(&if color {
                colorize(detail)
            } else {
                detail.clone()
            });
        }
    }
    out
}

/// ANSI colours for a unified diff, on a terminal only.
fn colorize(diff: &str) -> String {
    diff.lines()
        .map(|l| {
            if l.starts_with("+++") || l.starts_with("---") {
                format!("\x1b[1m{l}\x1b[0m\n")
            } else if l.starts_with('+') {
                format!("\x1b[32m{l}\x1b[0m\n")
            } else if l.starts_with('-') {
                format!("\x1b[31m{l}\x1b[0m\n")
            } else if l.starts_with("@@") {
                format!("\x1b[36m{l}\x1b[0m\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Where a diagnostic points when one of its labels sits on a line too long to print.
fn overlong_line(diag: &Diagnostic, text: &str) -> Option<(usize, usize)> {
    diag.labels.iter().find_map(|l| {
        let start = l.span.start.min(text.len());
        let line_start = text.get(..start)?.rfind('\n').map_or(0, |i| i + 1);
        let line_end = text
            .get(start..)?
            .find('\n')
            .map_or(text.len(), |i| start + i);
        (line_end - line_start > MAX_SNIPPET_LINE).then(|| line_col(text, l.span.start))
    })
}

#[derive(Serialize)]
struct JsonDiag<'a> {
    file: &'a str,
    code: &'a str,
    severity: Severity,
    message: &'a str,
    help: Option<&'a str>,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<&'a str>,
}

fn json_diag<'a>(d: &'a Diagnostic, file: &'a str, text: &str) -> JsonDiag<'a> {
    let span = d
        .labels
        .iter()
        .find(|l| l.primary)
        .map_or(0..0, |l| l.span.clone());
    let (line, column) = line_col(text, span.start);
    let (end_line, end_column) = line_col(text, span.end);
    JsonDiag {
        file,
        code: d.code,
        severity: d.severity,
        message: &d.message,
        help: d.help.as_deref(),
        line,
        column,
        end_line,
        end_column,
        diff: d.detail.as_deref(),
    }
}

/// One JSON object per line (JSON Lines): easy to stream and to `jq`.
pub fn render_json(diags: &[Diagnostic], file: &str, text: &str) -> String {
    diags
        .iter()
        .map(|d| serde_json::to_string(&json_diag(d, file, text)).unwrap_or_default() + "\n")
        .collect()
}

/// GitHub workflow commands; `%`, CR and LF are escaped as the runner expects.
pub fn render_github(diags: &[Diagnostic], file: &str, text: &str) -> String {
    let esc = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let prop = |s: &str| esc(s).replace(':', "%3A").replace(',', "%2C");
    diags
        .iter()
        .map(|d| {
            let j = json_diag(d, file, text);
            let level = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            // A finding about a whole file (a missing or stale output) has no position: GitHub
            // then annotates the file, not a made-up first line.
            let at = if d.labels.is_empty() {
                String::new()
            } else {
                format!(
                    ",line={},col={},endLine={},endColumn={}",
                    j.line, j.column, j.end_line, j.end_column
                )
            };
            format!(
                "::{level} file={}{at},title={}::{}\n",
                prop(file),
                prop(d.code),
                esc(&d.message)
            )
        })
        .collect()
}

/// Text as a sentence: the first letter upper-case and a full stop at the end.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .into_iter()
        .flat_map(char::to_uppercase)
        .collect();
    out.push_str(chars.as_str());
    if !out.ends_with(&['.', '?', '!'][..]) {
        out.push('.');
    }
    out
}

/// SARIF 2.1.0 for code scanning, columns counted in Unicode code points. Each rule carries
/// what GitHub's ingestion requires (`shortDescription`, `fullDescription`, `help.text`), a
/// `helpUri` into the code reference (`docs/codes.md`), and a
/// Pascal-case `name`, so the SARIF multitool's `--rule-kind "Ghas;Sarif"` reports nothing.
pub fn render_sarif(files: &[(String, String, Vec<Diagnostic>)]) -> String {
    let mut rules: Vec<&str> = files
        .iter()
        .flat_map(|(_, _, ds)| ds.iter().map(|d| d.code))
        .collect();
    rules.sort_unstable();
    rules.dedup();
    // Each rule is described from the code registry (every raised code is registered; a test
    // holds it), in the same shape either way.
    let rules: Vec<serde_json::Value> = rules
        .iter()
        .map(|id| {
            let (summary, help) = crate::codes::lookup(id).map_or(
                ("a problem qmspec found", "read the result's message"),
                |c| (c.summary, c.help),
            );
            let full = format!("{} {}", sentence(summary), sentence(help));
            json!({
                "id": id,
                "name": crate::codes::friendly_name(id),
                "shortDescription": { "text": summary },
                "fullDescription": { "text": full },
                "help": { "text": help },
                "helpUri": crate::codes::help_uri(id)
            })
        })
        .collect();
    let results: Vec<_> = files
        .iter()
        .flat_map(|(file, text, ds)| {
            ds.iter().map(move |d| {
                let j = json_diag(d, file, text);
                let mut message = d.message.clone();
                if let Some(h) = &d.help {
                    message = format!("{message}\nhelp: {h}");
                }
                json!({
                    "ruleId": d.code,
                    "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                    "message": { "text": message },
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": { "uri": uri_path(file) },
                            "region": {
                                "startLine": j.line, "startColumn": j.column,
                                "endLine": j.end_line, "endColumn": j.end_column
                            }
                        }
                    }]
                })
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "qmspec",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/qmspec/qmspec",
                "rules": rules
            }},
            "columnKind": "unicodeCodePoints",
            "results": results
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// A relative path as a URI reference: every byte outside RFC 3986's unreserved set and `/`
/// percent-encoded, so a file name cannot carry a `%0A` or a `?` into the URI's meaning.
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Edit distance for "did you mean" hints.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a distance that scales with the word's length.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + 1;
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`fill`] wraps exactly as the textwrap call it replaces, for every code's summary and
    /// help at the widths reports use, and for generated text made of what wrapping turns on
    /// (runs of blanks, leading and trailing blanks, words longer than a line, line breaks,
    /// hyphens and slashes) at every width from 0; text with a wide character or an escape
    /// goes through textwrap itself.
    #[test]
    fn fill_wraps_as_textwrap_does() {
        let textwrap = |text: &str, columns: usize| {
            textwrap::fill(
                text,
                textwrap::Options::new(columns)
                    .word_separator(textwrap::WordSeparator::AsciiSpace)
                    .word_splitter(textwrap::WordSplitter::NoHyphenation),
            )
        };
        let mut texts: Vec<String> = crate::codes::CODES
            .iter()
            .flat_map(|c| [c.summary.to_string(), c.help.to_string()])
            .collect();
        // A fixed pseudo-random sequence (xorshift): the same texts on every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = [
            " ",
            " ",
            "  ",
            "a",
            "bc",
            "defghij",
            "-",
            "/",
            "\n",
            "x-y/z",
            "é",
            "\u{1b}[1m",
        ];
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..4000 {
            let mut t = String::new();
            for _ in 0..next() % 24 {
                // Mostly printable ASCII; one pick in seven of the last two entries keeps its
                // wide character or escape.
                let pick = (next() % alphabet.len() as u64) as usize;
                let keep = pick < 10 || next().is_multiple_of(7);
                t.push_str(alphabet[if keep { pick } else { pick - 10 }]);
            }
            texts.push(t);
        }
        let mut compared = 0;
        for text in &texts {
            for columns in (0..24).chain([40, 74, 90, 92, 200]) {
                assert_eq!(
                    fill(text, columns),
                    textwrap(text, columns),
                    "{text:?} at {columns} columns"
                );
                compared += 1;
            }
        }
        assert!(compared > 100_000);
    }

    /// The indexed source answers every span exactly as miette's own scan of the whole text:
    /// the same bytes, offsets, line, column and line count, for line breaks of every kind,
    /// spans at the start and the end, empty spans and any number of context lines.
    #[test]
    fn the_indexed_source_reads_spans_as_miette_does() {
        use miette::SourceCode;
        let texts = [
            "a: 1\nb: 2\n  c: [x, y]\nd: |\n  text\n\n\ne: end",
            "crlf: 1\r\nnext: 2\r\n\r\nlast: 3\r\n",
            "lone\rcr\rbreaks\n mixed\r\nend",
            "",
            "no newline at all",
        ];
        for text in texts {
            let indexed = Indexed::new("f", text.to_string());
            for start in 0..=text.len() {
                for len in [0, 1, 3, 9] {
                    let len = len.min(text.len() - start);
                    for (before, after) in [(0, 0), (1, 1), (2, 3), (5, 0)] {
                        let span = SourceSpan::new(start.into(), len);
                        let want = text.read_span(&span, before, after);
                        let got = indexed.read_span(&span, before, after);
                        match (want, got) {
                            (Ok(w), Ok(g)) => assert_eq!(
                                (w.data(), w.span(), w.line(), w.column(), w.line_count()),
                                (g.data(), g.span(), g.line(), g.column(), g.line_count()),
                                "{text:?} {start}+{len} ({before}, {after})"
                            ),
                            (Err(_), Err(_)) => {}
                            (w, g) => panic!(
                                "{text:?} {start}+{len}: {:?} against {:?}",
                                w.is_ok(),
                                g.is_ok()
                            ),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn shown_source_is_inert_and_keeps_byte_offsets() {
        let text = "name: x # \u{1b}]0;pwned\u{7}\u{1b}[31m \u{9b}2J \u{202e}abc\n";
        let shown = inert_source(text);
        assert_eq!(shown.len(), text.len());
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{shown:?}"
        );
        assert!(!shown.contains('\u{202e}'));
        assert_eq!(&shown[..9], &text[..9]);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "name: \"ü\"\nkey: x\n";
        assert_eq!(line_col(text, text.find("key").unwrap_or(0)), (2, 1));
        assert_eq!(line_col(text, text.find('"').unwrap_or(0) + 2 + 1), (1, 9));
    }

    #[test]
    fn an_offset_inside_a_character_counts_from_its_start() {
        let text = "a: 1\nb: \u{fffd}x\n";
        let inside = text.find('\u{fffd}').unwrap_or(0) + 1;
        assert_eq!(line_col(text, inside), (2, 4));
    }

    #[test]
    fn sarif_rules_carry_what_github_requires() {
        let d = Diagnostic::warning("qmspec::unpinned-base", "no digest")
            .with_label(Label::primary(0..4, "here"));
        let sarif: serde_json::Value = serde_json::from_str(&render_sarif(&[(
            "specs/a.yaml".to_string(),
            "base: x\n".to_string(),
            vec![d],
        )]))
        .expect("SARIF is JSON");
        let rule = &sarif["runs"][0]["tool"]["driver"]["rules"][0];
        assert_eq!(rule["name"], "UnpinnedBase");
        for key in ["shortDescription", "fullDescription", "help"] {
            assert!(
                rule[key]["text"].as_str().is_some_and(|t| !t.is_empty()),
                "{key}: {rule}"
            );
        }
        let full = rule["fullDescription"]["text"].as_str().unwrap_or_default();
        assert!(full.starts_with('A') && full.ends_with('.'), "{full}");
        assert_eq!(
            rule["helpUri"],
            "https://github.com/qmspec/qmspec/blob/main/docs/codes.md#qmspecunpinned-base"
        );
    }

    #[test]
    fn sentences() {
        assert_eq!(sentence("a base image"), "A base image.");
        assert_eq!(sentence("`qmspec lock` it."), "`qmspec lock` it.");
        assert_eq!(sentence(""), ".");
    }

    #[test]
    fn sarif_uris_are_percent_encoded() {
        assert_eq!(uri_path("specs/worker.yaml"), "specs/worker.yaml");
        assert_eq!(
            uri_path("specs/a,b%0A c?.yaml"),
            "specs/a%2Cb%250A%20c%3F.yaml"
        );
        assert_eq!(uri_path("specs/ü.yaml"), "specs/%C3%BC.yaml");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("platfroms", ["platforms", "tools"]),
            Some("platforms")
        );
        assert_eq!(did_you_mean("zzz", ["platforms"]), None);
    }
}
