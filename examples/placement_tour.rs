//! One buffer in every placement this device has, with the proof of where it landed: memory
//! type, heap, flags, what that memory is on this driver, and a witness (heap usage from
//! `VK_EXT_memory_budget`, or amdgpu's counters) that saw the heap grow. Placements the device
//! cannot give print their typed error instead.
//!
//! ```sh
//! cargo run --example placement_tour
//! ```

use strata::placement::{UploadPath, describe_memory_type};
use strata::table::human_bytes;
use strata::{Context, Error, PlaceOptions, Placement, Usage};

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
        // Placed with its proof: heap usage (and amdgpu's counters) before and after.
        let proved = match ctx.place_proved(BYTES, &PlaceOptions::new(placement)) {
            Ok(proved) => proved,
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
        let buffer = &proved.buffer;

        // Write a pattern by the buffer's upload path, read it back, compare.
        ctx.write_placed(buffer, 0, &data)?;
        if ctx.read_placed(buffer, 0, buffer.bytes())? != data {
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
        let verdict = &proved.verification;
        println!("  proof: {}: {}", verdict.word(), verdict.detail());
    }
    Ok(())
}
