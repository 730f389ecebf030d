//! Block checksums: the same 64-bit value computed by the CPU from bytes in memory
//! ([`of_bytes`]) and by the GPU from a buffer ([`Context::checksum`]), so that a load can check
//! what landed in memory the CPU reads slowly or not at all without reading it back.
//!
//! The bytes are cut into blocks of [`BLOCK_BYTES`] (the last may be shorter). Each block's
//! CRC-32 (IEEE 802.3, as zlib computes it) is mixed with the block's index by two different
//! 32-bit mixers, and each mixer's results are summed modulo 2^32 over the blocks. A sum does
//! not depend on the order in which blocks are added, which is what lets thousands of GPU
//! threads compute it at once.
//!
//! What it detects: a changed block changes its CRC (with certainty for a burst of errors up
//! to 32 bits long, and for every other change but one in 2^32), and a changed CRC or a block
//! at the wrong position changes both mixed values. It guards against faults (a copy that did
//! not happen, wrong offsets, stale or zeroed pages), not against an adversary who chooses the
//! bytes.
//!
//! Hand-written because the value must be computable in any order on the GPU: a streaming
//! hash (xxHash, a CRC of the whole range) would chain every block to the one before. The CRC
//! of each block on the CPU is `crc32fast`'s (SIMD where the CPU has it).

use crate::context::Context;
use crate::error::{Error, Result};
use crate::recording::{Access, Operand, Step};
use crate::shaders;
use rayon::prelude::*;

/// Bytes in a block (`BLOCK_BYTES` of `checksum.wgsl`).
pub const BLOCK_BYTES: usize = 4096;
/// Threads of a workgroup of `checksum.wgsl`, one block each.
const WG: u32 = 64;
/// Bytes one dispatch covers at most: below 2^31, so the shader's byte indices cannot wrap,
/// and a multiple of every storage-offset alignment (at most 256).
const MAX_DISPATCH_BYTES: u64 = 1 << 30;
/// Blocks a CPU thread takes at once.
const CPU_BLOCKS_PER_TASK: usize = 256;

/// The checksum of a byte range (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Checksum(pub [u32; 2]);

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}{:08x}", self.0[0], self.0[1])
    }
}

/// The checksum of `bytes`, computed across the CPU's threads.
pub fn of_bytes(bytes: &[u8]) -> Checksum {
    let sums = bytes
        .par_chunks(BLOCK_BYTES * CPU_BLOCKS_PER_TASK)
        .enumerate()
        .map(|(task, piece)| {
            let first = task * CPU_BLOCKS_PER_TASK;
            piece
                .chunks(BLOCK_BYTES)
                .enumerate()
                .fold([0u32; 2], |sums, (k, block)| {
                    // Block indices wrap at 2^32 blocks (16 TiB), as the shader's u32 does.
                    let mixed = mix_block(crc32fast::hash(block), (first + k) as u32);
                    add(sums, mixed)
                })
        })
        .reduce(|| [0u32; 2], add);
    Checksum(sums)
}

/// The two mixed values of block `at` whose CRC is `crc` (`checksum.wgsl` computes the same).
fn mix_block(crc: u32, at: u32) -> [u32; 2] {
    [
        mix32(crc ^ mix32(at)),
        mix32(crc.wrapping_add(mix32(at ^ 0x9e37_79b9))),
    ]
}

fn add(a: [u32; 2], b: [u32; 2]) -> [u32; 2] {
    [a[0].wrapping_add(b[0]), a[1].wrapping_add(b[1])]
}

/// A 32-bit integer mixer in which every input bit reaches every output bit.
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

impl Context {
    /// The checksum of `len` bytes of `buffer` from `offset`, computed on the GPU (equal to
    /// [`of_bytes`] of the same bytes). The buffer needs STORAGE usage, `offset` a multiple of
    /// the device's storage-offset alignment, and `len` rounded up to 4 bytes must lie within
    /// the buffer. Runs after everything submitted before it on the context's queue, and waits.
    pub fn checksum(&self, buffer: &wgpu::Buffer, offset: u64, len: u64) -> Result<Checksum> {
        // Each dispatch binds at most what a storage binding may hold, in whole blocks.
        let binding = self.device_limits().max_storage_buffer_binding_size;
        let per_dispatch = MAX_DISPATCH_BYTES
            .min(binding / BLOCK_BYTES as u64 * BLOCK_BYTES as u64)
            .max(BLOCK_BYTES as u64);
        self.checksum_in_dispatches(buffer, offset, len, per_dispatch)
    }

    /// [`Context::checksum`], each dispatch covering `per_dispatch` bytes (a multiple of
    /// [`BLOCK_BYTES`], at most [`MAX_DISPATCH_BYTES`] and the binding limit).
    fn checksum_in_dispatches(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        len: u64,
        per_dispatch: u64,
    ) -> Result<Checksum> {
        let bound = len.next_multiple_of(4);
        if offset
            .checked_add(bound)
            .is_none_or(|end| end > buffer.size())
        {
            return Err(Error::InvalidArgument(format!(
                "checksum of {len} bytes at {offset}: beyond the buffer's {} bytes",
                buffer.size()
            )));
        }
        if len == 0 {
            return Ok(Checksum::default());
        }
        let kernel = self.kernel("checksum", || {
            Ok(shaders::KernelText::of(&shaders::CHECKSUM))
        })?;
        let sums = self.create_storage_buffer(8, "checksum sums")?;
        let mut recording = self.record().label("checksum");
        let mut done = 0u64;
        while done < len {
            let bytes = (len - done).min(per_dispatch);
            let blocks = bytes.div_ceil(BLOCK_BYTES as u64);
            let first_block = done / BLOCK_BYTES as u64;
            // Each u32 fits: bytes <= 2^30; the first block index wraps as `of_bytes`'s does.
            let params = [bytes as u32, blocks as u32, first_block as u32, 0];
            let step = Step {
                operands: vec![
                    (
                        Operand::range(buffer, offset + done, bytes.next_multiple_of(4)),
                        Access::Read,
                    ),
                    (Operand::from(&sums), Access::ReadWrite),
                ],
                uniforms: bytemuck::cast_slice(&params).to_vec(),
                workgroups: [(blocks as u32).div_ceil(WG), 1, 1],
            };
            recording.push_steps("checksum", &kernel, vec![step], 1)?;
            done += bytes;
        }
        let slot = recording.read(&sums, 0, 8)?;
        let mut replay = recording.finish()?;
        replay.submit()?.wait()?;
        let sums: Vec<u32> = replay.read_vec(&slot)?;
        match sums[..] {
            [a, b] => Ok(Checksum([a, b])),
            _ => Err(Error::InvalidArgument("checksum: short read-back".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-32 by slicing-by-4 over little-endian words, then byte by byte: the shader's
    /// algorithm, here checked against `crc32fast`.
    fn crc_like_the_shader(block: &[u8]) -> u32 {
        let mut table = [[0u32; 256]; 4];
        for e in 0..256u32 {
            let mut c = e;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
            table[0][e as usize] = c;
        }
        for s in 1..4 {
            for e in 0..256 {
                let previous = table[s - 1][e];
                table[s][e] = (previous >> 8) ^ table[0][(previous & 0xff) as usize];
            }
        }
        let mut crc = !0u32;
        let words = block.chunks_exact(4);
        let tail = words.remainder();
        for word in words {
            let c = crc ^ u32::from_le_bytes(word.try_into().unwrap());
            crc = table[3][(c & 0xff) as usize]
                ^ table[2][((c >> 8) & 0xff) as usize]
                ^ table[1][((c >> 16) & 0xff) as usize]
                ^ table[0][(c >> 24) as usize];
        }
        for &b in tail {
            crc = table[0][((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        !crc
    }

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + i / 977) as u8).collect()
    }

    #[test]
    fn the_shaders_crc_is_crc32() {
        for len in [0, 1, 3, 4, 5, 1000, 4095, 4096] {
            let block = bytes(len);
            assert_eq!(
                crc_like_the_shader(&block),
                crc32fast::hash(&block),
                "{len}"
            );
        }
        // The check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn a_checksum_is_its_blocks_mixed_and_summed() {
        let data = bytes(3 * BLOCK_BYTES + 17);
        let expected = data
            .chunks(BLOCK_BYTES)
            .enumerate()
            .fold([0u32; 2], |sums, (k, block)| {
                add(sums, mix_block(crc_like_the_shader(block), k as u32))
            });
        assert_eq!(of_bytes(&data), Checksum(expected));
        assert_eq!(of_bytes(&[]), Checksum([0, 0]));
        // Long enough for several CPU tasks.
        let long = bytes(CPU_BLOCKS_PER_TASK * BLOCK_BYTES * 3 + 5);
        let serial = long
            .chunks(BLOCK_BYTES)
            .enumerate()
            .fold([0u32; 2], |sums, (k, block)| {
                add(sums, mix_block(crc32fast::hash(block), k as u32))
            });
        assert_eq!(of_bytes(&long), Checksum(serial));
    }

    #[test]
    fn the_gpu_computes_the_cpus_checksum() {
        let Some(ctx) = crate::test_context::gpu("the_gpu_computes_the_cpus_checksum") else {
            return;
        };
        // Over one workgroup's 64 blocks, ending in a partial block and a partial word.
        let data = bytes(70 * BLOCK_BYTES + 1000 + 7);
        let buffer = ctx
            .create_storage_buffer(data.len() as u64 + 1024, "checksum test")
            .unwrap();
        let mut padded = data.clone();
        padded.resize(data.len().next_multiple_of(4) + 256, 0xee);
        ctx.gpu
            .queue
            .write_buffer(&buffer, 256, &padded[..padded.len() - 256]);
        let lengths = [
            1,
            3,
            4,
            5,
            4095,
            4096,
            4097,
            64 * 4096,
            64 * 4096 + 130,
            data.len(),
        ];
        for len in lengths {
            let expected = of_bytes(&data[..len]);
            assert_eq!(
                ctx.checksum(&buffer, 256, len as u64).unwrap(),
                expected,
                "{len}"
            );
            // In dispatches of two blocks: the block indices continue across dispatches.
            let split = ctx
                .checksum_in_dispatches(&buffer, 256, len as u64, 2 * BLOCK_BYTES as u64)
                .unwrap();
            assert_eq!(split, expected, "{len} in dispatches");
        }
        assert_eq!(ctx.checksum(&buffer, 0, 0).unwrap(), Checksum::default());
        // Ranges beyond the buffer, and offsets off the binding alignment: typed errors.
        assert!(ctx.checksum(&buffer, 0, buffer.size() + 1).is_err());
        assert!(ctx.checksum(&buffer, u64::MAX - 3, 8).is_err());
        assert!(ctx.checksum(&buffer, 4, 8).is_err());
    }

    #[test]
    fn changes_and_moved_blocks_change_the_checksum() {
        let data = bytes(4 * BLOCK_BYTES + 3);
        let base = of_bytes(&data);
        for at in [0, 1, BLOCK_BYTES, 3 * BLOCK_BYTES + 4095, data.len() - 1] {
            let mut changed = data.clone();
            changed[at] ^= 0x10;
            let sum = of_bytes(&changed);
            assert_ne!(sum.0[0], base.0[0], "{at}");
            assert_ne!(sum.0[1], base.0[1], "{at}");
        }
        // Two blocks swapped: every byte is still there, at the wrong place.
        let mut swapped = data.clone();
        let (first, rest) = swapped.split_at_mut(BLOCK_BYTES);
        first.swap_with_slice(&mut rest[..BLOCK_BYTES]);
        assert_ne!(of_bytes(&swapped), base);
        // A zeroed block, and a shorter range.
        let mut zeroed = data.clone();
        zeroed[2 * BLOCK_BYTES..3 * BLOCK_BYTES].fill(0);
        assert_ne!(of_bytes(&zeroed), base);
        assert_ne!(of_bytes(&data[..data.len() - 1]), base);
        assert_eq!(base.to_string().len(), 16);
    }
}
