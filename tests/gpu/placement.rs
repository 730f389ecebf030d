//! The placement engine on the adapter at hand (lavapipe in CI: one memory type with every
//! host flag, no budget extension).

use crate::harness::{fresh_seed, gpu, gpu_alone};
use strata::placement::{PolicyError, UploadPath, Verification};
use strata::{Error, HostMemory, MatmulShape, PlaceOptions, Placement};

fn is_cpu_driver(ctx: &strata::Context) -> bool {
    ctx.adapter_info().device_type == wgpu::DeviceType::Cpu
}

#[test]
fn placed_buffers_round_trip_and_compute() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("placed_buffers_round_trip_and_compute");
    let (m, k, n) = (37usize, 29usize, 11usize);
    let a = strata::reference::random_f32(m * k, seed);
    let b = strata::reference::random_f32(k * n, seed + 1);
    let reference = strata::reference::matmul(&a, &b, m, n, k);
    let table = ctx.vulkan("test").expect("a Vulkan adapter").memory_table();
    let mut placements = vec![Placement::Vram, Placement::VramMapped, Placement::Type(0)];
    placements.retain(|p| strata::placement::choose_memory_type(&table, *p, u32::MAX).is_ok());
    assert!(!placements.is_empty());
    for placement in placements {
        let a_buf = ctx.place((a.len() * 4) as u64, placement).expect("place A");
        let b_buf = ctx.place((b.len() * 4) as u64, placement).expect("place B");
        let c_buf = ctx.place((m * n * 4) as u64, placement).expect("place C");
        ctx.write_placed(&a_buf, 0, bytemuck::cast_slice(&a))
            .unwrap();
        ctx.write_placed(&b_buf, 0, bytemuck::cast_slice(&b))
            .unwrap();
        ctx.write_placed(&c_buf, 0, bytemuck::cast_slice(&vec![f32::NAN; m * n]))
            .unwrap();
        assert_eq!(
            ctx.read_placed(&a_buf, 0, a_buf.bytes()).unwrap(),
            bytemuck::cast_slice::<f32, u8>(&a)
        );
        let shape = MatmulShape {
            m: m as u32,
            n: n as u32,
            k: k as u32,
        };
        ctx.matmul(a_buf.buffer(), b_buf.buffer(), c_buf.buffer(), shape)
            .unwrap();
        let c: Vec<f32> =
            bytemuck::pod_collect_to_vec(&ctx.read_placed(&c_buf, 0, c_buf.bytes()).unwrap());
        let cmp = strata::reference::compare(&c, &reference);
        assert!(
            cmp.passes(strata::reference::KERNEL_TOLERANCE),
            "{placement}: {cmp:?}"
        );
        let info = a_buf.info();
        assert_eq!(info.placement, placement);
        assert_eq!(info.memory_type, a_buf.memory_type());
        assert!(
            info.exact && a_buf.is_exact(),
            "placements on Vulkan are exact"
        );
    }
}

#[test]
fn imported_host_pages_hold_a_kernels_inputs_and_output() {
    let Some(ctx) = gpu() else { return };
    let seed = fresh_seed("imported_host_pages_hold_a_kernels_inputs_and_output");
    // Over 32 MiB and an odd number of rows: the pages' length is rounded up past the buffer.
    let (m, k, n) = (2053usize, 4099usize, 3usize);
    let a = strata::reference::random_f32(m * k, seed);
    let b = strata::reference::random_f32(k * n, seed + 1);
    let reference = strata::reference::matmul(&a, &b, m, n, k);
    let placements = served(&ctx);
    // The staging ring lives as long as the context: create it before counting.
    let warm = ctx.place(4, placements[0]).unwrap();
    ctx.write_placed_with(&warm, 0, &[0; 4], UploadPath::Staging)
        .unwrap();
    drop(warm);
    ctx.wait_idle().unwrap();
    let live = ctx.live_allocations();
    let mut ran = 0;
    for placement in placements {
        let options = PlaceOptions {
            host_memory: HostMemory::Imported,
            ..PlaceOptions::new(placement)
        };
        let place = |bytes: usize| ctx.place_with(bytes as u64, &options).unwrap().0;
        let (a_buf, b_buf, c_buf) = (place(a.len() * 4), place(b.len() * 4), place(m * n * 4));
        if !a_buf.info().host_imported {
            continue;
        }
        assert!(b_buf.info().host_imported && c_buf.info().host_imported);
        ctx.write_placed(&a_buf, 0, bytemuck::cast_slice(&a))
            .unwrap();
        ctx.write_placed_with(&b_buf, 0, bytemuck::cast_slice(&b), UploadPath::Staging)
            .unwrap();
        ctx.write_placed(&c_buf, 0, bytemuck::cast_slice(&vec![f32::NAN; m * n]))
            .unwrap();
        let shape = MatmulShape {
            m: m as u32,
            n: n as u32,
            k: k as u32,
        };
        ctx.matmul(a_buf.buffer(), b_buf.buffer(), c_buf.buffer(), shape)
            .unwrap();
        let c: Vec<f32> =
            bytemuck::pod_collect_to_vec(&ctx.read_placed(&c_buf, 0, c_buf.bytes()).unwrap());
        let cmp = strata::reference::compare(&c, &reference);
        assert!(
            cmp.passes(strata::reference::KERNEL_TOLERANCE),
            "{placement}: {cmp:?}"
        );
        assert_eq!(
            ctx.read_placed(&a_buf, 4096, 4096).unwrap(),
            bytemuck::cast_slice::<f32, u8>(&a)[4096..8192]
        );
        ran += 1;
    }
    ctx.wait_idle().unwrap();
    assert_eq!(
        ctx.live_allocations(),
        live,
        "the imported buffers were freed"
    );
    if ctx.placement_support().host_import {
        assert!(
            ran > 0,
            "the device imports host pages, yet no placement took them"
        );
    } else {
        eprintln!(
            "\n!!!!!!!! this device cannot import host pages: imported pages NOT CHECKED !!!!!!!!\n"
        );
    }
}

#[test]
fn unavailable_placements_are_typed_errors() {
    let Some(ctx) = gpu() else { return };
    if !is_cpu_driver(&ctx) {
        eprintln!(
            "lavapipe-specific expectations skipped on {}",
            ctx.adapter_info().name
        );
        return;
    }
    for placement in [
        Placement::Host,
        Placement::HostCached,
        Placement::Type(1),
        Placement::Type(31),
    ] {
        match ctx.place(4096, placement) {
            Err(Error::Placement(PolicyError::Unavailable { table, .. })) => {
                assert!(
                    table.contains("type 0"),
                    "the error lists the table: {table}"
                );
            }
            other => panic!("{placement}: expected a typed error, got {other:?}"),
        }
    }
    // An explicit fallback chain serves, and says what it skipped.
    let options = PlaceOptions {
        fallback: vec![Placement::Vram],
        ..PlaceOptions::new(Placement::Host)
    };
    let (buffer, skipped) = ctx.place_with(4096, &options).unwrap();
    assert_eq!(buffer.placement(), Placement::Vram);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].placement, Placement::Host);
}

#[test]
fn bad_sizes_are_typed_errors() {
    let Some(ctx) = gpu() else { return };
    assert!(matches!(
        ctx.place(0, Placement::Vram),
        Err(Error::InvalidArgument(_))
    ));
    let table = ctx.vulkan("test").unwrap().memory_table();
    let biggest_heap = table.heaps.iter().map(|h| h.size).max().unwrap();
    match ctx.place(biggest_heap + (1 << 30), Placement::Vram) {
        Err(Error::Placement(PolicyError::TooLarge { .. })) => {}
        other => panic!("over the heap: expected TooLarge, got {other:?}"),
    }
    let max_alloc = ctx.vulkan("test").unwrap().limits().max_allocation_size;
    let vram_heap = strata::placement::choose_memory_type(&table, Placement::Vram, u32::MAX)
        .unwrap()
        .heap;
    if max_alloc < table.heaps[vram_heap as usize].size {
        match ctx.place(max_alloc + 4096, Placement::Vram) {
            Err(Error::TooLarge { limit_name, .. }) => {
                assert_eq!(limit_name, "maxMemoryAllocationSize")
            }
            other => panic!("over one allocation: expected TooLarge, got {other:?}"),
        }
    }
    let buf = ctx.place(1024, Placement::Vram).unwrap();
    assert!(
        ctx.write_placed(&buf, 1020, &[0u8; 8]).is_err(),
        "write past the end"
    );
    assert!(
        ctx.write_placed(&buf, 2, &[0u8; 4]).is_err(),
        "unaligned offset"
    );
    assert!(ctx.read_placed(&buf, 0, 2048).is_err(), "read past the end");
}

#[test]
fn allocate_and_free_in_a_loop_returns_memory() {
    // Heap usage, its witness, is process-wide: no other test at the same time.
    let Some(ctx) = gpu_alone() else { return };
    let heap_usage = |ctx: &strata::Context| {
        ctx.vulkan("test")
            .unwrap()
            .memory_table()
            .heaps
            .iter()
            .map(|h| h.usage)
            .collect::<Vec<_>>()
    };
    // Warm up the staging ring and allocator blocks first.
    let warm = ctx.place(8 << 20, Placement::Vram).unwrap();
    ctx.write_placed(&warm, 0, &vec![1u8; 8 << 20]).unwrap();
    drop(warm);
    ctx.wait_idle().unwrap();
    let usage_before = heap_usage(&ctx);
    let live_before = ctx.live_allocations();
    for i in 0..200u64 {
        let size = [4096, 1 << 20, 8 << 20, 40 << 20][(i % 4) as usize];
        let buf = ctx.place(size, Placement::Vram).unwrap();
        ctx.write_placed(&buf, 0, &vec![(i % 251) as u8; size as usize])
            .unwrap();
        drop(buf);
        if i % 16 == 0 {
            ctx.wait_idle().unwrap();
        }
    }
    ctx.wait_idle().unwrap();
    // Heap usage is process-wide: tests running beside this one move it, so only a growth
    // beyond what this loop placed at once would point at a leak here. (The soak binary checks
    // exact heap usage in a process of its own.)
    for (before, after) in usage_before.iter().zip(heap_usage(&ctx)) {
        if let (Some(before), Some(after)) = (before, after) {
            assert!(
                after <= before + (256 << 20),
                "heap usage grew from {before} to {after}"
            );
        }
    }
    assert_eq!(
        ctx.live_allocations(),
        live_before,
        "every placed buffer was freed"
    );
}

#[test]
fn tensors_over_the_binding_limit_are_split_and_compute() {
    let Some(ctx) = gpu() else { return };
    let limit = ctx.part_limit();
    // ~300 MiB on lavapipe (128 MiB bindings); capped for big GPUs to keep the test quick.
    let cols = 1000usize;
    let rows = ((limit.bytes * 2 + limit.bytes / 2) / (cols as u64 * 4)).min(80_000) as usize;
    let row_bytes = (cols * 4) as u64;
    let seed = fresh_seed("tensors_over_the_binding_limit_are_split_and_compute");
    let weights = strata::reference::random_f32(rows * cols, seed);
    let (tensor, _) = ctx
        .place_tensor(
            (rows * cols * 4) as u64,
            row_bytes,
            &PlaceOptions::new(Placement::Vram),
        )
        .unwrap();
    if limit.bytes < (rows * cols * 4) as u64 {
        assert!(
            tensor.parts().len() >= 2,
            "expected a split, got {} part(s)",
            tensor.parts().len()
        );
    }
    assert!(
        tensor
            .parts()
            .iter()
            .all(|p| p.bytes() <= limit.bytes && p.bytes() % row_bytes == 0)
    );
    ctx.write_tensor(&tensor, bytemuck::cast_slice(&weights))
        .unwrap();
    assert_eq!(
        ctx.read_tensor(&tensor).unwrap(),
        bytemuck::cast_slice::<f32, u8>(&weights)
    );

    // y = W·x part by part with the matmul kernel (n = 1), checked against the CPU.
    let x = strata::reference::random_f32(cols, seed + 1);
    let x_buf = ctx.upload(&x).unwrap();
    let mut first_row = 0usize;
    for part in tensor.parts() {
        let part_rows = (part.bytes() / row_bytes) as usize;
        let y_buf = ctx.upload(&vec![f32::NAN; part_rows]).unwrap();
        let shape = MatmulShape {
            m: part_rows as u32,
            n: 1,
            k: cols as u32,
        };
        ctx.matmul(part.buffer(), &x_buf, &y_buf, shape).unwrap();
        let y = ctx.read_back::<f32>(&y_buf, part_rows).unwrap();
        let w = &weights[first_row * cols..(first_row + part_rows) * cols];
        let reference = strata::reference::matmul(w, &x, part_rows, 1, cols);
        let cmp = strata::reference::compare(&y, &reference);
        assert!(
            cmp.passes(strata::reference::KERNEL_TOLERANCE),
            "rows {first_row}..: {cmp:?}"
        );
        first_row += part_rows;
    }
    assert_eq!(first_row, rows);
}

#[test]
fn proof_of_placement_never_claims_without_a_witness() {
    // Heap usage is process-wide: the test runs alone, so that the only allocation between the
    // two snapshots is its own (tests running beside it made the witness fail).
    let Some(ctx) = gpu_alone() else { return };
    let proved = ctx
        .place_proved(64 << 20, &PlaceOptions::new(Placement::Vram))
        .unwrap();
    let (before, verdict, buf) = (&proved.before, &proved.verification, &proved.buffer);
    assert!(buf.info().dedicated, "64 MiB is a dedicated allocation");
    if before.heap_usage.is_none() && before.amdgpu.is_none() {
        assert!(
            matches!(verdict, Verification::Unverifiable { .. }),
            "{verdict:?}"
        );
    } else {
        assert!(
            matches!(verdict, Verification::Verified { .. }),
            "{verdict:?}"
        );
    }
    assert!(matches!(
        buf.upload_path(),
        UploadPath::Mapped | UploadPath::Staging
    ));
}

/// The placements this device serves for placed buffers, each named once (`auto` included).
fn served(ctx: &strata::Context) -> Vec<Placement> {
    let vk = ctx.vulkan("test").expect("a Vulkan adapter");
    let table = vk.memory_table();
    let mut all = Placement::NAMED.to_vec();
    all.push(Placement::Auto(strata::Usage::Weights));
    all.extend((0..table.types.len() as u32).map(Placement::Type));
    all.retain(|&p| {
        strata::placement::choose_memory_type(&table, p, vk.storage_type_bits()).is_ok()
    });
    all
}

/// Bytes that depend on `seed`.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// What a kernel given a destroyed buffer may return: a typed error, never a result.
fn is_typed_refusal(result: &Result<strata::Timing, Error>) -> bool {
    matches!(result, Err(Error::Gpu { .. } | Error::Destroyed { .. }))
}

#[test]
fn destroyed_buffers_give_typed_errors_on_every_placement_and_path() {
    let Some(ctx) = gpu() else { return };
    let placements = served(&ctx);
    assert!(!placements.is_empty());
    let shape = MatmulShape {
        m: 16,
        n: 16,
        k: 16,
    };
    let a = ctx.upload(&[1.0f32; 256]).unwrap();
    let b = ctx.upload(&[2.0f32; 256]).unwrap();
    let c = ctx.upload(&[0.0f32; 256]).unwrap();
    // The staging rings live as long as the context: create them before counting.
    let warm = ctx.place(4, placements[0]).unwrap();
    ctx.write_placed_with(&warm, 0, &[0; 4], UploadPath::Staging)
        .unwrap();
    drop(warm);
    ctx.wait_idle().unwrap();
    let start = ctx.live_allocations();
    let mut checked = 0;
    let mut imported = 0;
    // 1 MiB is sub-allocated from a shared block (with a neighbour placed right after it);
    // 64 MiB gets memory of its own.
    // Host-visible placements are checked on the driver's pages and on imported ones.
    let cases = [1u64 << 20, 64 << 20].into_iter().flat_map(|size| {
        placements.iter().flat_map(move |&placement| {
            [HostMemory::Driver, HostMemory::Imported]
                .into_iter()
                .map(move |host_memory| (size, placement, host_memory))
        })
    });
    for (size, placement, host_memory) in cases {
        for path in [UploadPath::Mapped, UploadPath::Staging] {
            let options = PlaceOptions {
                host_memory,
                ..PlaceOptions::new(placement)
            };
            let victim = ctx.place_with(size, &options).unwrap().0;
            let dedicated = victim.info().dedicated;
            if path == UploadPath::Mapped && victim.upload_path() != UploadPath::Mapped {
                continue;
            }
            if host_memory == HostMemory::Imported && !victim.info().host_imported {
                continue;
            }
            let what = format!("{placement}, {size} bytes, {path:?}, {host_memory:?}");
            let neighbour = (!dedicated).then(|| {
                let n = ctx.place(1 << 20, placement).unwrap();
                ctx.write_placed(&n, 0, &pattern(1 << 20, 7)).unwrap();
                n
            });
            // Leaves GPU work pending on the staging path: destroy() waits for it.
            ctx.write_placed_with(&victim, 0, &pattern(size as usize, 1), path)
                .unwrap();
            victim.buffer().destroy();
            assert!(victim.is_destroyed(), "{what}");

            let mut paths = vec![UploadPath::Staging];
            if victim.upload_path() == UploadPath::Mapped {
                paths.push(UploadPath::Mapped);
            }
            for write_path in paths {
                let written = ctx.write_placed_with(&victim, 0, &pattern(4096, 2), write_path);
                assert!(
                    matches!(written, Err(Error::Destroyed { .. })),
                    "{what}: write through {write_path:?} after destroy: {written:?}"
                );
            }
            let read = ctx.read_placed(&victim, 0, 4096);
            assert!(
                matches!(read, Err(Error::Destroyed { .. })),
                "{what}: read after destroy: {:?}",
                read.map(|r| r.len())
            );
            let as_input = ctx.matmul(victim.buffer(), &b, &c, shape);
            assert!(
                is_typed_refusal(&as_input),
                "{what}: kernel input: {as_input:?}"
            );
            let as_output = ctx.matmul(&a, &b, victim.buffer(), shape);
            assert!(
                is_typed_refusal(&as_output),
                "{what}: kernel output: {as_output:?}"
            );
            if checked == 0 {
                eprintln!("after destroy, a kernel on the buffer: {as_input:?}");
            }
            // Dropped before waiting: the memory goes when wgpu and Strata are both done.
            drop(victim);
            ctx.wait_idle().unwrap();

            if let Some(neighbour) = &neighbour {
                assert_eq!(
                    ctx.read_placed(neighbour, 0, 1 << 20).unwrap(),
                    pattern(1 << 20, 7),
                    "{what}: the neighbour's bytes"
                );
            }
            // The freed bytes serve the next buffer, and nothing writes into them behind it.
            let next = ctx.place(size, placement).unwrap();
            ctx.write_placed_with(&next, 0, &pattern(size as usize, 3), UploadPath::Staging)
                .unwrap();
            assert!(
                ctx.read_placed(&next, 0, size).unwrap() == pattern(size as usize, 3),
                "{what}: the next buffer"
            );
            if let Some(neighbour) = &neighbour {
                assert_eq!(
                    ctx.read_placed(neighbour, 0, 1 << 20).unwrap(),
                    pattern(1 << 20, 7),
                    "{what}: the neighbour's bytes, after the next buffer"
                );
            }
            drop((next, neighbour));
            checked += 1;
            imported += usize::from(host_memory == HostMemory::Imported);
        }
    }
    eprintln!(
        "{checked} destroyed buffers checked over {placements:?}, {imported} on imported pages"
    );
    assert!(
        imported > 0 || !ctx.placement_support().host_import,
        "the device imports host pages, yet no placement took them"
    );
    assert!(checked >= 2 * placements.len());
    ctx.wait_idle().unwrap();
    assert_eq!(
        ctx.live_allocations(),
        start,
        "every placed buffer was freed"
    );
}

#[test]
fn a_write_racing_destroy_never_reaches_freed_memory() {
    let Some(ctx) = gpu() else { return };
    let mut raced = 0;
    for placement in served(&ctx) {
        for size in [1u64 << 20, 64 << 20] {
            let victim = ctx.place(size, placement).unwrap();
            if victim.upload_path() != UploadPath::Mapped {
                continue;
            }
            let neighbour = ctx.place(1 << 20, placement).unwrap();
            ctx.write_placed(&neighbour, 0, &pattern(1 << 20, 9))
                .unwrap();
            let data = pattern(size as usize, 4);
            let writes = std::sync::atomic::AtomicU32::new(0);
            std::thread::scope(|s| {
                // Writes until three in a row were refused: the ones before destroy() succeed,
                // the one racing it may go either way, every one after it is refused.
                let writer = s.spawn(|| {
                    let mut refused = 0;
                    while refused < 3 {
                        match ctx.write_placed_with(&victim, 0, &data, UploadPath::Mapped) {
                            Ok(()) => assert_eq!(refused, 0, "a write succeeded after a refusal"),
                            Err(Error::Destroyed { .. }) => refused += 1,
                            Err(e) => panic!("{placement}: {e}"),
                        }
                        let n = writes.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                        assert!(n < 100_000, "{placement}: destroy() was never seen");
                    }
                    refused
                });
                while writes.load(std::sync::atomic::Ordering::Acquire) < 2 {
                    std::thread::yield_now();
                }
                victim.buffer().destroy();
                writer.join().expect("the writer");
            });
            drop(victim);
            ctx.wait_idle().unwrap();
            assert_eq!(
                ctx.read_placed(&neighbour, 0, 1 << 20).unwrap(),
                pattern(1 << 20, 9),
                "{placement}: the neighbour's bytes"
            );
            raced += 1;
        }
    }
    eprintln!("{raced} races of a mapped write against destroy()");
}
