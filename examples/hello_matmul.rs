//! The smallest complete Strata program: create a context, upload two matrices, multiply them
//! on the GPU, read the product back and check it against the CPU.
//!
//! ```sh
//! cargo run --example hello_matmul
//! ```

use strata::{Context, MatmulShape};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // wgpu and the validation layer report through `log`; show warnings and errors.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();

    // 1. A context: the best adapter (Mesa's lavapipe when there is no GPU), its device, queue.
    let ctx = Context::new()?;
    println!("adapter: {}", ctx.adapter_info().name);

    // 2. Two matrices, row-major: A is m×k, B is k×n. Small integers keep the sums exact.
    let (m, k, n) = (64, 48, 32);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 - 2.0).collect();

    // 3. Upload them into GPU storage buffers, and make room for C.
    let a_gpu = ctx.upload(&a)?;
    let b_gpu = ctx.upload(&b)?;
    let c_gpu = ctx.create_storage_buffer((m * n * 4) as u64, "C")?;

    // 4. C = A·B on the GPU.
    let shape = MatmulShape {
        m: m as u32,
        n: n as u32,
        k: k as u32,
    };
    let timing = ctx.matmul(&a_gpu, &b_gpu, &c_gpu, shape)?;

    // 5. Read C back and compare it with the product computed on the CPU.
    let c: Vec<f32> = ctx.read_back(&c_gpu, m * n)?;
    let expected = strata::reference::matmul(&a, &b, m, n, k);
    let wrong = c
        .iter()
        .zip(&expected)
        .filter(|&(&got, &want)| f64::from(got) != want)
        .count();
    if wrong > 0 {
        return Err(format!(
            "{wrong} of {} elements of C differ from the CPU product",
            m * n
        )
        .into());
    }
    println!(
        "C = A·B ({m}x{k} · {k}x{n}) in {:.3} ms: matches the CPU exactly",
        timing.seconds * 1e3
    );
    Ok(())
}
