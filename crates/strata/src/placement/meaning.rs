//! What a memory type means on the driver at hand, in words.

use crate::table::{MemoryFlags, MemoryTable};

/// PCI vendor id of AMD.
const VENDOR_AMD: u32 = 0x1002;

/// A short description of memory type `index` of `table` on an adapter of this vendor and
/// device type, e.g. "GTT: system RAM mapped for the GPU".
pub fn describe_memory_type(
    table: &MemoryTable,
    index: u32,
    vendor: u32,
    device_type: wgpu::DeviceType,
) -> String {
    let Some(ty) = table.types.get(index as usize) else {
        return "no such memory type".into();
    };
    let f = ty.flags;
    let device_local = f.contains(MemoryFlags::DEVICE_LOCAL);
    let visible = f.contains(MemoryFlags::HOST_VISIBLE);
    let cached = f.contains(MemoryFlags::HOST_CACHED);
    let integrated = device_type == wgpu::DeviceType::IntegratedGpu;
    let cpu = device_type == wgpu::DeviceType::Cpu;
    let mut text = match (device_local, visible) {
        _ if cpu => "system RAM (a CPU driver: all memory is host memory)".to_string(),
        (true, false) if integrated => "VRAM carve-out (device-local, not CPU-mappable)".into(),
        (true, false) => "VRAM (device-local, not CPU-mappable)".into(),
        (true, true) if integrated => "CPU-visible VRAM carve-out".into(),
        (true, true) => "CPU-visible VRAM (ReBAR/SAM window)".into(),
        (false, true) if cached => "cached system RAM (read-back)".into(),
        (false, true) if vendor == VENDOR_AMD => {
            "GTT: system RAM mapped for the GPU (write-combined)".into()
        }
        (false, true) => "pinned system RAM the GPU reads over the bus".into(),
        (false, false) => "system memory the CPU cannot map (driver-internal)".into(),
    };
    if f.intersects(MemoryFlags::DEVICE_COHERENT_AMD) {
        text.push_str(", device-coherent (slow for bulk data)");
    }
    if f.intersects(MemoryFlags::PROTECTED) {
        text.push_str(", protected (unusable for compute buffers)");
    }
    text
}
