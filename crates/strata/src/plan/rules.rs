//! Tier rules: glob patterns on tensor names that say which tensors are critical.
//!
//! A rule is written `PATTERN=TIER`, e.g. `*embed*=critical`, `*.layers.[0-3].*=critical` or
//! `*mlp*=bulk`. Patterns are [`globset`] globs over the whole name: `*` matches any run of
//! characters (dots included), `?` one character, `[0-3]` one character of a class and `{a,b}`
//! either alternative.
//!
//! A tensor's tier is decided by the first rule that matches, in this order:
//! 1. the user's rules, in the order given;
//! 2. unless switched off, the default rules ([`DEFAULT_RULES`]): embeddings, norms and the
//!    output head are critical;
//! 3. unless switched off, the first and the last layer of every layer stack are critical
//!    (the layer index is read from names like `model.layers.N.`, `transformer.h.N.`,
//!    `blocks.N.`, `layers.N.` or GGUF's `blk.N.`; see [`layer_of`]);
//! 4. anything else is [`Tier::Bulk`].

use super::tensor::TensorSpec;
use super::tier::{Tier, UnknownTier};
use globset::{GlobBuilder, GlobMatcher};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// One tier rule: tensors whose name matches `pattern` get `tier`.
#[derive(Debug, Clone)]
pub struct TierRule {
    pattern: String,
    tier: Tier,
    matcher: GlobMatcher,
}

/// A tier rule that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// No `=TIER` part.
    #[error("tier rule `{rule}`: expected PATTERN=TIER, e.g. `*embed*=critical`")]
    MissingTier {
        /// The rule as written.
        rule: String,
    },
    /// Nothing before the `=`.
    #[error("tier rule `{rule}`: the pattern before `=` is empty")]
    EmptyPattern {
        /// The rule as written.
        rule: String,
    },
    /// The tier is not `critical` or `bulk`.
    #[error("tier rule `{rule}`: {source}")]
    UnknownTier {
        /// The rule as written.
        rule: String,
        /// The tier that was not understood.
        source: UnknownTier,
    },
    /// The pattern is not a valid glob.
    #[error("tier rule `{rule}`: bad glob pattern: {message}")]
    BadGlob {
        /// The rule as written.
        rule: String,
        /// What the glob parser said.
        message: String,
    },
}

impl TierRule {
    /// A rule from a glob pattern and a tier.
    pub fn new(pattern: &str, tier: Tier) -> Result<Self, RuleError> {
        let pattern = pattern.trim();
        let rule = || format!("{pattern}={tier}");
        if pattern.is_empty() {
            return Err(RuleError::EmptyPattern { rule: rule() });
        }
        let glob = GlobBuilder::new(pattern)
            .literal_separator(false)
            .build()
            .map_err(|e| RuleError::BadGlob {
                rule: rule(),
                message: e.kind().to_string(),
            })?;
        Ok(Self {
            pattern: pattern.to_string(),
            tier,
            matcher: glob.compile_matcher(),
        })
    }

    /// The glob pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The tier this rule gives.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// `true` when the rule's pattern matches the whole tensor name.
    pub fn matches(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }
}

impl FromStr for TierRule {
    type Err = RuleError;
    /// Parses `PATTERN=TIER`; the last `=` separates the two.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rule = s.trim();
        let (pattern, tier) = rule
            .rsplit_once('=')
            .ok_or_else(|| RuleError::MissingTier {
                rule: rule.to_string(),
            })?;
        if pattern.trim().is_empty() {
            return Err(RuleError::EmptyPattern {
                rule: rule.to_string(),
            });
        }
        let tier = tier
            .parse::<Tier>()
            .map_err(|source| RuleError::UnknownTier {
                rule: rule.to_string(),
                source,
            })?;
        Self::new(pattern, tier).map_err(|e| match e {
            RuleError::BadGlob { message, .. } => RuleError::BadGlob {
                rule: rule.to_string(),
                message,
            },
            other => other,
        })
    }
}

impl PartialEq for TierRule {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.tier == other.tier
    }
}

impl Eq for TierRule {}

impl fmt::Display for TierRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.pattern, self.tier)
    }
}

/// The default glob rules, tried after the user's rules (when defaults are on):
/// embeddings (`*embed*` covers `embed_tokens`, `tok_embeddings`, `word_embeddings`; GPT-2's
/// `wte`/`wpe`; GGUF's `token_embd` and `position_embd` by `*embd*`), norms (`*norm*`, GPT-2's
/// `ln_1`/`ln_f`, GGUF's `attn_norm`, `ffn_norm`, `output_norm`) and the output head
/// (`lm_head`, Meta Llama's and GGUF's `output.weight`). All critical: they are small or read
/// on every token.
pub const DEFAULT_RULES: &[(&str, Tier)] = &[
    ("*embed*", Tier::Critical),
    ("*embd*", Tier::Critical),
    ("*wte*", Tier::Critical),
    ("*wpe*", Tier::Critical),
    ("*norm*", Tier::Critical),
    ("*ln_*", Tier::Critical),
    ("*lm_head*", Tier::Critical),
    ("output.weight", Tier::Critical),
];

/// Segment names that introduce a layer index: `model.layers.N.`, `transformer.h.N.`,
/// `blocks.N.`, BERT's `encoder.layer.N.`, T5's `block.N.`, GGUF's `blk.N.`.
pub const LAYER_CONTAINERS: &[&str] = &["layers", "layer", "h", "blocks", "block", "blk"];

/// The layer stack and index of a tensor name: for `model.layers.12.mlp.up_proj.weight`,
/// `Some(("model.layers.", 12))`. The stack prefix tells separate stacks apart (a vision
/// encoder's layers and a language model's). The first `CONTAINER.N` pair wins, where
/// `CONTAINER` is one of [`LAYER_CONTAINERS`] and `N` a decimal number.
pub fn layer_of(name: &str) -> Option<(&str, u64)> {
    let mut offset = 0;
    let mut previous: Option<&str> = None;
    for segment in name.split('.') {
        let after_container = previous.is_some_and(|p| LAYER_CONTAINERS.contains(&p));
        let numeric = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
        if after_container && numeric {
            return segment
                .parse::<u64>()
                .ok()
                .map(|index| (&name[..offset], index));
        }
        previous = Some(segment);
        offset += segment.len() + 1;
    }
    None
}

/// Why a tensor got its tier.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TierReason {
    /// A user rule matched.
    Rule(String),
    /// A default glob rule matched.
    DefaultRule(&'static str),
    /// The first layer of its stack (default).
    FirstLayer(u64),
    /// The last layer of its stack (default).
    LastLayer(u64),
    /// No rule matched.
    Unmatched,
}

/// A tensor's tier and the reason for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The tier.
    pub tier: Tier,
    /// Why.
    pub reason: TierReason,
}

impl fmt::Display for Classification {
    /// `critical (rule *embed*)`, `critical (default *norm*)`, `critical (default: last layer
    /// 61)`, `bulk`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            TierReason::Rule(pattern) => write!(f, "{} (rule {pattern})", self.tier),
            TierReason::DefaultRule(pattern) => write!(f, "{} (default {pattern})", self.tier),
            TierReason::FirstLayer(n) => write!(f, "{} (default: first layer {n})", self.tier),
            TierReason::LastLayer(n) => write!(f, "{} (default: last layer {n})", self.tier),
            TierReason::Unmatched => write!(f, "{}", self.tier),
        }
    }
}

/// Decides the tier of each tensor of one model: user rules, then the defaults.
#[derive(Debug, Clone)]
pub struct Classifier {
    user: Vec<TierRule>,
    defaults: Vec<(TierRule, &'static str)>,
    /// Last layer index of each layer stack; empty when defaults are off.
    last_layer: HashMap<String, u64>,
}

impl Classifier {
    /// A classifier for `tensors` (needed to find each layer stack's last layer).
    pub fn new(rules: &[TierRule], default_rules: bool, tensors: &[TensorSpec]) -> Self {
        let mut defaults = Vec::new();
        let mut last_layer = HashMap::new();
        if default_rules {
            defaults = DEFAULT_RULES
                .iter()
                .filter_map(|&(pattern, tier)| {
                    TierRule::new(pattern, tier).ok().map(|r| (r, pattern))
                })
                .collect();
            for tensor in tensors {
                if let Some((stack, index)) = layer_of(&tensor.name) {
                    let last = last_layer.entry(stack.to_string()).or_insert(index);
                    *last = (*last).max(index);
                }
            }
        }
        Self {
            user: rules.to_vec(),
            defaults,
            last_layer,
        }
    }

    /// The tier of one tensor name, and why.
    pub fn classify(&self, name: &str) -> Classification {
        if let Some(rule) = self.user.iter().find(|r| r.matches(name)) {
            return Classification {
                tier: rule.tier(),
                reason: TierReason::Rule(rule.pattern().to_string()),
            };
        }
        if let Some((rule, pattern)) = self.defaults.iter().find(|(r, _)| r.matches(name)) {
            return Classification {
                tier: rule.tier(),
                reason: TierReason::DefaultRule(pattern),
            };
        }
        let edge = layer_of(name).and_then(|(stack, index)| {
            let last = *self.last_layer.get(stack)?;
            if index == 0 {
                Some(TierReason::FirstLayer(index))
            } else if index == last {
                Some(TierReason::LastLayer(index))
            } else {
                None
            }
        });
        if let Some(reason) = edge {
            return Classification {
                tier: Tier::Critical,
                reason,
            };
        }
        Classification {
            tier: Tier::Bulk,
            reason: TierReason::Unmatched,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> TensorSpec {
        TensorSpec::new(name, "BF16", [1], 2)
    }

    #[test]
    fn rules_parse() {
        let rule: TierRule = "*embed*=critical".parse().unwrap();
        assert_eq!(rule.pattern(), "*embed*");
        assert_eq!(rule.tier(), Tier::Critical);
        assert!(rule.matches("model.embed_tokens.weight"));
        assert_eq!(rule.to_string(), "*embed*=critical");

        let layers: TierRule = "*.layers.[0-3].*=critical".parse().unwrap();
        assert!(layers.matches("model.layers.3.mlp.up_proj.weight"));
        assert!(!layers.matches("model.layers.4.mlp.up_proj.weight"));
        assert!(!layers.matches("model.layers.13.mlp.up_proj.weight"));

        let bulk: TierRule = " *mlp* = BULK ".parse().unwrap();
        assert_eq!(bulk.tier(), Tier::Bulk);
    }

    #[test]
    fn bad_rules_are_typed_errors() {
        assert!(matches!(
            "*embed*".parse::<TierRule>(),
            Err(RuleError::MissingTier { .. })
        ));
        assert!(matches!(
            "=critical".parse::<TierRule>(),
            Err(RuleError::EmptyPattern { .. })
        ));
        assert!(matches!(
            "*embed*=hot".parse::<TierRule>(),
            Err(RuleError::UnknownTier { .. })
        ));
        let err = "*.layers.[0-3.*=critical".parse::<TierRule>().unwrap_err();
        assert!(matches!(err, RuleError::BadGlob { .. }), "{err}");
        assert!(
            err.to_string().contains("*.layers.[0-3.*=critical"),
            "{err}"
        );
    }

    #[test]
    fn every_default_rule_compiles() {
        for &(pattern, tier) in DEFAULT_RULES {
            assert!(TierRule::new(pattern, tier).is_ok(), "{pattern}");
        }
    }

    #[test]
    fn layer_indices_are_found() {
        assert_eq!(
            layer_of("model.layers.12.mlp.up_proj.weight"),
            Some(("model.layers.", 12))
        );
        assert_eq!(
            layer_of("transformer.h.0.attn.c_attn.weight"),
            Some(("transformer.h.", 0))
        );
        assert_eq!(layer_of("blocks.7.attn.weight"), Some(("blocks.", 7)));
        assert_eq!(
            layer_of("layers.3.attention.wq.weight"),
            Some(("layers.", 3))
        );
        assert_eq!(layer_of("model.embed_tokens.weight"), None);
        assert_eq!(layer_of("model.layers.x.weight"), None);
        assert_eq!(layer_of("heads.3.weight"), None);
        assert_eq!(layer_of("blk.31.attn_q.weight"), Some(("blk.", 31)));
        assert_eq!(layer_of("v.blk.2.ffn_up.weight"), Some(("v.blk.", 2)));
    }

    #[test]
    fn defaults_know_gguf_names() {
        let names = [
            "token_embd.weight",
            "blk.0.attn_q.weight",
            "blk.1.attn_norm.weight",
            "blk.1.ffn_norm.weight",
            "blk.1.attn_q.weight",
            "blk.1.ffn_down.weight",
            "blk.2.ffn_up.weight",
            "output_norm.weight",
            "output.weight",
            "rope_freqs.weight",
            "position_embd.weight",
        ];
        let tensors: Vec<TensorSpec> = names.iter().map(|n| spec(n)).collect();
        let c = Classifier::new(&[], true, &tensors);
        let tiers: Vec<Tier> = names.iter().map(|n| c.classify(n).tier).collect();
        use Tier::{Bulk as B, Critical as C};
        assert_eq!(tiers, [C, C, C, C, B, B, C, C, C, B, C]);
        assert_eq!(
            c.classify("blk.2.ffn_up.weight").to_string(),
            "critical (default: last layer 2)"
        );
        assert_eq!(
            c.classify("token_embd.weight").to_string(),
            "critical (default *embd*)"
        );
    }

    #[test]
    fn defaults_pick_embeddings_norms_head_and_edge_layers() {
        let names = [
            "model.embed_tokens.weight",
            "model.layers.0.mlp.up_proj.weight",
            "model.layers.1.mlp.up_proj.weight",
            "model.layers.1.input_layernorm.weight",
            "model.layers.2.mlp.up_proj.weight",
            "model.norm.weight",
            "lm_head.weight",
            "transformer.wte.weight",
            "transformer.h.0.ln_1.weight",
            "vision.blocks.0.attn.weight",
            "vision.blocks.1.attn.weight",
            "vision.blocks.2.attn.weight",
        ];
        let tensors: Vec<TensorSpec> = names.iter().map(|n| spec(n)).collect();
        let c = Classifier::new(&[], true, &tensors);
        let tiers: Vec<Tier> = names.iter().map(|n| c.classify(n).tier).collect();
        use Tier::{Bulk as B, Critical as C};
        assert_eq!(tiers, [C, C, B, C, C, C, C, C, C, C, B, C]);
        assert_eq!(
            c.classify("model.layers.2.mlp.up_proj.weight").to_string(),
            "critical (default: last layer 2)"
        );
        assert_eq!(
            c.classify("model.norm.weight").to_string(),
            "critical (default *norm*)"
        );
        assert_eq!(
            c.classify("model.layers.1.mlp.up_proj.weight").to_string(),
            "bulk"
        );
    }

    #[test]
    fn user_rules_come_first_and_defaults_can_be_switched_off() {
        let tensors = [
            spec("model.embed_tokens.weight"),
            spec("model.layers.0.mlp.weight"),
        ];
        let rules = ["*embed*=bulk".parse::<TierRule>().unwrap()];
        let c = Classifier::new(&rules, true, &tensors);
        let embed = c.classify("model.embed_tokens.weight");
        assert_eq!(embed.tier, Tier::Bulk);
        assert_eq!(embed.to_string(), "bulk (rule *embed*)");
        assert_eq!(c.classify("model.layers.0.mlp.weight").tier, Tier::Critical);

        let off = Classifier::new(&[], false, &tensors);
        assert_eq!(off.classify("model.embed_tokens.weight").tier, Tier::Bulk);
        assert_eq!(off.classify("model.layers.0.mlp.weight").tier, Tier::Bulk);
    }
}
