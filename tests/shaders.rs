//! Every WGSL file in `shaders/`, and every variant the per-device kernel table can produce,
//! parses and validates with naga. No GPU needed.

use std::path::PathBuf;

fn shaders_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shaders")
}

/// Parses and validates `source` with every capability naga knows; the error names `what`.
fn validate(what: &str, source: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| format!("{what}: parse error:\n{}", e.emit_to_string(source)))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| format!("{what}: validation error:\n{}", e.emit_to_string(source)))?;
    Ok(())
}

#[test]
fn every_shader_file_validates() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shaders_dir())
        .expect("the shaders/ directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "wgsl"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no shaders found in {}",
        shaders_dir().display()
    );
    let mut failures = Vec::new();
    for path in &files {
        let source = std::fs::read_to_string(path).expect("a readable shader");
        if let Err(e) = validate(&path.display().to_string(), &source) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_shader_file_is_registered() {
    let registered: Vec<&str> = strata::shaders::ALL.iter().map(|s| s.name()).collect();
    for entry in std::fs::read_dir(shaders_dir()).expect("the shaders/ directory") {
        let name = entry
            .expect("a directory entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".wgsl") {
            assert!(
                registered.contains(&name.as_str()),
                "shaders/{name} is not in strata::shaders::ALL"
            );
        }
    }
}

/// Runs `check` on every kernel variant the per-device table can produce; fails listing every
/// variant that does not pass.
fn assert_every_variant(check: fn(&str, &str) -> Result<(), String>) {
    let sources = strata::kernels::every_variant_source().expect("variant sources");
    assert!(sources.len() > 50, "only {} variants", sources.len());
    let failures: Vec<String> = sources
        .iter()
        .filter_map(|(name, source)| check(name, source).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} variants fail:\n{}",
        failures.len(),
        sources.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_kernel_variant_validates() {
    assert_every_variant(validate);
}

/// Translates `source` to SPIR-V as wgpu's Vulkan backend does (every bounds-check policy it
/// may choose), catching a translator panic as a failure.
fn translate_to_spirv(what: &str, source: &str) -> Result<(), String> {
    use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
    let module = naga::front::wgsl::parse_str(source).map_err(|e| format!("{what}: {e}"))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| format!("{what}: {e}"))?;
    for policy in [
        BoundsCheckPolicy::Restrict,
        BoundsCheckPolicy::ReadZeroSkipWrite,
        BoundsCheckPolicy::Unchecked,
    ] {
        let options = naga::back::spv::Options {
            lang_version: (1, 3),
            bounds_check_policies: BoundsCheckPolicies {
                index: policy,
                buffer: policy,
                image_load: policy,
                binding_array: policy,
            },
            ..Default::default()
        };
        let written =
            std::panic::catch_unwind(|| naga::back::spv::write_vec(&module, &info, &options, None));
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("{what} ({policy:?}): {e}")),
            Err(_) => return Err(format!("{what} ({policy:?}): the SPIR-V writer panicked")),
        }
    }
    Ok(())
}

#[test]
fn every_kernel_variant_translates_to_spirv() {
    assert_every_variant(translate_to_spirv);
}
