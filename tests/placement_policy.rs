//! The placement policy against every recorded device table, plus property tests over random
//! tables. No GPU needed.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use strata::placement::{PolicyError, UNUSABLE, choose_for_size, choose_memory_type};
use strata::table::{HeapFlags, MemoryFlags, MemoryHeap, MemoryTable, MemoryType};
use strata::{Placement, Usage};

const GIB: u64 = 1 << 30;

fn devices_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/devices")
}

fn load(file: &str) -> MemoryTable {
    let path = devices_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    MemoryTable::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Expected memory type (or `None` for a typed error) per placement, per recorded table.
/// `type=N` for every N of the table is checked separately.
/// Placement name → expected memory type, `None` for the typed error.
type Cases = &'static [(&'static str, Option<u32>)];

const EXPECTED: &[(&str, Cases)] = &[
    (
        "nvidia-h100-vulkan.json",
        &[
            ("vram", Some(1)),
            ("vram-mapped", Some(4)),
            ("host", Some(2)),
            ("gtt", Some(2)),
            ("host-cached", Some(3)),
            ("auto", Some(1)),
            ("auto:staging", Some(2)),
            ("auto:readback", Some(3)),
        ],
    ),
    (
        "nvidia-h200-vulkan.json",
        &[
            ("vram", Some(1)),
            ("vram-mapped", Some(4)),
            ("host", Some(2)),
            ("gtt", Some(2)),
            ("host-cached", Some(3)),
            ("auto", Some(1)),
            ("auto:staging", Some(2)),
            ("auto:readback", Some(3)),
        ],
    ),
    (
        "amd-apu-radv.json",
        &[
            ("vram", Some(0)),
            ("vram-mapped", Some(3)),
            ("host", Some(2)),
            ("gtt", Some(2)),
            ("host-cached", Some(5)),
            ("auto", Some(0)),
            ("auto:staging", Some(2)),
            ("auto:readback", Some(5)),
        ],
    ),
    (
        "lavapipe-mesa-22.3.6.json",
        &[
            ("vram", Some(0)),
            ("vram-mapped", Some(0)),
            ("host", None),
            ("gtt", None),
            ("host-cached", None),
            ("auto", Some(0)),
            ("auto:staging", Some(0)),
            ("auto:readback", Some(0)),
        ],
    ),
    (
        // Mesa ANV without LLC: one device-local heap; type 0 is cached but not coherent.
        "intel-anv-no-llc.json",
        &[
            ("vram", Some(0)),
            ("vram-mapped", Some(1)),
            ("host", None),
            ("gtt", None),
            ("host-cached", None),
            ("auto", Some(0)),
            ("auto:staging", Some(1)),
            ("auto:readback", Some(0)),
        ],
    ),
    (
        "nvidia-consumer-no-rebar.json",
        &[
            ("vram", Some(1)),
            ("vram-mapped", Some(2)),
            ("host", Some(3)),
            ("gtt", Some(3)),
            ("host-cached", Some(4)),
            ("auto", Some(1)),
            ("auto:staging", Some(3)),
            ("auto:readback", Some(4)),
        ],
    ),
];

#[test]
fn every_recorded_table_has_expectations() {
    let mut files: Vec<String> = std::fs::read_dir(devices_dir())
        .expect("tests/devices exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    let mut expected: Vec<&str> = EXPECTED.iter().map(|(f, _)| *f).collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "a table in tests/devices has no expectations here (or one went missing)"
    );
}

#[test]
fn named_placements_on_every_recorded_table() {
    for (file, cases) in EXPECTED {
        let table = load(file);
        for &(name, want) in *cases {
            let placement: Placement = name.parse().unwrap();
            let got = choose_memory_type(&table, placement, u32::MAX);
            match (want, &got) {
                (Some(ty), Ok(choice)) => {
                    assert_eq!(choice.memory_type, ty, "{file}: {name}");
                    assert_eq!(choice.placement, placement, "{file}: {name}");
                    assert_eq!(choice.heap, table.types[ty as usize].heap, "{file}: {name}");
                    assert_eq!(
                        choice.flags, table.types[ty as usize].flags,
                        "{file}: {name}"
                    );
                }
                (
                    None,
                    Err(PolicyError::Unavailable {
                        placement: p,
                        reason,
                        table: shown,
                    }),
                ) => {
                    assert_eq!(*p, placement);
                    assert!(!reason.is_empty());
                    // The error shows the device's table.
                    assert!(
                        shown.contains("heap 0:") && shown.contains("type 0:"),
                        "{shown}"
                    );
                    let message = got.as_ref().unwrap_err().to_string();
                    assert!(
                        message.contains(name) || message.contains("host"),
                        "{message}"
                    );
                }
                _ => panic!("{file}: {name}: expected {want:?}, got {got:?}"),
            }
        }
    }
}

#[test]
fn type_n_on_every_recorded_table() {
    for (file, _) in EXPECTED {
        let table = load(file);
        for ty in &table.types {
            let choice = choose_memory_type(&table, Placement::Type(ty.index), u32::MAX)
                .unwrap_or_else(|e| panic!("{file}: type={}: {e}", ty.index));
            assert_eq!(choice.memory_type, ty.index);
            assert_eq!(choice.heap, ty.heap);
        }
        for missing in [table.types.len() as u32, 31] {
            let err = choose_memory_type(&table, Placement::Type(missing), u32::MAX).unwrap_err();
            assert!(
                matches!(err, PolicyError::Unavailable { placement: Placement::Type(n), .. } if n == missing),
                "{file}: {err}"
            );
            assert!(err.to_string().contains("does not exist"), "{err}");
        }
    }
}

#[test]
fn tie_breaks() {
    // APU: types 0 and 1 are both plain DEVICE_LOCAL on heap 1: the lower index wins.
    let apu = load("amd-apu-radv.json");
    assert_eq!(
        choose_memory_type(&apu, Placement::Vram, u32::MAX)
            .unwrap()
            .memory_type,
        0
    );
    // H100: type 4 is DEVICE_LOCAL too, but HOST_VISIBLE is avoided for vram.
    let h100 = load("nvidia-h100-vulkan.json");
    assert_eq!(
        choose_memory_type(&h100, Placement::Vram, u32::MAX)
            .unwrap()
            .memory_type,
        1
    );
    // host avoids HOST_CACHED: 2 rather than 3 (H100), 2 rather than 5/6 (APU).
    assert_eq!(
        choose_memory_type(&h100, Placement::Host, u32::MAX)
            .unwrap()
            .memory_type,
        2
    );
    assert_eq!(
        choose_memory_type(&apu, Placement::Host, u32::MAX)
            .unwrap()
            .memory_type,
        2
    );
    // lavapipe: the only type is DEVICE_LOCAL, which host forbids.
    let lavapipe = load("lavapipe-mesa-22.3.6.json");
    let err = choose_memory_type(&lavapipe, Placement::Host, u32::MAX).unwrap_err();
    assert!(matches!(err, PolicyError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("DEVICE_LOCAL"), "{err}");
}

#[test]
fn memory_type_bits_narrow_the_choice() {
    let h100 = load("nvidia-h100-vulkan.json");
    let apu = load("amd-apu-radv.json");
    let pick = |table: &MemoryTable, p: Placement, bits: u32| {
        choose_memory_type(table, p, bits).map(|c| c.memory_type)
    };
    // Without type 1, vram falls back to the other device-local type (an avoided flag beats none).
    assert_eq!(pick(&h100, Placement::Vram, !(1 << 1)), Ok(4));
    assert_eq!(pick(&apu, Placement::Vram, !(1 << 0)), Ok(1));
    // Only a cached type allowed: host takes it (avoided, not forbidden).
    assert_eq!(pick(&apu, Placement::Host, 1 << 5), Ok(5));
    // No device-local type allowed: vram is a typed error that names memoryTypeBits.
    let err = choose_memory_type(&h100, Placement::Vram, 0b101).unwrap_err();
    assert!(err.to_string().contains("memoryTypeBits"), "{err}");
    // type=N outside the bits.
    let err = choose_memory_type(&h100, Placement::Type(1), !(1 << 1)).unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
    // No bits at all: nothing is served.
    for p in Placement::NAMED {
        assert!(choose_memory_type(&h100, p, 0).is_err(), "{p}");
    }
}

#[test]
fn requests_larger_than_a_heap_are_too_large() {
    let no_rebar = load("nvidia-consumer-no-rebar.json");
    let err = choose_for_size(&no_rebar, Placement::VramMapped, u32::MAX, GIB).unwrap_err();
    assert_eq!(
        err,
        PolicyError::TooLarge {
            placement: Placement::VramMapped,
            bytes: GIB,
            memory_type: 2,
            heap: 2,
            heap_size: 257_949_696,
        }
    );
    assert!(err.to_string().contains("too large"), "{err}");
    // 200 MiB fits the BAR window; 1 GiB fits plain vram.
    assert_eq!(
        choose_for_size(&no_rebar, Placement::VramMapped, u32::MAX, 200 << 20)
            .map(|c| c.memory_type),
        Ok(2)
    );
    assert_eq!(
        choose_for_size(&no_rebar, Placement::Vram, u32::MAX, GIB).map(|c| c.memory_type),
        Ok(1)
    );
    let h100 = load("nvidia-h100-vulkan.json");
    let err = choose_for_size(&h100, Placement::Vram, u32::MAX, 100 * GIB).unwrap_err();
    assert!(
        matches!(err, PolicyError::TooLarge { heap: 0, .. }),
        "{err}"
    );
    // Exactly the heap's size is not too large.
    let size = h100.heaps[0].size;
    assert!(choose_for_size(&h100, Placement::Vram, u32::MAX, size).is_ok());
}

// ---- properties over random tables ----

fn arb_table() -> impl Strategy<Value = MemoryTable> {
    (1usize..=16)
        .prop_flat_map(|heaps| {
            let heap = (
                1u64..=1 << 40,
                any::<bool>(),
                prop::option::of(0u64..=1 << 40),
            );
            // Mostly the four common flags, sometimes an unusual one (protected, lazily
            // allocated, AMD device-coherent/uncached, RDMA).
            let extra = prop::sample::select(vec![0u32, 0, 0, 0, 0x10, 0x20, 0x40, 0x80, 0x100]);
            let ty = (0..heaps as u32, 0u32..16, extra);
            (
                prop::collection::vec(heap, heaps),
                prop::collection::vec(ty, 0..=32),
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

fn arb_placement() -> impl Strategy<Value = Placement> {
    prop_oneof![
        Just(Placement::Vram),
        Just(Placement::VramMapped),
        Just(Placement::Host),
        Just(Placement::HostCached),
        Just(Placement::Auto(Usage::Weights)),
        Just(Placement::Auto(Usage::Staging)),
        Just(Placement::Auto(Usage::Readback)),
        (0u32..32).prop_map(Placement::Type),
    ]
}

fn arb_bits() -> impl Strategy<Value = u32> {
    prop_oneof![Just(u32::MAX), Just(0u32), any::<u32>()]
}

/// Does `ty` satisfy `placement` (ignoring memoryTypeBits)?
fn passes(placement: Placement, ty: &MemoryType) -> bool {
    match placement.rule() {
        Some(rule) => ty.flags.contains(rule.required) && !ty.flags.intersects(rule.forbidden),
        None => !ty.flags.intersects(UNUSABLE),
    }
}

fn in_bits(bits: u32, index: u32) -> bool {
    index < 32 && bits & (1 << index) != 0
}

proptest! {
    // Failures print their minimal input; there is no lib.rs beside tests/ to persist them by.
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_request_gives_a_valid_type_or_the_typed_error(
        table in arb_table(),
        placement in arb_placement(),
        bits in arb_bits(),
    ) {
        prop_assert!(table.validate().is_ok());
        let candidates: Vec<&MemoryType> = table
            .types
            .iter()
            .filter(|ty| in_bits(bits, ty.index))
            .filter(|ty| match placement {
                Placement::Type(n) => ty.index == n,
                _ => true,
            })
            .filter(|ty| passes(placement, ty))
            .collect();
        match choose_memory_type(&table, placement, bits) {
            Ok(choice) => {
                let ty = table.types.get(choice.memory_type as usize);
                prop_assert!(ty.is_some());
                let ty = ty.unwrap();
                prop_assert!(in_bits(bits, ty.index), "type {} not in bits {bits:b}", ty.index);
                prop_assert!(passes(placement, ty), "type {} fails {placement}", ty.index);
                prop_assert_eq!(choice.heap, ty.heap);
                prop_assert_eq!(choice.flags, ty.flags);
                prop_assert_eq!(choice.placement, placement);
                if let Placement::Type(n) = placement {
                    prop_assert_eq!(choice.memory_type, n);
                }
                if let Some(rule) = placement.rule() {
                    // Tie-break rule 1: no passing type has fewer avoided flags.
                    let avoided = |t: &MemoryType| t.flags.intersection(rule.avoided).count();
                    let best = candidates.iter().map(|t| avoided(t)).min();
                    prop_assert_eq!(Some(avoided(ty)), best);
                }
                // Deterministic.
                prop_assert_eq!(choose_memory_type(&table, placement, bits), Ok(choice));
            }
            Err(PolicyError::Unavailable { placement: p, .. }) => {
                prop_assert_eq!(p, placement);
                prop_assert!(candidates.is_empty(), "error although {} type(s) pass", candidates.len());
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn sized_requests_are_too_large_only_beyond_the_heap(
        table in arb_table(),
        placement in arb_placement(),
        bits in arb_bits(),
        bytes in prop_oneof![0u64..=1 << 41, Just(u64::MAX)],
    ) {
        match (choose_memory_type(&table, placement, bits), choose_for_size(&table, placement, bits, bytes)) {
            (Ok(choice), Ok(sized)) => {
                prop_assert_eq!(choice, sized);
                prop_assert!(bytes <= table.heaps[choice.heap as usize].size);
            }
            (Ok(choice), Err(PolicyError::TooLarge { memory_type, heap, heap_size, bytes: b, .. })) => {
                prop_assert_eq!(memory_type, choice.memory_type);
                prop_assert_eq!(heap, choice.heap);
                prop_assert_eq!(heap_size, table.heaps[heap as usize].size);
                prop_assert_eq!(b, bytes);
                prop_assert!(bytes > heap_size);
            }
            (Err(e1), Err(e2)) => prop_assert_eq!(e1, e2),
            (a, b) => prop_assert!(false, "{a:?} vs {b:?}"),
        }
    }
}
