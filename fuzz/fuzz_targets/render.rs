//! Fuzz target: a spec's file name and its bytes → load → for a valid spec, render everything
//! twice.
//!
//! Input: the file name, a NUL byte, then the spec. Rendering must not fail on a spec that
//! validated, must be byte-identical between runs, every output must carry an intact stamp
//! naming the spec, and the file name may change nothing but the stamp's lines: whatever it
//! holds, it cannot add an instruction, a shell line or a workflow key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmspec::load::load;
use qmspec::render::{StampState, comment_text, render_spec, stamp_state};

/// Lines of the stamp: three, after a shebang if there is one.
fn body(content: &str) -> Vec<&str> {
    let skip = if content.starts_with("#!") { 4 } else { 3 };
    content.lines().enumerate().filter(|(i, _)| *i == 0 && skip == 4 || *i >= skip).map(|(_, l)| l).collect()
}

fuzz_target!(|data: &[u8]| {
    let (name, spec_bytes) = match data.iter().position(|b| *b == 0) {
        Some(i) => (String::from_utf8_lossy(&data[..i]).into_owned(), &data[i + 1..]),
        None => ("specs/fuzz.yaml".to_string(), data),
    };
    let loaded = load(spec_bytes);
    let Some(spec) = loaded.spec.as_ref().filter(|_| !loaded.has_errors()) else {
        return;
    };
    let first = render_spec(spec, &name).expect("a valid spec renders");
    let again = render_spec(spec, &name).expect("a valid spec renders");
    let plain = render_spec(spec, "specs/fuzz.yaml").expect("a valid spec renders");
    assert_eq!(first.len(), again.len());
    for ((a, b), p) in first.iter().zip(&again).zip(&plain) {
        assert_eq!(a.path, b.path);
        assert!(a.content == b.content, "rendering {} is not deterministic", a.path);
        assert_eq!(
            stamp_state(&a.content, &a.path),
            StampState::Intact { spec: comment_text(&name) },
            "{} does not carry an intact stamp",
            a.path
        );
        assert!(a.content.ends_with('\n') && !a.content.contains('\r'));
        assert_eq!(body(&a.content), body(&p.content), "the file name changed {}", a.path);
    }
});
