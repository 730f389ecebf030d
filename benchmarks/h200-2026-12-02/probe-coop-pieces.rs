//! Temporary probe of the cooperative-matrix GEMV's pieces on the GPU machine.

use crate::harness::gpu;
use strata::{Access, Context, KernelSource};

fn unvalidated() -> Context {
    Context::builder().validation(false).build().unwrap()
}

#[test]
fn probe_coop_pieces() {
    let Some(_g) = gpu() else { return };
    let ctx = unvalidated();
    if ctx.cooperative_gemm().is_none() {
        eprintln!("probe: no coop");
        return;
    }
    // 1. The preparation kernel on one-hot vectors.
    let cols = 64usize;
    let prep = ctx
        .compile_kernel(&KernelSource {
            label: "prep",
            wgsl: strata::shaders::GEMV_COOP_PREP.text(),
            entry_point: "main",
            bindings: &[Access::Read, Access::ReadWrite, Access::ReadWrite],
            uniform_bytes: 16,
        })
        .unwrap();
    let mut x = vec![0f32; 8 * cols];
    for b in 0..8 {
        x[b * cols + 3 * b + 1] = 1.0 + b as f32;
    }
    let xb = ctx.upload(&x).unwrap();
    let xs = ctx.create_storage_buffer((16 * cols * 2) as u64, "xs").unwrap();
    let inv = ctx.create_storage_buffer(32, "inv").unwrap();
    let mut rec = ctx.record();
    let params: [u32; 4] = [cols as u32, 8, cols as u32, 1];
    rec.dispatch(
        &prep,
        &[(&xb).into(), (&xs).into(), (&inv).into()],
        bytemuck::cast_slice(&params),
        [1, 8, 1],
    )
    .unwrap();
    rec.run().unwrap();
    let halves = ctx.read_back::<u16>(&xs, 16 * cols).unwrap();
    for n in 0..16 {
        let nz: Vec<(usize, f32)> = (0..cols)
            .filter(|&c| halves[n * cols + c] != 0)
            .map(|c| (c, half::f16::from_bits(halves[n * cols + c]).to_f32()))
            .collect();
        eprintln!("probe xs row {n}: {nz:?}");
    }
    eprintln!("probe inv: {:?}", ctx.read_back::<f32>(&inv, 8).unwrap());

    // 2. C = I·B on the tensor cores, B column-major from shared memory, C stored row-major
    // into shared memory and into storage.
    let wgsl = r#"
enable f16;
enable wgpu_cooperative_matrix;
@group(0) @binding(0) var<storage, read> bsrc: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read_write> out_shared: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_direct: array<f32>;
var<workgroup> sb: array<vec4<f16>, 80>;
var<workgroup> sa: array<vec4<f16>, 80>;
var<workgroup> sc: array<f32, 256>;
fn store_c(f: coop_mat16x16<f32, C>, at: u32) { coopStoreT(f, &sc[at], 16u); }
fn store_d(f: coop_mat16x16<f32, C>, at: u32) { coopStoreT(f, &out_direct[at], 16u); }
@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) tid: u32) {
    for (var i = tid; i < 64u; i += 32u) {
        let n = i / 4u; let kv = i % 4u;
        sb[n * 5u + kv] = bsrc[i];
        var a = vec4<f16>(0.0h);
        for (var j = 0u; j < 4u; j++) { if (n == kv * 4u + j) { a[j] = 1.0h; } }
        sa[n * 5u + kv] = a;
    }
    workgroupBarrier();
    let am = coopLoadT<coop_mat16x16<f16, A>>(&sa[0], 5u);
    let bm = coopLoad<coop_mat16x16<f16, B>>(&sb[0], 5u);
    var c = coop_mat16x16<f32, C>();
    c = coopMultiplyAdd(am, bm, c);
    store_c(c, 0u);
    store_d(c, 0u);
    workgroupBarrier();
    for (var e = tid; e < 256u; e += 32u) { out_shared[e] = sc[e]; }
}
"#;
    let k = ctx
        .compile_kernel(&KernelSource {
            label: "coop-probe",
            wgsl,
            entry_point: "main",
            bindings: &[Access::Read, Access::ReadWrite, Access::ReadWrite],
            uniform_bytes: 0,
        })
        .unwrap();
    // B element (k, n) at n·16 + k holds n·16 + k.
    let b: Vec<u16> = (0..256)
        .map(|i| half::f16::from_f32(i as f32).to_bits())
        .collect();
    let bb = ctx.upload(&b).unwrap();
    let o1 = ctx.create_storage_buffer(1024, "o1").unwrap();
    let o2 = ctx.create_storage_buffer(1024, "o2").unwrap();
    let mut rec = ctx.record();
    rec.dispatch(&k, &[(&bb).into(), (&o1).into(), (&o2).into()], &[], [1, 1, 1])
        .unwrap();
    rec.run().unwrap();
    let s = ctx.read_back::<f32>(&o1, 256).unwrap();
    let d = ctx.read_back::<f32>(&o2, 256).unwrap();
    for r in 0..4 {
        eprintln!("probe C shared row {r}: {:?}", &s[r * 16..r * 16 + 16]);
        eprintln!("probe C direct row {r}: {:?}", &d[r * 16..r * 16 + 16]);
    }
    eprintln!("probe C expected row r: [r, 16 + r, 32 + r, ...]");

    // 3. The GEMV's two kernels by hand: 32 rows, 1024 columns, x[b] = 1 at column b.
    let (rows, cols) = (32usize, 1024usize);
    let main = ctx
        .compile_kernel(&KernelSource {
            label: "gemv-coop",
            wgsl: strata::shaders::GEMV_COOP.text(),
            entry_point: "main",
            bindings: &[Access::Read, Access::Read, Access::Read, Access::ReadWrite],
            uniform_bytes: 32,
        })
        .unwrap();
    let w: Vec<u16> = (0..rows * cols)
        .map(|i| half::f16::from_f32((16 * ((i / cols) % 16) + (i % cols) % 16) as f32).to_bits())
        .collect();
    let mut x = vec![0f32; 8 * cols];
    for b in 0..8 {
        x[b * cols + b] = 1.0;
    }
    let wb = ctx.upload(&w).unwrap();
    let xb = ctx.upload(&x).unwrap();
    let xs = ctx.create_storage_buffer((16 * cols * 2) as u64, "xs").unwrap();
    let inv = ctx.create_storage_buffer(32, "inv").unwrap();
    let y = ctx.upload(&vec![f32::NAN; 8 * rows]).unwrap();
    let mut rec = ctx.record();
    let params: [u32; 4] = [cols as u32, 8, cols as u32, 1];
    rec.dispatch(
        &prep,
        &[(&xb).into(), (&xs).into(), (&inv).into()],
        bytemuck::cast_slice(&params),
        [1, 8, 1],
    )
    .unwrap();
    let params: [u32; 8] = [rows as u32, cols as u32, 0, rows as u32, 2, 2, cols as u32, 0];
    rec.dispatch(
        &main,
        &[(&wb).into(), (&xs).into(), (&inv).into(), (&y).into()],
        bytemuck::cast_slice(&params),
        [2, 1, 1],
    )
    .unwrap();
    rec.run().unwrap();
    let halves = ctx.read_back::<u16>(&xs, 16 * cols).unwrap();
    for n in 0..16 {
        let nz: Vec<(usize, f32)> = (0..cols)
            .filter(|&c| halves[n * cols + c] != 0)
            .map(|c| (c, half::f16::from_bits(halves[n * cols + c]).to_f32()))
            .collect();
        eprintln!("probe gemv xs row {n}: {nz:?}");
    }
    let y = ctx.read_back::<f32>(&y, 8 * rows).unwrap();
    for b in 0..8 {
        eprintln!("probe gemv y[{b}] (want 16*(r%16)+{b}): {:?}", &y[b * rows..b * rows + 18]);
    }
}
