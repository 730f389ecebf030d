//! The WGSL sources in the workspace's `shaders/` folder, and their tile parameters.
//!
//! Each shader is valid WGSL as written, with its tile sizes as `const NAME: u32 = ...u;` lines.
//! [`specialize`] rewrites those lines, so one source serves every tile configuration and the
//! file a reader sees is the file naga validates in the tests.

/// A shader source in `shaders/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShaderSource {
    /// File name in `shaders/`.
    pub name: &'static str,
    /// The WGSL text.
    pub text: &'static str,
}

macro_rules! shader {
    ($name:literal) => {
        ShaderSource {
            name: $name,
            text: include_str!(concat!("../../../shaders/", $name)),
        }
    };
}

/// Tiled f32 matrix multiply, C = A·B.
pub const MATMUL_F32: ShaderSource = shader!("matmul_f32.wgsl");

/// Every shader Strata ships.
pub const ALL: &[ShaderSource] = &[MATMUL_F32];

/// Returns `source` with each `const NAME: u32 = ...;` line of `params` rewritten to the given
/// value. A name the source does not define is reported as an error, so a typo cannot silently
/// leave a default in place.
pub fn specialize(source: &ShaderSource, params: &[(&str, u32)]) -> Result<String, String> {
    let mut text = String::with_capacity(source.text.len());
    let mut found = vec![false; params.len()];
    for line in source.text.lines() {
        let trimmed = line.trim_start();
        let replaced = params.iter().enumerate().find_map(|(i, (name, value))| {
            let prefix = format!("const {name}: u32 =");
            trimmed.starts_with(&prefix).then(|| {
                found[i] = true;
                format!("const {name}: u32 = {value}u;")
            })
        });
        text.push_str(replaced.as_deref().unwrap_or(line));
        text.push('\n');
    }
    if let Some(i) = found.iter().position(|f| !f) {
        return Err(format!("shader {} has no `const {}: u32`", source.name, params[i].0));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specialize_rewrites_and_rejects_unknown_names() {
        let text = specialize(&MATMUL_F32, &[("BM", 32), ("TM", 2)]).unwrap();
        assert!(text.contains("const BM: u32 = 32u;"));
        assert!(text.contains("const TM: u32 = 2u;"));
        assert!(specialize(&MATMUL_F32, &[("NOPE", 1)]).is_err());
    }
}
