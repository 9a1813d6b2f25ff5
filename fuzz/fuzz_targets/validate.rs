//! Fuzz target: any bytes → load (UTF-8, YAML, schema, model, rules) → every report format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmspec::diag;
use qmspec::load::load;

fuzz_target!(|data: &[u8]| {
    let loaded = load(data);
    let file = "specs/fuzz.yaml";
    // Rendering touches every span against the text: a span off a character boundary, or
    // past the end, would panic here.
    let _ = diag::render_human(&loaded.diagnostics, file, &loaded.text, false);
    let _ = diag::render_json(&loaded.diagnostics, file, &loaded.text);
    let _ = diag::render_github(&loaded.diagnostics, file, &loaded.text);
    let _ = diag::render_sarif(&[(
        file.to_string(),
        loaded.text.clone(),
        loaded.diagnostics.clone(),
    )]);
    // A spec without errors always comes with its typed form.
    assert!(loaded.has_errors() || loaded.spec.is_some());
});
