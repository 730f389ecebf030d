// Block checksum of a byte range: the GPU half of `strata::checksum` (its CPU half computes the
// same value from the file's bytes, and a load's verification compares the two).
//
// The range is cut into blocks of BLOCK_BYTES (the last may be shorter). Each thread takes one
// block and computes its CRC-32 (IEEE 802.3, reflected, as zlib and `crc32fast` do) by
// slicing-by-4 over the block's words, then its tail bytes one at a time. The words reach it
// through shared memory, CHUNK words of each of the workgroup's blocks at a time: the
// workgroup loads a tile (CHUNK words of every block, 32 threads reading one block's 128
// contiguous bytes, every thread CHUNK loads in flight), then each thread runs its CRC over
// its row of the tile. Read straight from the buffer, one thread a block, every load would
// wait for the one before, at the memory's latency. The block's CRC is
// mixed with its index in the whole range (`first_block` + its index here, so a range can be
// checked in several dispatches) by two different mixers, and the two results are summed
// (mod 2^32) over every block: a block that moved, or a block whose bytes changed, changes both
// sums. Each workgroup adds its sums up in shared memory and then into `sums` atomically, so
// the order of workgroups does not matter.
//
// The four CRC tables (1 KiB each) are made in shared memory by each workgroup: a few hundred
// shifts, against the 64 blocks of 4 KiB each workgroup reads.
//
// Bounds: `blocks` = ceil(len / BLOCK_BYTES); tile loads read only words below
// ceil(len / 4), which the binding holds (its size is len rounded up to 4 bytes), and a thread
// past the last block adds nothing. Every workgroup runs the same number of tile steps, so its
// barriers are in uniform control flow. The host keeps `len` below 2^31 so that no index
// arithmetic wraps.

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
const BLOCK_WORDS: u32 = 1024u;
// Words of each block in one tile, and a tile row's stride (one more, so that the threads'
// rows start in different shared-memory banks).
const CHUNK: u32 = 32u;
const ROW: u32 = 33u;
const POLY: u32 = 0xedb88320u;

var<workgroup> table: array<u32, 1024>;
var<workgroup> tile: array<u32, 2112>; // WG * ROW
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

    let first_block = wid.x * WG;
    let block = first_block + lid.x;
    let total_words = params.len / 4u + select(0u, 1u, params.len % 4u != 0u);
    // This thread's block: its whole words, and the bytes after them.
    var bytes = 0u;
    if (block < params.blocks) {
        bytes = min(BLOCK_BYTES, params.len - block * BLOCK_BYTES);
    }
    let words = bytes / 4u;
    var crc = 0xffffffffu;
    for (var step = 0u; step < BLOCK_WORDS / CHUNK; step++) {
        // Load: word w of the chunk of block b, for the WG * CHUNK (b, w) pairs, 32 threads
        // (one warp or two half-waves) on each block's CHUNK contiguous words.
        for (var j = 0u; j < CHUNK; j++) {
            let k = j * WG + lid.x;
            let b = k / CHUNK;
            let w = k % CHUNK;
            let at = (first_block + b) * BLOCK_WORDS + step * CHUNK + w;
            var word = 0u;
            if (first_block + b < params.blocks && at < total_words) {
                word = data[at];
            }
            tile[b * ROW + w] = word;
        }
        workgroupBarrier();
        let done = step * CHUNK;
        let here = min(CHUNK, words - min(words, done));
        for (var w = 0u; w < here; w++) {
            let c = crc ^ tile[lid.x * ROW + w];
            crc = table[768u + (c & 0xffu)] ^ table[512u + ((c >> 8u) & 0xffu)]
                ^ table[256u + ((c >> 16u) & 0xffu)] ^ table[c >> 24u];
        }
        workgroupBarrier();
    }
    let tail = bytes % 4u;
    if (tail > 0u) {
        let word = data[block * BLOCK_WORDS + words];
        for (var b = 0u; b < tail; b++) {
            crc = table[(crc ^ (word >> (8u * b))) & 0xffu] ^ (crc >> 8u);
        }
    }
    var mixed = vec2<u32>(0u, 0u);
    if (block < params.blocks) {
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
