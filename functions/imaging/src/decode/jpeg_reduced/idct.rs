//! The reduced IDCT: a block's stored coefficients to its `n`×`n` levels, the means over
//! its parts of the block band-limited to its lowest frequencies.

use super::markers::Component;

/// A component's levels, `n` = `samples` per block each way over the blocks holding data,
/// row-major, and how many there are across. A block's `n`×`n` levels are the means over
/// its parts of its IDCT restricted to the stored coefficients (for `n` = 1, `DC × Q₀ / 8`).
pub(crate) fn block_levels(c: &Component, steps: &[u16; 64]) -> (Vec<u8>, usize) {
    match c.samples {
        1 => levels_of::<1>(c, steps),
        2 => levels_of::<2>(c, steps),
        _ => levels_of::<4>(c, steps),
    }
}

/// `part_means::<N>()[i][u]`: the mean over part `i` of `N` of a block row of the IDCT's
/// term for frequency `u`, C(u)/2 · cos((2x+1)uπ/16) with C(0) = 1/√2, C(u) = 1. A level
/// is then Σᵥ Σᵤ M[i][v] · F(v,u) · M[j][u] + 128 for the dequantised coefficients F.
fn part_means<const N: usize>() -> [[f32; N]; N] {
    let mut means = [[0f32; N]; N];
    let width = 8 / N;
    for (part, row) in means.iter_mut().enumerate() {
        for (frequency, mean) in row.iter_mut().enumerate() {
            let scale = if frequency == 0 {
                0.5 / 2f64.sqrt()
            } else {
                0.5
            };
            let sum: f64 = (part * width..(part + 1) * width)
                .map(|x| {
                    ((2 * x + 1) as f64 * frequency as f64 * std::f64::consts::PI / 16.0).cos()
                })
                .sum();
            *mean = (scale * sum / width as f64) as f32;
        }
    }
    means
}

fn levels_of<const N: usize>(c: &Component, steps: &[u16; 64]) -> (Vec<u8>, usize) {
    let (levels_w, levels_h) = (c.real_w * N, c.real_h * N);
    let mut levels = vec![0u8; levels_w * levels_h];
    let to_u8 = |v: f32| (v.clamp(0.0, 255.0) + 0.5) as u8;
    let means = part_means::<N>();
    // Each stored coefficient's weight: its quantisation step.
    let mut weights = [[0f32; N]; N];
    for (v, row) in weights.iter_mut().enumerate() {
        for (u, weight) in row.iter_mut().enumerate() {
            *weight = f32::from(steps[v * 8 + u]);
        }
    }
    let block_rows = c
        .coefficients
        .chunks_exact(c.blocks_w * N * N)
        .take(c.real_h)
        .map(|row| row.chunks_exact(N * N).take(c.real_w));
    for (blocks, out) in block_rows.zip(levels.chunks_exact_mut(N * levels_w)) {
        for (bx, block) in blocks.enumerate() {
            // Down the block first: across[i][u] = Σᵥ M[i][v] · F(v,u).
            let mut across = [[0f32; N]; N];
            for (i, row) in across.iter_mut().enumerate() {
                for (u, sum) in row.iter_mut().enumerate() {
                    *sum = (0..N)
                        .map(|v| means[i][v] * block[v * N + u] as f32 * weights[v][u])
                        .sum();
                }
            }
            for (i, row) in across.iter().enumerate() {
                for j in 0..N {
                    let level: f32 = (0..N).map(|u| row[u] * means[j][u]).sum();
                    out[i * levels_w + bx * N + j] = to_u8(level + 128.0);
                }
            }
        }
    }
    (levels, levels_w)
}
