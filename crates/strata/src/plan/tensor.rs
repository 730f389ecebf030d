//! The planner's view of a tensor: a name, a dtype, a shape and a size in bytes.

use serde::{Deserialize, Serialize};

/// One tensor to place, as a model file describes it. The planner reads only the name (for
/// tier rules) and the byte count; dtype and shape are carried through to the report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorSpec {
    /// The tensor's name in the model file, e.g. `model.layers.0.mlp.up_proj.weight`.
    pub name: String,
    /// The safetensors dtype string, e.g. `BF16`, `F32`, `U8`.
    pub dtype: String,
    /// The shape, outermost dimension first.
    pub shape: Vec<u64>,
    /// Size in bytes (what the file stores for it).
    pub bytes: u64,
}

impl TensorSpec {
    /// A tensor spec from its parts.
    pub fn new(
        name: impl Into<String>,
        dtype: impl Into<String>,
        shape: impl Into<Vec<u64>>,
        bytes: u64,
    ) -> Self {
        Self {
            name: name.into(),
            dtype: dtype.into(),
            shape: shape.into(),
            bytes,
        }
    }

    /// The shape printed as `[a, b, c]`.
    pub fn shape_string(&self) -> String {
        shape_string(&self.shape)
    }
}

/// A shape printed as `[a, b, c]` (`[]` for a scalar).
pub fn shape_string(shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_print_as_lists() {
        let t = TensorSpec::new("w", "BF16", [2, 3], 12);
        assert_eq!(t.shape_string(), "[2, 3]");
        assert_eq!(shape_string(&[]), "[]");
    }
}
