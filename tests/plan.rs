//! Tiered placement plans on the recorded device tables, with synthetic models of realistic
//! names and shapes, plus property tests over random tables. No GPU needed.

use proptest::prelude::*;
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;
use strata::placement::{PolicyError, choose_memory_type};
use strata::plan::{
    Attempt, Limit, PlacementCaps, Plan, PlanError, PlanOptions, PlanPolicy, RuleError, TensorSpec,
    Tier, TierRule, host_heaps, parse_bytes, plan, usable_budget, usable_cap, vram_heaps,
};
use strata::table::{HeapFlags, MemoryFlags, MemoryHeap, MemoryTable, MemoryType};
use strata::{Placement, Usage};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn load(file: &str) -> MemoryTable {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/devices")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    MemoryTable::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn apu() -> MemoryTable {
    load("amd-apu-radv.json")
}
fn h100() -> MemoryTable {
    load("nvidia-h100-vulkan.json")
}
fn lavapipe() -> MemoryTable {
    load("lavapipe-mesa-22.3.6.json")
}
fn no_rebar() -> MemoryTable {
    load("nvidia-consumer-no-rebar.json")
}
fn h200() -> MemoryTable {
    load("nvidia-h200-vulkan.json")
}

/// A bf16 decoder-only transformer with Llama/Gemma tensor names
/// (`model.layers.N.self_attn.q_proj.weight`, ...).
struct Shape {
    layers: u64,
    hidden: u64,
    intermediate: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    vocab: u64,
    tied_head: bool,
}

/// Gemma 3 27B: 62 layers, ~27.0 B parameters, ~54 GB of bf16.
const GEMMA_27B: Shape = Shape {
    layers: 62,
    hidden: 5376,
    intermediate: 21504,
    heads: 32,
    kv_heads: 16,
    head_dim: 128,
    vocab: 262_208,
    tied_head: true,
};

/// Llama 3 8B: 32 layers, ~8.0 B parameters, ~16 GB of bf16.
const LLAMA_8B: Shape = Shape {
    layers: 32,
    hidden: 4096,
    intermediate: 14336,
    heads: 32,
    kv_heads: 8,
    head_dim: 128,
    vocab: 128_256,
    tied_head: false,
};

fn bf16(name: String, shape: &[u64]) -> TensorSpec {
    let bytes = shape.iter().product::<u64>() * 2;
    TensorSpec::new(name, "BF16", shape.to_vec(), bytes)
}

fn model(s: &Shape) -> Vec<TensorSpec> {
    let (h, q, kv) = (s.hidden, s.heads * s.head_dim, s.kv_heads * s.head_dim);
    let mut out = vec![bf16("model.embed_tokens.weight".into(), &[s.vocab, h])];
    for n in 0..s.layers {
        let p = format!("model.layers.{n}");
        out.extend([
            bf16(format!("{p}.input_layernorm.weight"), &[h]),
            bf16(format!("{p}.self_attn.q_proj.weight"), &[q, h]),
            bf16(format!("{p}.self_attn.k_proj.weight"), &[kv, h]),
            bf16(format!("{p}.self_attn.v_proj.weight"), &[kv, h]),
            bf16(format!("{p}.self_attn.o_proj.weight"), &[h, q]),
            bf16(format!("{p}.self_attn.q_norm.weight"), &[s.head_dim]),
            bf16(format!("{p}.self_attn.k_norm.weight"), &[s.head_dim]),
            bf16(format!("{p}.post_attention_layernorm.weight"), &[h]),
            bf16(format!("{p}.pre_feedforward_layernorm.weight"), &[h]),
            bf16(format!("{p}.post_feedforward_layernorm.weight"), &[h]),
            bf16(format!("{p}.mlp.gate_proj.weight"), &[s.intermediate, h]),
            bf16(format!("{p}.mlp.up_proj.weight"), &[s.intermediate, h]),
            bf16(format!("{p}.mlp.down_proj.weight"), &[h, s.intermediate]),
        ]);
    }
    out.push(bf16("model.norm.weight".into(), &[h]));
    if !s.tied_head {
        out.push(bf16("lm_head.weight".into(), &[s.vocab, h]));
    }
    out
}

fn total(tensors: &[TensorSpec]) -> u64 {
    tensors.iter().map(|t| t.bytes).sum()
}

fn opts(policy: &str) -> PlanOptions {
    PlanOptions {
        policy: policy.parse().unwrap(),
        ..PlanOptions::default()
    }
}

/// Everything a successful plan must satisfy, whatever the input.
fn check_plan(plan: &Plan, tensors: &[TensorSpec], table: &MemoryTable, options: &PlanOptions) {
    // Every tensor exactly once, in input order, carried through unchanged.
    assert_eq!(plan.tensors.len(), tensors.len());
    for (p, t) in plan.tensors.iter().zip(tensors) {
        assert_eq!(
            (&p.name, &p.dtype, &p.shape, p.bytes),
            (&t.name, &t.dtype, &t.shape, t.bytes)
        );
        assert!(!p.explanation.is_empty());
    }
    let names: HashSet<&str> = plan.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), tensors.len());

    // Heaps: totals add up and never exceed the usable budget, capped where a cap binds.
    assert_eq!(plan.heaps.len(), table.heaps.len());
    let caps = [
        (options.caps.vram, vram_heaps(table)),
        (options.caps.host, host_heaps(table)),
    ];
    let group_usable = |cap: u64, heaps: &[u32]| {
        let members: Vec<&MemoryHeap> = heaps.iter().map(|&h| &table.heaps[h as usize]).collect();
        usable_cap(cap, &members, options.safety_margin)
    };
    for (hp, heap) in plan.heaps.iter().zip(&table.heaps) {
        let on_heap: u64 = plan
            .tensors
            .iter()
            .filter(|t| t.heap == hp.index)
            .map(|t| t.bytes)
            .sum();
        assert_eq!(hp.index, heap.index);
        assert_eq!(hp.size, heap.size);
        assert_eq!(hp.planned_bytes, on_heap, "heap {}", hp.index);
        let expected_budget = caps
            .iter()
            .filter_map(|(cap, heaps)| cap.filter(|_| heaps.contains(&heap.index)).zip(Some(heaps)))
            .map(|(cap, heaps)| group_usable(cap, heaps))
            .fold(usable_budget(heap, options.safety_margin), u64::min);
        assert_eq!(hp.budget, expected_budget, "heap {}", hp.index);
        assert!(
            hp.planned_bytes <= hp.budget,
            "heap {} over budget: {hp:?}",
            hp.index
        );
        assert!(hp.budget <= heap.size);
        assert_eq!(hp.headroom, hp.budget - hp.planned_bytes);
    }

    // Caps: a heap cap binds the sum over its heaps, the vram-mapped cap its placement, and
    // every cap bounds the placement it is named after.
    for (cap, heaps) in &caps {
        if let Some(cap) = *cap {
            let on_heaps: u64 = plan
                .heaps
                .iter()
                .filter(|h| heaps.contains(&h.index))
                .map(|h| h.planned_bytes)
                .sum();
            assert!(
                on_heaps <= group_usable(cap, heaps),
                "{on_heaps} over cap {cap}"
            );
        }
    }
    for p in Placement::NAMED {
        if let Some(cap) = options.caps.get(p) {
            assert!(
                plan.bytes_in(p) <= cap,
                "{p}: {} over cap {cap}",
                plan.bytes_in(p)
            );
        }
    }

    // Every tensor's type is what its placement resolves to, and the placement is allowed.
    for t in &plan.tensors {
        let choice = choose_memory_type(table, t.placement, u32::MAX)
            .unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert_eq!(
            (choice.memory_type, choice.heap),
            (t.memory_type, t.heap),
            "{}",
            t.name
        );
        match options.policy {
            PlanPolicy::Only(p) => assert_eq!(t.placement, p),
            PlanPolicy::Tiered => assert!(t.tier.chain().contains(&t.placement), "{}", t.name),
        }
    }
}

fn planned(tensors: &[TensorSpec], table: &MemoryTable, options: &PlanOptions) -> Plan {
    let plan = plan(tensors, table, options).unwrap_or_else(|e| panic!("{e}"));
    check_plan(&plan, tensors, table, options);
    plan
}

#[test]
fn synthetic_models_have_realistic_sizes() {
    let gemma = model(&GEMMA_27B);
    let params = total(&gemma) / 2;
    assert!(
        (26_500_000_000..27_500_000_000).contains(&params),
        "{params}"
    );
    assert!(gemma.len() > 800);
    let llama = model(&LLAMA_8B);
    let params = total(&llama) / 2;
    assert!((7_800_000_000..8_200_000_000).contains(&params), "{params}");
}

#[test]
fn apu_27b_spills_critical_to_vram_bulk_to_vram_mapped_then_host() {
    let table = apu();
    let tensors = model(&GEMMA_27B);
    let options = PlanOptions::default();
    let plan = planned(&tensors, &table, &options);
    println!(
        "{}",
        plan.render_table()
            .lines()
            .rev()
            .take(14)
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Heap 1 (36 GiB DEVICE_LOCAL) and heap 0 (18 GiB GTT), 5% margin.
    assert_eq!(plan.heaps[1].budget, usable_budget(&table.heaps[1], 0.05));
    assert_eq!(
        plan.heaps[1].budget,
        36 * GIB - (36 * GIB * 5).div_ceil(100)
    );

    let mut to_host = 0;
    for t in &plan.tensors {
        match t.tier {
            Tier::Critical => {
                assert_eq!(
                    (t.placement, t.memory_type, t.heap),
                    (Placement::Vram, 0, 1),
                    "{}",
                    t.name
                );
                assert!(!t.explanation.contains("->"), "{}", t.explanation);
            }
            Tier::Bulk => match t.placement {
                Placement::VramMapped => {
                    assert_eq!((t.memory_type, t.heap), (3, 1), "{}", t.name);
                    assert_eq!(t.explanation, "bulk: vram-mapped type 3 heap 1");
                }
                Placement::Host => {
                    to_host += 1;
                    assert_eq!((t.memory_type, t.heap), (2, 0), "{}", t.name);
                    // Spilled only because heap 1 really had no room left for it.
                    assert!(t.bytes > plan.heaps[1].headroom, "{}", t.name);
                    assert!(
                        t.explanation
                            .starts_with("bulk: vram-mapped heap 1 full (needs "),
                        "{}",
                        t.explanation
                    );
                    assert!(
                        t.explanation.ends_with(" left) -> host type 2 heap 0"),
                        "{}",
                        t.explanation
                    );
                }
                other => panic!("{}: bulk in {other}", t.name),
            },
        }
    }
    assert!(to_host > 50, "only {to_host} tensors spilled to host");
    // Critical: the embedding, every norm, layers 0 and 61.
    for name in [
        "model.embed_tokens.weight",
        "model.norm.weight",
        "model.layers.30.input_layernorm.weight",
        "model.layers.0.mlp.up_proj.weight",
        "model.layers.61.self_attn.q_proj.weight",
    ] {
        assert_eq!(plan.tensor(name).unwrap().tier, Tier::Critical, "{name}");
    }
    assert_eq!(
        plan.tensor("model.layers.1.mlp.up_proj.weight")
            .unwrap()
            .tier,
        Tier::Bulk
    );
    assert_eq!(
        plan.tensor("model.layers.61.mlp.down_proj.weight")
            .unwrap()
            .explanation,
        "critical (default: last layer 61): vram type 0 heap 1"
    );
    // The whole model is placed, heap 1 nearly full.
    assert_eq!(plan.total_bytes(), total(&tensors));
    assert!(plan.heaps[1].headroom < 256 * MIB, "{:?}", plan.heaps[1]);
}

#[test]
fn apu_with_a_smaller_carve_out_spills_to_gtt_or_fails_naming_both_heaps() {
    let table = apu();

    // An 8B model (~15 GiB) on the APU with the carve-out capped at 8 GiB: the VRAM heap
    // holds 8 GiB less the margin, shared by vram and vram-mapped, and the rest goes to GTT.
    let tensors = model(&LLAMA_8B);
    let mut options = PlanOptions::default();
    options.caps.vram = Some(parse_bytes("8GiB").unwrap());
    let capped = planned(&tensors, &table, &options);
    let cap_budget = 8 * GIB - (8 * GIB * 5).div_ceil(100);
    assert_eq!(capped.heaps[1].budget, cap_budget);
    assert!(capped.heaps[1].planned_bytes <= cap_budget);
    assert!(
        capped.heaps[1].headroom < 512 * MIB,
        "the capped heap is filled before spilling: {:?}",
        capped.heaps[1]
    );
    assert_eq!(
        capped.heaps[0].planned_bytes,
        total(&tensors) - capped.heaps[1].planned_bytes
    );
    let spilled: Vec<_> = capped
        .tensors
        .iter()
        .filter(|t| t.placement == Placement::Host)
        .collect();
    assert!(!spilled.is_empty());
    for t in &spilled {
        assert_eq!((t.memory_type, t.heap), (2, 0), "{}", t.name);
        assert!(
            t.explanation.contains("heap 1 full (needs ")
                && t.explanation
                    .contains("left under the VRAM cap of 8.00 GiB) -> host type 2 heap 0"),
            "{}",
            t.explanation
        );
    }
    // Critical tensors came first and are all in VRAM.
    assert!(
        capped
            .tensors
            .iter()
            .filter(|t| t.tier == Tier::Critical)
            .all(|t| t.placement == Placement::Vram)
    );

    // The 27B model with a 16 GiB carve-out and this table's 18 GiB GTT: 15.2 + 17.1 GiB cannot
    // hold 50 GiB, so the plan fails, naming the tensor, the VRAM cap and the full GTT heap.
    let tensors = model(&GEMMA_27B);
    options.caps.vram = Some(16 * GIB);
    let err = plan(&tensors, &table, &options).unwrap_err();
    let PlanError::FitsNowhere {
        tensor,
        bytes,
        tier,
        attempts,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*tier, Tier::Bulk);
    assert!(
        tensors
            .iter()
            .any(|t| &t.name == tensor && t.bytes == *bytes)
    );
    assert_eq!(attempts.len(), 3);
    for (attempt, placement) in attempts[..2]
        .iter()
        .zip([Placement::VramMapped, Placement::Vram])
    {
        assert!(
            matches!(
                attempt,
                Attempt::Full { placement: p, heap: 1, limit: Limit::VramCap(c), .. }
                    if *p == placement && *c == 16 * GIB
            ),
            "{attempt:?}"
        );
    }
    assert!(matches!(
        attempts[2],
        Attempt::Full {
            placement: Placement::Host,
            heap: 0,
            limit: Limit::HeapBudget(_),
            ..
        }
    ));
    let message = err.to_string();
    assert!(
        message.contains("fits nowhere")
            && message.contains("vram-mapped heap 1 full")
            && message.contains("under the VRAM cap of 16.00 GiB"),
        "{message}"
    );
    assert!(message.contains("host heap 0 full"), "{message}");

    // A cap above the heap changes nothing.
    options.caps.vram = Some(64 * GIB);
    assert_eq!(
        planned(&tensors, &table, &options),
        planned(&tensors, &table, &PlanOptions::default())
    );
}

#[test]
fn h200_with_vram_capped_at_16_gib_puts_the_rest_on_the_host_heap() {
    // The target of a capped load on the H200: 16 GiB less the margin on heap 0, the rest of a
    // 27B-shaped bf16 model on heap 1 (pinned system memory), for the tiered policy.
    let table = h200();
    let tensors = model(&GEMMA_27B);
    let mut options = PlanOptions::default();
    options.caps.vram = Some(16 * GIB);
    let plan = planned(&tensors, &table, &options);
    let cap_budget = usable_cap(16 * GIB, &[&table.heaps[0]], 0.05);
    assert_eq!(cap_budget, 16 * GIB - (16 * GIB * 5).div_ceil(100));
    assert_eq!(plan.heaps[0].budget, cap_budget);
    assert!(plan.heaps[0].planned_bytes <= cap_budget);
    assert!(
        plan.heaps[0].headroom < 512 * MIB,
        "heap 0 is filled to the cap: {:?}",
        plan.heaps[0]
    );
    assert_eq!(
        plan.heaps[1].planned_bytes,
        total(&tensors) - plan.heaps[0].planned_bytes
    );
    assert!(plan.heaps[1].planned_bytes > 30 * GIB);
    for t in &plan.tensors {
        let expected = match t.placement {
            Placement::Vram => (1, 0),
            Placement::VramMapped => (4, 0),
            Placement::Host => (2, 1),
            other => panic!("{}: {other}", t.name),
        };
        assert_eq!((t.memory_type, t.heap), expected, "{}", t.name);
    }
    // The same cap through only=vram fails at the cap, naming it.
    let err = plan_only(&tensors, &table, "only=vram", options.caps);
    assert!(
        matches!(err, PlanError::DoesNotFit { limit: Limit::VramCap(c), heap: 0, .. } if c == 16 * GIB),
        "{err}"
    );
    assert!(
        err.to_string().contains("the VRAM cap of 16.00 GiB"),
        "{err}"
    );
}

fn plan_only(
    tensors: &[TensorSpec],
    table: &MemoryTable,
    policy: &str,
    caps: PlacementCaps,
) -> PlanError {
    let options = PlanOptions {
        caps,
        ..opts(policy)
    };
    plan(tensors, table, &options).unwrap_err()
}

#[test]
fn host_and_vram_mapped_caps() {
    // A host cap shrinks the system heap: the H200 with 16 GiB of VRAM and 20 GiB of pinned
    // memory cannot hold the 27B model.
    let table = h200();
    let tensors = model(&GEMMA_27B);
    let caps = PlacementCaps {
        vram: Some(16 * GIB),
        host: Some(20 * GIB),
        ..PlacementCaps::default()
    };
    let options = PlanOptions {
        caps,
        ..PlanOptions::default()
    };
    let err = plan(&tensors, &table, &options).unwrap_err();
    let PlanError::FitsNowhere { attempts, .. } = &err else {
        panic!("{err}")
    };
    assert!(matches!(
        attempts.last(),
        Some(Attempt::Full { placement: Placement::Host, heap: 1, limit: Limit::HostCap(c), .. }) if *c == 20 * GIB
    ));
    assert!(
        err.to_string()
            .contains("under the host-memory cap of 20.00 GiB"),
        "{err}"
    );

    // A vram-mapped cap of a BAR window's size on the H200: bulk tensors fill the window, then
    // go to vram on the same heap, as on a card without resizable BAR.
    let options = PlanOptions {
        caps: PlacementCaps {
            vram_mapped: Some(256 * MIB),
            ..PlacementCaps::default()
        },
        ..PlanOptions::default()
    };
    let llama = model(&LLAMA_8B);
    let plan = planned(&llama, &table, &options);
    assert!(plan.bytes_in(Placement::VramMapped) <= 256 * MIB);
    assert!(plan.bytes_in(Placement::VramMapped) > 0);
    let in_vram = plan
        .tensors
        .iter()
        .filter(|t| t.tier == Tier::Bulk && t.placement == Placement::Vram)
        .collect::<Vec<_>>();
    assert!(!in_vram.is_empty());
    assert!(
        in_vram[0]
            .explanation
            .starts_with("bulk: vram-mapped cap full (needs "),
        "{}",
        in_vram[0].explanation
    );
    assert_eq!(plan.heaps[1].planned_bytes, 0);
}

#[test]
fn only_vram_too_big_is_does_not_fit() {
    let table = apu();
    let tensors = model(&GEMMA_27B);
    let err = plan(&tensors, &table, &opts("only=vram")).unwrap_err();
    let PlanError::DoesNotFit {
        tensor,
        bytes,
        placement,
        memory_type,
        heap,
        free,
        limit,
        planned,
        tensors: count,
        total: all,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((*placement, *memory_type, *heap), (Placement::Vram, 0, 1));
    assert!(bytes > free);
    assert_eq!(
        *limit,
        Limit::HeapBudget(usable_budget(&table.heaps[1], 0.05))
    );
    assert_eq!(*free + *planned, usable_budget(&table.heaps[1], 0.05));
    assert_eq!(*count, tensors.len());
    assert_eq!(*all, total(&tensors));
    assert!(tensors.iter().any(|t| &t.name == tensor));
    let message = err.to_string();
    assert!(
        message.contains("only=vram") && message.contains("does not fit"),
        "{message}"
    );
    assert!(message.contains(tensor.as_str()), "{message}");

    // Same for host (18 GiB heap) and an explicit type.
    for policy in [
        "only=host",
        "only=vram-mapped",
        "only=type=4",
        "only=host-cached",
    ] {
        let err = plan(&tensors, &table, &opts(policy)).unwrap_err();
        assert!(
            matches!(err, PlanError::DoesNotFit { .. }),
            "{policy}: {err}"
        );
    }
    // A cap is a limit too.
    let mut options = opts("only=vram");
    options.caps.vram = Some(512 * MIB);
    let small = model(&Shape {
        layers: 2,
        vocab: 1000,
        ..LLAMA_8B
    });
    let err = plan(&small, &table, &options).unwrap_err();
    assert!(
        matches!(err, PlanError::DoesNotFit { limit: Limit::VramCap(c), .. } if c == 512 * MIB),
        "{err}"
    );
}

#[test]
fn h100_holds_the_27b_model_in_vram() {
    let table = h100();
    let tensors = model(&GEMMA_27B);
    let plan = planned(&tensors, &table, &PlanOptions::default());
    for t in &plan.tensors {
        assert_eq!(t.heap, 0, "{}", t.name);
        let expected = match t.tier {
            Tier::Critical => (Placement::Vram, 1),
            Tier::Bulk => (Placement::VramMapped, 4),
        };
        assert_eq!((t.placement, t.memory_type), expected, "{}", t.name);
    }
    assert_eq!(plan.heaps[0].planned_bytes, total(&tensors));
    assert_eq!(plan.heaps[1].planned_bytes, 0);
    // The recorded budget, not the size, is what the margin applies to.
    assert_eq!(plan.heaps[0].budget, usable_budget(&table.heaps[0], 0.05));
    assert!(plan.heaps[0].budget < table.heaps[0].budget.unwrap());

    let only = planned(&tensors, &table, &opts("only=vram"));
    assert!(only.tensors.iter().all(|t| t.memory_type == 1));
    assert_eq!(only.tensors[0].explanation, "only=vram: vram type 1 heap 0");
    let typed = planned(&tensors, &table, &opts("only=type=4"));
    assert!(
        typed
            .tensors
            .iter()
            .all(|t| t.memory_type == 4 && t.placement == Placement::Type(4))
    );
    assert_eq!(typed.tensors[0].explanation, "only=type=4: type 4 heap 0");
}

#[test]
fn lavapipe_skips_host() {
    let table = lavapipe();
    let small = model(&Shape {
        layers: 4,
        hidden: 256,
        intermediate: 1024,
        vocab: 4096,
        ..LLAMA_8B
    });
    let uncapped = planned(&small, &table, &PlanOptions::default());
    for t in &uncapped.tensors {
        assert_eq!((t.memory_type, t.heap), (0, 0), "{}", t.name);
    }

    // With a VRAM cap, the one heap is capped for both device-local placements; with nowhere
    // to spill (no host type), the first tensor over the cap fits nowhere.
    let mut options = PlanOptions::default();
    options.caps.vram = Some(1024);
    let err = plan(&small, &table, &options).unwrap_err();
    assert!(
        err.to_string().contains(
            "vram heap 0 full (needs 2.00 MiB, 972 B left under the VRAM cap of 1.00 KiB)"
        ),
        "{err}"
    );
    // With a vram-mapped cap, bulk tensors spill to vram: the same type on lavapipe.
    let mut options = PlanOptions::default();
    options.caps.vram_mapped = Some(1024);
    let capped = planned(&small, &table, &options);
    let bulk = capped.tensor("model.layers.1.mlp.up_proj.weight").unwrap();
    assert_eq!(bulk.placement, Placement::Vram);
    assert!(
        bulk.explanation.contains("vram-mapped cap full"),
        "{}",
        bulk.explanation
    );

    // Too big for the 2 GiB heap: host is skipped (not served), and the error says so.
    let big = model(&Shape {
        layers: 8,
        vocab: 4096,
        ..LLAMA_8B
    });
    let err = plan(&big, &table, &PlanOptions::default()).unwrap_err();
    let PlanError::FitsNowhere { attempts, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        attempts.last(),
        Some(&Attempt::Unavailable {
            placement: Placement::Host
        })
    );
    assert!(
        err.to_string().contains("host not served by this device"),
        "{err}"
    );

    // only=host cannot be served at all.
    let err = plan(&small, &table, &opts("only=host")).unwrap_err();
    assert!(
        matches!(err, PlanError::Placement(PolicyError::Unavailable { .. })),
        "{err}"
    );
}

#[test]
fn skipped_placements_are_explained() {
    // A device-local-only table (lavapipe) with a tiny VRAM cap, so that a critical tensor walks
    // the whole chain: vram and vram-mapped under the VRAM cap -> host not served.
    let table = lavapipe();
    let tensors = [TensorSpec::new(
        "model.embed_tokens.weight",
        "BF16",
        [1024, 64],
        128 * 1024,
    )];
    let mut options = PlanOptions::default();
    options.caps.vram = Some(100);
    let err = plan(&tensors, &table, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `model.embed_tokens.weight` (128.00 KiB, critical) fits nowhere on this device: \
         vram heap 0 full (needs 128.00 KiB, 95 B left under the VRAM cap of 100 B); \
         vram-mapped heap 0 full (needs 128.00 KiB, 95 B left under the VRAM cap of 100 B); \
         host not served by this device"
    );
}

#[test]
fn no_rebar_bulk_overflows_the_bar_window_to_vram_then_host() {
    let table = no_rebar();
    let tensors = model(&LLAMA_8B);
    let plan = planned(&tensors, &table, &PlanOptions::default());
    let bar_budget = usable_budget(&table.heaps[2], 0.05);
    assert_eq!(plan.heaps[2].budget, bar_budget);
    assert!(plan.heaps[2].planned_bytes > 0);
    for t in plan.tensors.iter().filter(|t| t.tier == Tier::Bulk) {
        match t.placement {
            Placement::VramMapped => assert_eq!((t.memory_type, t.heap), (2, 2)),
            Placement::Vram => assert_eq!((t.memory_type, t.heap), (1, 0)),
            Placement::Host => assert_eq!((t.memory_type, t.heap), (3, 1)),
            other => panic!("{}: {other}", t.name),
        }
    }
    // The 8 GiB VRAM heap is used before system memory.
    assert!(
        plan.heaps[0].planned_bytes > 6 * GIB,
        "{}",
        plan.heaps[0].planned_bytes
    );
    for t in plan.tensors.iter().filter(|t| t.tier == Tier::Critical) {
        assert_eq!(
            (t.placement, t.memory_type, t.heap),
            (Placement::Vram, 1, 0),
            "{}",
            t.name
        );
    }
    assert!(
        plan.tensor("lm_head.weight")
            .is_some_and(|t| t.tier == Tier::Critical)
    );
}

#[test]
fn user_rules_come_first() {
    let table = h100();
    let tensors = model(&LLAMA_8B);
    let options = PlanOptions {
        rules: vec![
            "*.layers.[0-3].*=critical".parse().unwrap(),
            "*embed*=bulk".parse().unwrap(),
        ],
        ..PlanOptions::default()
    };
    let plan = planned(&tensors, &table, &options);
    let t = plan.tensor("model.layers.3.mlp.up_proj.weight").unwrap();
    assert_eq!(t.tier, Tier::Critical);
    assert_eq!(
        t.explanation,
        "critical (rule *.layers.[0-3].*): vram type 1 heap 0"
    );
    let embed = plan.tensor("model.embed_tokens.weight").unwrap();
    assert_eq!(
        (embed.tier, embed.placement),
        (Tier::Bulk, Placement::VramMapped)
    );
    assert_eq!(
        embed.explanation,
        "bulk (rule *embed*): vram-mapped type 4 heap 0"
    );
    assert_eq!(
        plan.tensor("model.layers.4.mlp.up_proj.weight")
            .unwrap()
            .tier,
        Tier::Bulk
    );
    // The defaults still apply after the user's rules...
    assert_eq!(
        plan.tensor("model.layers.31.mlp.up_proj.weight")
            .unwrap()
            .tier,
        Tier::Critical
    );
    // ...unless switched off.
    let options = PlanOptions {
        default_rules: false,
        ..options
    };
    let plan = planned(&tensors, &table, &options);
    assert_eq!(
        plan.tensor("model.layers.31.mlp.up_proj.weight")
            .unwrap()
            .tier,
        Tier::Bulk
    );
    assert_eq!(plan.tensor("model.norm.weight").unwrap().tier, Tier::Bulk);
    assert_eq!(
        plan.tensor("model.layers.0.mlp.up_proj.weight")
            .unwrap()
            .tier,
        Tier::Critical
    );
}

#[test]
fn rule_and_policy_parsing_errors() {
    for (text, check) in [
        (
            "*embed*",
            (|e: &RuleError| matches!(e, RuleError::MissingTier { .. })) as fn(&RuleError) -> bool,
        ),
        ("=critical", |e| matches!(e, RuleError::EmptyPattern { .. })),
        ("*embed*=warm", |e| {
            matches!(e, RuleError::UnknownTier { .. })
        }),
        ("*layers.[0-3*=critical", |e| {
            matches!(e, RuleError::BadGlob { .. })
        }),
        ("model.{a,b=bulk", |e| {
            matches!(e, RuleError::BadGlob { .. })
        }),
    ] {
        let err = text.parse::<TierRule>().unwrap_err();
        assert!(check(&err), "{text}: {err:?}");
        assert!(err.to_string().contains(text.trim()), "{err}");
    }
    assert!("tiered".parse::<PlanPolicy>().is_ok());
    for bad in ["vram", "only=", "only=nowhere", "tiered=1"] {
        let err = bad.parse::<PlanPolicy>().unwrap_err();
        assert!(err.to_string().contains("only=PLACEMENT"), "{err}");
    }
}

#[test]
fn bad_options_and_inputs_are_typed_errors() {
    let table = h100();
    let tensors = model(&Shape {
        layers: 2,
        vocab: 1000,
        ..LLAMA_8B
    });
    for margin in [-0.1, 1.0, f64::NAN, f64::INFINITY] {
        let options = PlanOptions {
            safety_margin: margin,
            ..PlanOptions::default()
        };
        assert!(
            matches!(
                plan(&tensors, &table, &options),
                Err(PlanError::SafetyMargin(_))
            ),
            "{margin}"
        );
    }
    let mut dup = tensors.clone();
    dup.push(tensors[3].clone());
    assert_eq!(
        plan(&dup, &table, &PlanOptions::default()),
        Err(PlanError::DuplicateTensor(tensors[3].name.clone()))
    );
    let mut broken = table.clone();
    broken.types[0].heap = 9;
    assert!(matches!(
        plan(&tensors, &broken, &PlanOptions::default()),
        Err(PlanError::Table(_))
    ));
    // An empty model is a valid, empty plan.
    let empty = planned(&[], &table, &PlanOptions::default());
    assert!(empty.tensors.is_empty() && empty.heaps.iter().all(|h| h.planned_bytes == 0));
    // A safety margin of 0 allows the whole budget.
    let options = PlanOptions {
        safety_margin: 0.0,
        ..PlanOptions::default()
    };
    let exact = planned(&tensors, &table, &options);
    assert_eq!(exact.heaps[0].budget, table.heaps[0].budget.unwrap());
}

#[test]
fn plans_are_deterministic_and_report_as_json() {
    let table = apu();
    let tensors = model(&GEMMA_27B);
    let a = planned(&tensors, &table, &PlanOptions::default());
    let b = planned(&tensors, &table, &PlanOptions::default());
    assert_eq!(a, b);
    let report = a.to_report();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["tensors"].as_array().unwrap().len(), tensors.len());
    let first = &json["tensors"][0];
    assert_eq!(first["name"], "model.embed_tokens.weight");
    assert_eq!(first["placement"], "vram");
    assert_eq!(first["memory_type"], 0);
    assert_eq!(first["heap"], 1);
    assert_eq!(first["shape"], serde_json::json!([262_208, 5376]));
    assert!(first["verified"].is_null());
    assert_eq!(json["heaps"][1]["planned_bytes"], a.heaps[1].planned_bytes);
    assert!(
        json["heaps"][1]["usage_before"].is_null() && json["heaps"][1]["usage_after"].is_null()
    );
    assert!(json["seconds"].is_null() && json["gb_per_s"].is_null());
    let text = a.to_string();
    assert!(
        text.lines().count() > tensors.len(),
        "one line per tensor at least"
    );
    assert!(text.contains("headroom"));
}

#[test]
fn a_plan_of_1000_plus_tensors_is_fast() {
    let table = apu();
    let tensors = model(&Shape {
        layers: 100,
        ..GEMMA_27B
    });
    let tensors: Vec<TensorSpec> = tensors
        .into_iter()
        .map(|t| TensorSpec {
            bytes: t.bytes / 4,
            ..t
        })
        .collect();
    assert!(tensors.len() > 1000);
    let options = PlanOptions {
        rules: vec![
            "*.layers.[0-3].*=critical".parse().unwrap(),
            "*mlp*=bulk".parse().unwrap(),
        ],
        ..PlanOptions::default()
    };
    let start = Instant::now();
    let plan = plan(&tensors, &table, &options).unwrap();
    let elapsed = start.elapsed();
    println!("planned {} tensors in {elapsed:?}", plan.tensors.len());
    check_plan(&plan, &tensors, &table, &options);
    // Generous even for an unoptimised debug build: the planner is linear in tensors.
    assert!(elapsed.as_secs_f64() < 1.0, "{elapsed:?}");
}

// ---- properties over random tables and models ----

fn arb_table() -> impl Strategy<Value = MemoryTable> {
    (1usize..=6)
        .prop_flat_map(|heaps| {
            let heap = (
                1u64..=64 * GIB,
                any::<bool>(),
                prop::option::of(0u64..=64 * GIB),
            );
            let extra = prop::sample::select(vec![0u32, 0, 0, 0, 0x10, 0x20, 0x40]);
            let ty = (0..heaps as u32, 0u32..16, extra);
            (
                prop::collection::vec(heap, heaps),
                prop::collection::vec(ty, 0..=12),
            )
        })
        .prop_map(|(heaps, types)| MemoryTable {
            heaps: heaps
                .into_iter()
                .enumerate()
                .map(|(i, (size, local, budget))| MemoryHeap {
                    index: i as u32,
                    size,
                    flags: if local {
                        HeapFlags::DEVICE_LOCAL
                    } else {
                        HeapFlags::NONE
                    },
                    budget,
                    usage: None,
                })
                .collect(),
            types: types
                .into_iter()
                .enumerate()
                .map(|(i, (heap, flags, extra))| MemoryType {
                    index: i as u32,
                    heap,
                    flags: MemoryFlags::from_bits(flags | extra),
                })
                .collect(),
        })
}

fn arb_tensors() -> impl Strategy<Value = Vec<TensorSpec>> {
    let stems = prop::sample::select(vec![
        "model.embed_tokens",
        "model.layers.0.mlp",
        "model.layers.1.self_attn",
        "model.layers.7.mlp",
        "model.norm",
        "lm_head",
        "transformer.h.2.attn",
        "blocks.3.ffn",
        "vision.encoder",
    ]);
    let size = prop_oneof![0u64..=MIB, 0u64..=GIB, 0u64..=16 * GIB];
    prop::collection::vec((stems, size), 0..80).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (stem, bytes))| {
                TensorSpec::new(format!("{stem}.{i}.weight"), "U8", [bytes], bytes)
            })
            .collect()
    })
}

fn arb_options() -> impl Strategy<Value = PlanOptions> {
    let policy = prop_oneof![
        3 => Just(PlanPolicy::Tiered),
        1 => prop_oneof![
            Just(Placement::Vram),
            Just(Placement::VramMapped),
            Just(Placement::Host),
            Just(Placement::HostCached),
            Just(Placement::Auto(Usage::Weights)),
            (0u32..14).prop_map(Placement::Type),
        ]
        .prop_map(PlanPolicy::Only),
    ];
    let cap = prop::option::of(0u64..=32 * GIB);
    let rules = prop::sample::subsequence(
        vec![
            "*embed*=bulk",
            "*.layers.[0-3].*=critical",
            "*mlp*=bulk",
            "*h.?.*=critical",
            "*=critical",
        ],
        0..=3,
    );
    (
        policy,
        cap.clone(),
        cap.clone(),
        cap,
        rules,
        any::<bool>(),
        0.0f64..0.5,
    )
        .prop_map(
            |(policy, vram, vram_mapped, host, rules, default_rules, safety_margin)| PlanOptions {
                policy,
                rules: rules.into_iter().map(|r| r.parse().unwrap()).collect(),
                default_rules,
                caps: PlacementCaps {
                    vram,
                    vram_mapped,
                    host,
                },
                safety_margin,
            },
        )
}

proptest! {
    // Failures print their minimal input; there is no lib.rs beside tests/ to persist them by.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn plans_respect_budgets_and_caps_or_fail_with_a_typed_error(
        table in arb_table(),
        tensors in arb_tensors(),
        options in arb_options(),
    ) {
        let result = plan(&tensors, &table, &options);
        prop_assert_eq!(&result, &plan(&tensors, &table, &options), "not deterministic");
        match result {
            Ok(plan) => check_plan(&plan, &tensors, &table, &options),
            Err(PlanError::DoesNotFit { tensor, bytes, free, placement, .. }) => {
                prop_assert_eq!(options.policy, PlanPolicy::Only(placement));
                prop_assert!(bytes > free);
                prop_assert!(tensors.iter().any(|t| t.name == tensor && t.bytes == bytes));
            }
            Err(PlanError::Placement(PolicyError::Unavailable { placement, .. })) => {
                prop_assert_eq!(options.policy, PlanPolicy::Only(placement));
                prop_assert!(choose_memory_type(&table, placement, u32::MAX).is_err());
            }
            Err(PlanError::FitsNowhere { tensor, bytes, tier, attempts }) => {
                prop_assert_eq!(options.policy, PlanPolicy::Tiered);
                prop_assert!(tensors.iter().any(|t| t.name == tensor && t.bytes == bytes));
                prop_assert_eq!(attempts.len(), tier.chain().len());
                for (attempt, &p) in attempts.iter().zip(tier.chain()) {
                    match attempt {
                        Attempt::Unavailable { placement } => {
                            prop_assert_eq!(*placement, p);
                            prop_assert!(choose_memory_type(&table, p, u32::MAX).is_err());
                        }
                        Attempt::Full { placement, needed, free, .. } => {
                            prop_assert_eq!(*placement, p);
                            prop_assert_eq!(*needed, bytes);
                            prop_assert!(needed > free);
                        }
                    }
                }
            }
            Err(other) => prop_assert!(false, "unexpected error: {other}"),
        }
    }
}
