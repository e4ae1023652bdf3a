//! TransNAS-Bench-101's jigsaw task: each image is cut into 3 x 3 tiles, the
//! tiles are shuffled by a permutation drawn from a fixed set of 1000, and the
//! network classifies which permutation it sees (`load_ops.MakeJigsawPuzzle`:
//! tile `n` of the puzzle is the image's cell `permutation[n]`, row-major; the
//! label is `random.randint(0, 999)` per image).
//!
//! The set is Noroozi and Favaro's maximal-Hamming one (`permutations_hamming_max_1000.npy`,
//! made by `select_permutations.py` of JigsawPuzzlePytorch): greedily, the next permutation
//! is the one of largest mean Hamming distance to those chosen, the first of them on ties.
//! That file is not published with the benchmark's code and the script starts from a random
//! permutation, so the set here starts from the identity: the same construction, a
//! deterministic draw. Targets are exact for any images: the puzzle is made from them.

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::engine::data::Batch;

/// Permutations in the set (the head's outputs).
pub const PERMUTATIONS: usize = 1000;

/// A permutation of the nine tiles: `p[n]` is the image cell shown as tile `n`.
pub type Permutation = [u8; 9];

/// The 1000 permutations, computed once per process (about a second).
pub fn permutation_set() -> &'static [Permutation] {
    static SET: OnceLock<Vec<Permutation>> = OnceLock::new();
    SET.get_or_init(|| max_hamming_set(PERMUTATIONS))
}

/// Every permutation of 0..9 in lexicographic order (`itertools.permutations`).
fn all_permutations() -> Vec<Permutation> {
    let mut p: Permutation = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    let mut out = Vec::with_capacity(362_880);
    loop {
        out.push(p);
        // Next lexicographic permutation.
        let Some(i) = (0..8).rev().find(|&i| p[i] < p[i + 1]) else {
            return out;
        };
        let j = (i + 1..9).rev().find(|&j| p[j] > p[i]).unwrap_or(i + 1);
        p.swap(i, j);
        p[i + 1..].reverse();
    }
}

fn hamming(a: &Permutation, b: &Permutation) -> u32 {
    a.iter().zip(b).map(|(x, y)| u32::from(x != y)).sum()
}

/// The greedy maximal-mean-Hamming selection of `n` permutations, from the
/// identity. Keeps each candidate's distance sum to the chosen set, so each
/// step is one pass over the candidates.
pub fn max_hamming_set(n: usize) -> Vec<Permutation> {
    let all = all_permutations();
    let mut taken = vec![false; all.len()];
    let mut sum = vec![0u32; all.len()];
    let mut chosen = Vec::with_capacity(n);
    let mut next = 0;
    while chosen.len() < n.min(all.len()) {
        taken[next] = true;
        let p = all[next];
        chosen.push(p);
        let mut best: Option<(u32, usize)> = None;
        for (k, q) in all.iter().enumerate() {
            if taken[k] {
                continue;
            }
            sum[k] += hamming(&p, q);
            if best.is_none_or(|(s, _)| sum[k] > s) {
                best = Some((sum[k], k));
            }
        }
        let Some((_, k)) = best else { break };
        next = k;
    }
    chosen
}

/// The puzzle batch of `batch`: image `i` gets a permutation index drawn
/// uniformly from the set (seeded by `seed`, one draw per image in order),
/// its 3 x 3 cells rearranged by that permutation, and the index as label.
/// Pixels outside the 3 x 3 grid (sides not divisible by 3) are kept.
pub fn puzzle_batch(batch: &Batch, seed: u64) -> Batch {
    let [n, c, h, w] = batch.shape;
    let (th, tw) = (h / 3, w / 3);
    let set = permutation_set();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7A16_5A11);
    let mut images = batch.images.clone();
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = rng.random_range(0..set.len());
        labels.push(label);
        let perm = set[label];
        for ch in 0..c {
            let plane = (i * c + ch) * h * w;
            for (tile, &cell) in perm.iter().enumerate() {
                let (ty, tx) = (tile / 3, tile % 3);
                let (cy, cx) = (usize::from(cell) / 3, usize::from(cell) % 3);
                for y in 0..th {
                    let dst = plane + (ty * th + y) * w + tx * tw;
                    let src = plane + (cy * th + y) * w + cx * tw;
                    images[dst..dst + tw].copy_from_slice(&batch.images[src..src + tw]);
                }
            }
        }
    }
    Batch {
        images,
        labels,
        shape: batch.shape,
        num_classes: set.len(),
        source: format!(
            "{}; jigsaw: 3 x 3 tiles permuted by the maximal-Hamming set of {} (from the identity), \
             permutations drawn with seed {seed}",
            batch.source,
            set.len()
        ),
        targets: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same selection recomputed from scratch at every step (the mean
    /// distance of every candidate to the whole chosen set), as the original
    /// script does with `cdist(...).mean(axis=0).argmax()`.
    fn naive_set(n: usize) -> Vec<Permutation> {
        let all = all_permutations();
        let mut chosen: Vec<Permutation> = vec![all[0]];
        while chosen.len() < n {
            let mut best: Option<(f64, Permutation)> = None;
            for q in &all {
                if chosen.contains(q) {
                    continue;
                }
                let mean = chosen.iter().map(|p| f64::from(hamming(p, q))).sum::<f64>() / chosen.len() as f64;
                if best.is_none_or(|(m, _)| mean > m) {
                    best = Some((mean, *q));
                }
            }
            chosen.push(best.unwrap().1);
        }
        chosen
    }

    #[test]
    fn the_permutations_are_all_of_nine_tiles_in_lexicographic_order() {
        let all = all_permutations();
        assert_eq!(all.len(), 362_880);
        assert_eq!(all[1], [0, 1, 2, 3, 4, 5, 6, 8, 7]);
        assert_eq!(all[all.len() - 1], [8, 7, 6, 5, 4, 3, 2, 1, 0]);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_incremental_selection_is_the_naive_one() {
        let fast = max_hamming_set(12);
        assert_eq!(fast, naive_set(12));
        // By hand: after the identity every permutation without a fixed point is at
        // distance 9, and the first of them in lexicographic order is 1 0 3 2 5 4 7 8 6.
        assert_eq!(fast[1], [1, 0, 3, 2, 5, 4, 7, 8, 6]);
    }

    #[test]
    fn the_set_has_a_thousand_distinct_permutations_far_apart() {
        let set = permutation_set();
        assert_eq!(set.len(), 1000);
        let mut sorted = set.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1000);
        // Two random permutations of nine differ in 8 tiles on average; the greedy
        // maximal set is at least as far apart (8.008 here; the first 1000 in
        // lexicographic order, which share their first tiles, 5.45).
        let (mut total, mut pairs) = (0u64, 0u64);
        for (i, a) in set.iter().enumerate() {
            for b in &set[i + 1..] {
                total += u64::from(hamming(a, b));
                pairs += 1;
            }
        }
        let mean = total as f64 / pairs as f64;
        assert!(mean >= 8.0, "mean Hamming distance {mean}");
    }

    #[test]
    fn a_puzzle_shows_the_cells_its_label_names() {
        // One 3-channel 6 x 6 image per sample whose cell k holds the value k
        // (+ 100 per channel), so every tile says where it came from.
        let (n, c, s) = (5, 3, 6);
        let mut images = vec![0.0; n * c * s * s];
        for i in 0..n {
            for ch in 0..c {
                for y in 0..s {
                    for x in 0..s {
                        images[((i * c + ch) * s + y) * s + x] = ((y / 2) * 3 + x / 2) as f32 + 100.0 * ch as f32;
                    }
                }
            }
        }
        let batch = Batch {
            images,
            labels: vec![0; n],
            shape: [n, c, s, s],
            num_classes: 10,
            source: "cells".into(),
            targets: None,
        };
        let puzzle = puzzle_batch(&batch, 3);
        assert_eq!(puzzle.num_classes, 1000);
        assert!(puzzle.source.starts_with("cells; jigsaw"));
        let set = permutation_set();
        for i in 0..n {
            let perm = set[puzzle.labels[i]];
            for ch in 0..c {
                for (tile, &cell) in perm.iter().enumerate() {
                    let (y, x) = ((tile / 3) * 2 + 1, (tile % 3) * 2);
                    let v = puzzle.images[((i * c + ch) * s + y) * s + x];
                    assert_eq!(v, f32::from(cell) + 100.0 * ch as f32, "sample {i} tile {tile}");
                }
            }
        }
        assert_eq!(puzzle_batch(&batch, 3).labels, puzzle.labels);
        assert_ne!(puzzle_batch(&batch, 4).labels, puzzle.labels);
    }
}
