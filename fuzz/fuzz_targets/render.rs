//! Fuzz target: any bytes → load → for a valid spec, render everything twice.
//!
//! Rendering must not fail on a spec that validated, must be byte-identical between runs,
//! and every output must carry an intact stamp (what `check` relies on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmspec::load::load;
use qmspec::render::{StampState, render_spec, stamp_state};

fuzz_target!(|data: &[u8]| {
    let loaded = load(data);
    let Some(spec) = loaded.spec.as_ref().filter(|_| !loaded.has_errors()) else {
        return;
    };
    let first = render_spec(spec, "specs/fuzz.yaml").expect("a valid spec renders");
    let again = render_spec(spec, "specs/fuzz.yaml").expect("a valid spec renders");
    assert_eq!(first.len(), again.len());
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(a.path, b.path);
        assert!(a.content == b.content, "rendering {} is not deterministic", a.path);
        assert!(
            matches!(stamp_state(&a.content), StampState::Intact),
            "{} does not carry an intact stamp",
            a.path
        );
        assert!(a.content.ends_with('\n') && !a.content.contains('\r'));
    }
});
