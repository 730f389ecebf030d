//! The oracles the targets apply: what Strata's documentation promises about a result, checked
//! with `assert!`. A broken promise panics, and the runner records it as a crash.

use std::collections::HashSet;
use strata::Placement;
use strata::placement::{PolicyError, choose_for_size, choose_memory_type};
use strata::plan::{Attempt, Plan, PlanError, PlanOptions, PlanPolicy, TensorSpec, usable_budget};
use strata::table::MemoryTable;

/// The variant name of an error (`InvalidHeader`, `Placement(Unavailable`), from its `Debug`
/// form, followed by the first lowercase words of its message (`invalid header expected value`):
/// a short label for the runner's outcome feedback that ignores names and numbers.
pub fn kind<E: std::fmt::Debug + std::fmt::Display>(error: &E) -> String {
    let debug = format!("{error:?}");
    let mut label = String::new();
    let mut rest = debug.as_str();
    loop {
        let ident_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        label.push_str(&rest[..ident_len]);
        rest = &rest[ident_len..];
        match rest.strip_prefix('(') {
            Some(inner) if inner.starts_with(|c: char| c.is_ascii_uppercase()) => {
                label.push('(');
                rest = inner;
            }
            _ => break,
        }
    }
    // Names and values are quoted in messages, and may hold quotes themselves: keep only the
    // text before the first quote and after the last one.
    let text = error.to_string();
    let is_quote = |c: char| c == '`' || c == '"';
    let message = match (text.find(is_quote), text.rfind(is_quote)) {
        (Some(first), Some(last)) => format!("{} {}", &text[..first], &text[last + 1..]),
        _ => text,
    };
    let words: Vec<&str> = message
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .filter(|w| (1..=12).contains(&w.len()) && w.chars().all(|c| c.is_ascii_lowercase()))
        .take(6)
        .collect();
    format!("{label}|{}", words.join(" "))
}

/// Plans `tensors` on `table` and checks the result: either a plan that keeps every promise
/// (each tensor once, in order; no heap over its budget; no cap exceeded; each type what its
/// placement resolves to) or an error that is consistent with the input. Planning twice must
/// give the same answer. Returns the outcome label.
pub fn plan_and_check(
    tensors: &[TensorSpec],
    table: &MemoryTable,
    options: &PlanOptions,
) -> String {
    let result = strata::plan::plan(tensors, table, options);
    let again = strata::plan::plan(tensors, table, options);
    // Debug forms, not `==`: a NaN safety margin is not equal to itself.
    assert_eq!(
        format!("{result:?}"),
        format!("{again:?}"),
        "planning is not deterministic"
    );
    match result {
        Ok(plan) => {
            check_plan(&plan, tensors, table, options);
            let _ = plan.render_table();
            let report = plan.to_report();
            let _ = report.render_table();
            let json = serde_json::to_string(&plan).expect("a plan serialises");
            let back: Plan = serde_json::from_str(&json).expect("a plan's JSON reads back");
            assert_eq!(back, plan, "plan JSON does not round-trip");
            "plan:ok".into()
        }
        Err(error) => {
            check_plan_error(&error, tensors, table, options);
            let _ = error.to_string();
            format!("plan:{}", kind(&error))
        }
    }
}

/// Everything a successful plan must satisfy, whatever the input.
pub fn check_plan(plan: &Plan, tensors: &[TensorSpec], table: &MemoryTable, options: &PlanOptions) {
    assert_eq!(
        plan.tensors.len(),
        tensors.len(),
        "every tensor exactly once"
    );
    for (p, t) in plan.tensors.iter().zip(tensors) {
        assert_eq!(
            (&p.name, &p.dtype, &p.shape, p.bytes),
            (&t.name, &t.dtype, &t.shape, t.bytes),
            "tensors come back in input order, unchanged"
        );
    }
    assert_eq!(plan.heaps.len(), table.heaps.len());
    for (hp, heap) in plan.heaps.iter().zip(&table.heaps) {
        let on_heap = plan
            .tensors
            .iter()
            .filter(|t| t.heap == hp.index)
            .map(|t| u128::from(t.bytes))
            .sum::<u128>();
        assert_eq!(
            u128::from(hp.planned_bytes),
            on_heap,
            "heap {} total",
            hp.index
        );
        // The VRAM and host caps may only shrink a heap's budget.
        let uncapped = usable_budget(heap, options.safety_margin);
        if options.caps.vram.is_none() && options.caps.host.is_none() {
            assert_eq!(hp.budget, uncapped);
        } else {
            assert!(
                hp.budget <= uncapped,
                "heap {} budget raised by a cap",
                hp.index
            );
        }
        assert!(
            hp.planned_bytes <= hp.budget,
            "heap {} over budget: {hp:?}",
            hp.index
        );
        assert!(
            hp.budget <= heap.size,
            "heap {} budget above its size",
            hp.index
        );
        assert_eq!(hp.headroom, hp.budget - hp.planned_bytes);
    }
    for p in Placement::NAMED {
        if let Some(cap) = options.caps.get(p) {
            assert!(
                plan.bytes_in(p) <= cap,
                "{p}: {} over its cap {cap}",
                plan.bytes_in(p)
            );
        }
    }
    for t in &plan.tensors {
        let choice = choose_memory_type(table, t.placement, u32::MAX)
            .unwrap_or_else(|e| panic!("{} planned into an unavailable placement: {e}", t.name));
        assert_eq!(
            (choice.memory_type, choice.heap),
            (t.memory_type, t.heap),
            "{}",
            t.name
        );
        match options.policy {
            PlanPolicy::Only(p) => assert_eq!(t.placement, p, "{}", t.name),
            PlanPolicy::Tiered => {
                assert!(
                    t.tier.chain().contains(&t.placement),
                    "{} left its chain",
                    t.name
                )
            }
        }
    }
}

/// A plan error must be the one the input calls for.
pub fn check_plan_error(
    error: &PlanError,
    tensors: &[TensorSpec],
    table: &MemoryTable,
    options: &PlanOptions,
) {
    let has = |name: &str, bytes: u64| tensors.iter().any(|t| t.name == name && t.bytes == bytes);
    match error {
        PlanError::Table(_) => assert!(table.validate().is_err(), "a valid table was refused"),
        PlanError::SafetyMargin(m) => {
            assert!(!(0.0..1.0).contains(m), "margin {m} refused");
        }
        PlanError::DuplicateTensor(name) => {
            assert!(
                tensors.iter().filter(|t| &t.name == name).count() >= 2,
                "{name}"
            );
        }
        PlanError::Placement(PolicyError::Unavailable { placement, .. }) => {
            assert_eq!(options.policy, PlanPolicy::Only(*placement));
            assert!(choose_memory_type(table, *placement, u32::MAX).is_err());
        }
        PlanError::DoesNotFit {
            tensor,
            bytes,
            free,
            placement,
            ..
        } => {
            assert_eq!(options.policy, PlanPolicy::Only(*placement));
            assert!(bytes > free, "{tensor} fits but was refused");
            assert!(has(tensor, *bytes), "{tensor} is not an input tensor");
        }
        PlanError::FitsNowhere {
            tensor,
            bytes,
            tier,
            attempts,
        } => {
            assert_eq!(options.policy, PlanPolicy::Tiered);
            assert!(has(tensor, *bytes), "{tensor} is not an input tensor");
            assert_eq!(
                attempts.len(),
                tier.chain().len(),
                "every placement of the chain tried"
            );
            for (attempt, &p) in attempts.iter().zip(tier.chain()) {
                match attempt {
                    Attempt::Unavailable { placement } => {
                        assert_eq!(*placement, p);
                        assert!(choose_memory_type(table, p, u32::MAX).is_err());
                    }
                    Attempt::Full {
                        placement,
                        needed,
                        free,
                        ..
                    } => {
                        assert_eq!(*placement, p);
                        assert_eq!(*needed, *bytes);
                        assert!(needed > free, "{tensor} fit in {p}");
                    }
                }
            }
        }
        other => panic!("unexpected plan error: {other}"),
    }
}

/// Checks the placement policy on `table` for `placement` and a buffer's `memoryTypeBits`:
/// a type that passes the placement's flag rule and the bits, or `Unavailable`.
pub fn check_policy(table: &MemoryTable, placement: Placement, bits: u32, bytes: u64) {
    match choose_memory_type(table, placement, bits) {
        Ok(choice) => {
            let ty = table
                .types
                .get(choice.memory_type as usize)
                .unwrap_or_else(|| panic!("{placement}: chose a type that does not exist"));
            assert_eq!(ty.index, choice.memory_type);
            assert_eq!(ty.heap, choice.heap);
            assert_eq!(ty.flags, choice.flags);
            assert!(
                ty.index < 32 && bits & (1 << ty.index) != 0,
                "{placement}: type outside the bits"
            );
            match placement {
                Placement::Type(n) => assert_eq!(n, ty.index),
                _ => {
                    let rule = placement.rule().expect("named placements have a rule");
                    assert!(
                        ty.flags.contains(rule.required),
                        "{placement}: required flags"
                    );
                    assert!(
                        !ty.flags.intersects(rule.forbidden),
                        "{placement}: forbidden flags"
                    );
                }
            }
            let heap_size = table.heaps.get(ty.heap as usize).map_or(0, |h| h.size);
            match choose_for_size(table, placement, bits, bytes) {
                Ok(sized) => {
                    assert_eq!(sized, choice);
                    assert!(bytes <= heap_size);
                }
                Err(PolicyError::TooLarge { .. }) => assert!(bytes > heap_size),
                Err(e) => panic!("{placement}: sized request failed otherwise: {e}"),
            }
        }
        Err(PolicyError::Unavailable { table: printed, .. }) => {
            assert_eq!(
                printed,
                table.to_string(),
                "the error shows the device's table"
            );
            let usable = |ty: &strata::table::MemoryType| match placement {
                Placement::Type(n) => {
                    ty.index == n && !ty.flags.intersects(strata::placement::UNUSABLE)
                }
                _ => placement.rule().is_some_and(|rule| {
                    ty.flags.contains(rule.required) && !ty.flags.intersects(rule.forbidden)
                }),
            };
            let in_bits =
                |ty: &strata::table::MemoryType| ty.index < 32 && bits & (1 << ty.index) != 0;
            assert!(
                !table.types.iter().any(|ty| in_bits(ty) && usable(ty)),
                "{placement}: refused although a type serves it"
            );
            assert!(choose_for_size(table, placement, bits, bytes).is_err());
        }
        Err(other) => panic!("{placement}: unexpected policy error {other}"),
    }
}

/// Checks that every name in `names` is distinct.
pub fn assert_distinct<'a>(names: impl IntoIterator<Item = &'a str>, what: &str) {
    let mut seen = HashSet::new();
    for name in names {
        assert!(seen.insert(name), "{what} `{name}` appears twice");
    }
}
