// Block checksum of a byte range: the GPU half of `strata::checksum` (its CPU half computes the
// same value from the file's bytes, and a load's verification compares the two).
//
// The range is cut into blocks of BLOCK_BYTES (the last may be shorter). Each thread takes one
// block and computes its CRC-32 (IEEE 802.3, reflected, as zlib and `crc32fast` do) by
// slicing-by-4 over the block's words, then its tail bytes one at a time. The block's CRC is
// mixed with its index in the whole range (`first_block` + its index here, so a range can be
// checked in several dispatches) by two different mixers, and the two results are summed
// (mod 2^32) over every block: a block that moved, or a block whose bytes changed, changes both
// sums. Each workgroup adds its sums up in shared memory and then into `sums` atomically, so
// the order of workgroups does not matter.
//
// The four CRC tables (1 KiB each) are made in shared memory by each workgroup: a few hundred
// shifts, against the 64 blocks of 4 KiB each workgroup reads.
//
// Bounds: `blocks` = ceil(len / BLOCK_BYTES); a thread past the last block reads nothing; a
// block reads words below ceil(len / 4), which the binding holds (its size is len rounded up
// to 4 bytes). The host keeps `len` below 2^31 so that no index arithmetic wraps.

struct Params {
    // Bytes in this dispatch's range.
    len: u32,
    // Blocks in it: ceil(len / BLOCK_BYTES).
    blocks: u32,
    // Index of its first block in the whole range.
    first_block: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> data: array<u32>;
@group(0) @binding(1) var<storage, read_write> sums: array<atomic<u32>, 2>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 64u;
const BLOCK_BYTES: u32 = 4096u;
const POLY: u32 = 0xedb88320u;

var<workgroup> table: array<u32, 1024>;
var<workgroup> partial: array<vec2<u32>, WG>;

// A 32-bit integer mixer (every input bit reaches every output bit); the CPU half has the same.
fn mix32(x0: u32) -> u32 {
    var x = x0;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

@compute @workgroup_size(WG, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    // table[s * 256 + e] is slicing table s: table 0 is the byte-wise CRC table, and table s
    // is table s - 1 advanced by one more zero byte.
    for (var e = lid.x; e < 256u; e += WG) {
        var c = e;
        for (var k = 0u; k < 8u; k++) {
            c = select(c >> 1u, (c >> 1u) ^ POLY, (c & 1u) == 1u);
        }
        table[e] = c;
    }
    workgroupBarrier();
    for (var s = 1u; s < 4u; s++) {
        for (var e = lid.x; e < 256u; e += WG) {
            let previous = table[(s - 1u) * 256u + e];
            table[s * 256u + e] = (previous >> 8u) ^ table[previous & 0xffu];
        }
        workgroupBarrier();
    }

    let block = wid.x * WG + lid.x;
    var mixed = vec2<u32>(0u, 0u);
    if (block < params.blocks) {
        let start = block * BLOCK_BYTES;
        let bytes = min(BLOCK_BYTES, params.len - start);
        let first = start / 4u;
        let words = bytes / 4u;
        var crc = 0xffffffffu;
        for (var i = 0u; i < words; i++) {
            let c = crc ^ data[first + i];
            crc = table[768u + (c & 0xffu)] ^ table[512u + ((c >> 8u) & 0xffu)]
                ^ table[256u + ((c >> 16u) & 0xffu)] ^ table[c >> 24u];
        }
        let tail = bytes % 4u;
        if (tail > 0u) {
            let word = data[first + words];
            for (var b = 0u; b < tail; b++) {
                crc = table[(crc ^ (word >> (8u * b))) & 0xffu] ^ (crc >> 8u);
            }
        }
        crc ^= 0xffffffffu;
        let at = params.first_block + block;
        mixed = vec2<u32>(mix32(crc ^ mix32(at)), mix32(crc + mix32(at ^ 0x9e3779b9u)));
    }
    partial[lid.x] = mixed;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (lid.x < half) {
            partial[lid.x] += partial[lid.x + half];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        atomicAdd(&sums[0], partial[0].x);
        atomicAdd(&sums[1], partial[0].y);
    }
}
