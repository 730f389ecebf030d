//! One buffer in every placement this device has, with the proof of where it landed: memory
//! type, heap, flags, what that memory is on this driver, and a witness (heap usage from
//! `VK_EXT_memory_budget`, or amdgpu's counters) that saw the heap grow. Placements the device
//! cannot give print their typed error instead.
//!
//! ```sh
//! cargo run --example placement_tour
//! ```

use strata::placement::{UploadPath, UsageSnapshot, Verification, describe_memory_type, verify};
use strata::table::human_bytes;
use strata::{Context, Error, Placement, Usage};

/// 32 MiB: large enough for a dedicated allocation, so the heap grows by exactly this much.
const BYTES: u64 = 32 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();

    let ctx = Context::new()?;
    let info = ctx.adapter_info();
    println!(
        "{} ({:?} on {:?})",
        info.name, info.device_type, info.backend
    );
    print!("{}", ctx.placement_support());

    // The named placements and `auto`; on Vulkan also every memory type by index (`type=N`).
    let mut placements = Placement::NAMED.to_vec();
    placements.push(Placement::Auto(Usage::Weights));
    if let Ok(vk) = ctx.vulkan("the memory table") {
        let table = vk.memory_table();
        println!("\n{table}");
        placements.extend((0..table.types.len() as u32).map(Placement::Type));
    }

    let data: Vec<u8> = (0..BYTES).map(|i| (i % 251) as u8).collect();
    for placement in placements {
        // Heap usage before and after the allocation: the proof of placement.
        let before = usage_now(&ctx);
        let buffer = match ctx.place(BYTES, placement) {
            Ok(buffer) => buffer,
            // The device has no memory type for this placement, or is not Vulkan: a typed
            // error (its message goes on to print the device's table; one line is enough here).
            Err(e @ (Error::Placement(_) | Error::NeedsVulkan { .. })) => {
                let message = e.to_string();
                println!(
                    "\n{placement}: not available: {}",
                    message.lines().next().unwrap_or("")
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let after = usage_now(&ctx);

        // Write a pattern by the buffer's upload path, read it back, compare.
        ctx.write_placed(&buffer, 0, &data)?;
        if ctx.read_placed(&buffer, 0, buffer.bytes())? != data {
            return Err(
                format!("{placement}: the bytes read back differ from those written").into(),
            );
        }

        let placed = buffer.info();
        println!("\n{placement}:");
        match (placed.memory_type, placed.heap, placed.flags) {
            (Some(memory_type), Some(heap), Some(flags)) => {
                let meaning = describe_memory_type(
                    &ctx.vulkan("the memory table")?.memory_table(),
                    memory_type,
                    info.vendor,
                    info.device_type,
                );
                println!("  memory type {memory_type} on heap {heap}, flags {flags}");
                println!("  meaning: {meaning}");
            }
            _ => println!("  a plain wgpu buffer: wgpu chose the memory (no Vulkan here)"),
        }
        println!(
            "  {} {}, written {}; read back: ok",
            human_bytes(placed.bytes),
            if placed.dedicated {
                "in its own allocation"
            } else {
                "sub-allocated"
            },
            match placed.upload_path {
                UploadPath::Mapped => "by memcpy into its mapping",
                UploadPath::Staging => "through a staging buffer and a GPU copy",
            },
        );
        if let (Some((table, before)), Some((_, after)), Some(heap)) =
            (&before, &after, placed.heap)
        {
            let verdict = verify(table, heap, BYTES, placed.dedicated, before, after);
            let why = match &verdict {
                Verification::Verified { witness } => witness,
                Verification::Mismatch { detail } => detail,
                Verification::Unverifiable { reason } => reason,
            };
            println!("  proof: {}: {why}", verdict.word());
        }
    }
    Ok(())
}

/// The memory table and every usage witness now (`None` off Vulkan).
fn usage_now(ctx: &Context) -> Option<(strata::table::MemoryTable, UsageSnapshot)> {
    let table = ctx.vulkan("proof of placement").ok()?.memory_table();
    let info = ctx.adapter_info();
    let snapshot = UsageSnapshot::take(&table, (info.vendor, info.device));
    Some((table, snapshot))
}
